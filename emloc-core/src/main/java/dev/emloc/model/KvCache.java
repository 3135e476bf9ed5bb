package dev.emloc.model;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Keys and values of every decoder layer, each layer with its <em>own</em> length.
 *
 * <p>A cache may start from a read-only prefix (a task memory: per layer K and V of shape
 * {@code (1, G, n_l, D)}, keys already rotated) that it never copies or closes, and appends the keys and
 * values of later tokens after it into growable buffers of its own. The position offset is where the
 * next token's position ids start: after a task memory it is the memory's offset, so pruned tokens never
 * renumber the tokens that follow.
 *
 * <p>Not thread-safe: one cache belongs to one request.
 */
public final class KvCache implements AutoCloseable {

    private final NDManager manager;
    private final Layer[] layers;
    private int positionOffset;

    private KvCache(NDManager parent, int numLayers, List<NDArray> prefixKeys, List<NDArray> prefixValues,
            int positionOffset) {
        if (numLayers <= 0) {
            throw new IllegalArgumentException("A cache needs at least one layer, got " + numLayers);
        }
        if (positionOffset < 0) {
            throw new IllegalArgumentException("Position offset must be >= 0, got " + positionOffset);
        }
        this.manager = parent.newSubManager();
        this.layers = new Layer[numLayers];
        for (int l = 0; l < numLayers; l++) {
            NDArray k = prefixKeys == null ? null : prefixKeys.get(l);
            NDArray v = prefixValues == null ? null : prefixValues.get(l);
            if (k != null && !k.getShape().equals(v.getShape())) {
                throw new IllegalArgumentException("Layer " + l + " prefix keys " + k.getShape() + " and values "
                        + v.getShape() + " differ in shape");
            }
            if (k != null && (k.getShape().dimension() != 4 || k.getShape().get(0) != 1)) {
                throw new IllegalArgumentException("Layer " + l + " prefix must have shape (1, G, n, D), got " + k.getShape());
            }
            layers[l] = new Layer(k, v);
        }
        this.positionOffset = positionOffset;
    }

    /** An empty cache whose buffers live under a sub-manager of {@code manager} (the model's device). */
    public static KvCache empty(NDManager manager, int numLayers) {
        return new KvCache(manager, numLayers, null, null, 0);
    }

    /**
     * A cache that starts with a read-only prefix. The prefix arrays are neither copied nor closed by the
     * cache, so one task memory can serve many requests at once.
     *
     * @param keys           per layer {@code (1, G, n_l, D)}, rotated keys
     * @param values         per layer {@code (1, G, n_l, D)}
     * @param positionOffset position id of the first token after the prefix
     */
    public static KvCache withPrefix(NDManager manager, List<NDArray> keys, List<NDArray> values, int positionOffset) {
        Objects.requireNonNull(keys, "keys");
        Objects.requireNonNull(values, "values");
        if (keys.size() != values.size()) {
            throw new IllegalArgumentException("Prefix has " + keys.size() + " key layers but " + values.size() + " value layers");
        }
        return new KvCache(manager, keys.size(), keys, values, positionOffset);
    }

    public int numLayers() {
        return layers.length;
    }

    /** Tokens held at {@code layer}: prefix plus appended. */
    public int length(int layer) {
        return layers[layer].prefixLength() + layers[layer].length;
    }

    /** Tokens of the read-only prefix at {@code layer}. */
    public int prefixLength(int layer) {
        return layers[layer].prefixLength();
    }

    /** Position id that the next appended token starts from when none are given explicitly. */
    public int positionOffset() {
        return positionOffset;
    }

    /** Moves the position offset; a forward that appends does this itself (max position + 1). */
    public void setPositionOffset(int positionOffset) {
        if (positionOffset < 0) {
            throw new IllegalArgumentException("Position offset must be >= 0, got " + positionOffset);
        }
        this.positionOffset = positionOffset;
    }

    /**
     * Appends the keys and values of new tokens at one layer.
     *
     * @param keys   {@code (B, G, T, D)}, already rotated
     * @param values {@code (B, G, T, D)}
     */
    public void append(int layer, NDArray keys, NDArray values) {
        layers[layer].append(keys, values);
    }

    /**
     * The key/value segments of one layer in order: the prefix (batch 1) if any, then the appended tokens.
     * Arrays are views valid until the next append; callers must not close them.
     */
    public List<NDArray[]> segments(int layer) {
        return layers[layer].segments();
    }

    /**
     * The keys and values appended after the prefix at one layer, {@code (B, G, n, D)} views valid until the
     * next append; null when nothing was appended. Callers must not close them.
     */
    public NDArray[] appended(int layer) {
        Layer l = layers[layer];
        if (l.length == 0) {
            return null;
        }
        NDIndex used = new NDIndex(":, :, :{}", l.length);
        return new NDArray[] {l.keyBuffer.get(used), l.valueBuffer.get(used)};
    }

    /**
     * A copy of everything layer {@code layer} holds (prefix then appended), owned by {@code owner}:
     * {@code [keys, values]}, each {@code (B, G, n, D)}. Used to turn a cache into a task memory.
     */
    public NDArray[] copyOf(int layer, NDManager owner) {
        List<NDArray[]> parts = segments(layer);
        if (parts.isEmpty()) {
            throw new IllegalStateException("Layer " + layer + " of the cache is empty");
        }
        NDArray[] copy = new NDArray[2];
        for (int i = 0; i < 2; i++) {
            NDArray joined;
            if (parts.size() == 1) {
                joined = parts.get(0)[i].duplicate();
            } else {
                NDList list = new NDList();
                for (NDArray[] part : parts) {
                    list.add(part[i]);
                }
                joined = NDArrays.concat(list, 2);
            }
            joined.attach(owner);
            NDScope.unregister(joined);
            copy[i] = joined;
        }
        return copy;
    }

    @Override
    public void close() {
        manager.close();
    }

    private final class Layer {
        private final NDArray prefixKeys; // (1, G, n, D) or null, not owned
        private final NDArray prefixValues;
        private NDArray keyBuffer; // (B, G, capacity, D), owned
        private NDArray valueBuffer;
        private int length;

        Layer(NDArray prefixKeys, NDArray prefixValues) {
            this.prefixKeys = prefixKeys;
            this.prefixValues = prefixValues;
        }

        int prefixLength() {
            return prefixKeys == null ? 0 : (int) prefixKeys.getShape().get(2);
        }

        void append(NDArray keys, NDArray values) {
            Shape shape = keys.getShape();
            if (shape.dimension() != 4 || !shape.equals(values.getShape())) {
                throw new IllegalArgumentException("Keys " + shape + " and values " + values.getShape()
                        + " must both have shape (B, G, T, D)");
            }
            int added = (int) shape.get(2);
            if (keyBuffer == null) {
                allocate(shape, keys.getDataType(), keys.getDevice(), Math.max(16, added));
            } else if (keyBuffer.getShape().get(0) != shape.get(0) || keyBuffer.getShape().get(1) != shape.get(1)
                    || keyBuffer.getShape().get(3) != shape.get(3)) {
                throw new IllegalArgumentException("Cannot append " + shape + " to a cache of shape " + keyBuffer.getShape());
            } else if (length + added > keyBuffer.getShape().get(2)) {
                grow(Math.max(2 * (int) keyBuffer.getShape().get(2), length + added));
            }
            NDIndex slot = new NDIndex(":, :, {}:{}", length, length + added);
            keyBuffer.set(slot, keys.toType(keyBuffer.getDataType(), false));
            valueBuffer.set(slot, values.toType(valueBuffer.getDataType(), false));
            length += added;
        }

        private void allocate(Shape like, DataType type, Device device, int capacity) {
            Shape shape = new Shape(like.get(0), like.get(1), capacity, like.get(3));
            keyBuffer = manager.zeros(shape, type, device);
            valueBuffer = manager.zeros(shape, type, device);
            // Buffers outlive the caller's NDScope (a forward step); the cache's manager closes them.
            NDScope.unregister(keyBuffer, valueBuffer);
        }

        private void grow(int capacity) {
            NDArray oldKeys = keyBuffer;
            NDArray oldValues = valueBuffer;
            allocate(oldKeys.getShape(), oldKeys.getDataType(), oldKeys.getDevice(), capacity);
            NDIndex used = new NDIndex(":, :, :{}", length);
            keyBuffer.set(used, oldKeys.get(used));
            valueBuffer.set(used, oldValues.get(used));
            oldKeys.close();
            oldValues.close();
        }

        List<NDArray[]> segments() {
            List<NDArray[]> out = new ArrayList<>(2);
            if (prefixKeys != null && prefixLength() > 0) {
                out.add(new NDArray[] {prefixKeys, prefixValues});
            }
            if (length > 0) {
                NDIndex used = new NDIndex(":, :, :{}", length);
                out.add(new NDArray[] {keyBuffer.get(used), valueBuffer.get(used)});
            }
            return out;
        }
    }
}

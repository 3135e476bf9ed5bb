package dev.emloc.model;

import java.util.ArrayList;
import java.util.List;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;

/**
 * Causal grouped-query self-attention with q/k/v biases and rotary positions.
 *
 * <p>The {@code H / G} query heads of one key/value head are laid side by side as extra query rows
 * ({@code (B, G, r*T, D)}), so keys and values are never copied per query head. Scores are computed in
 * blocks of query positions so memory grows with {@code block * keys}, not with {@code T * keys}, and the
 * softmax runs in float32. Keys may come in several segments (a read-only task memory of batch 1, the
 * cache's own buffer, this step's tokens) that are never concatenated.
 */
final class Attention {

    /** Upper bound on the float32 score tensor of one query block; tests lower it to exercise blocking. */
    static volatile long scoreBlockBytes = 64L << 20;
    private static final float MASKED = -1e30f;

    private final NDArray qWeight; // (H*D, hidden)
    private final NDArray qBias;   // (H*D)
    private final NDArray kWeight; // (G*D, hidden)
    private final NDArray kBias;   // (G*D)
    private final NDArray vWeight; // (G*D, hidden)
    private final NDArray vBias;   // (G*D)
    private final NDArray oWeight; // (hidden, H*D)
    private final int numHeads;
    private final int numKvHeads;
    private final int headDim;

    Attention(ModelConfig config, NDArray qWeight, NDArray qBias, NDArray kWeight, NDArray kBias, NDArray vWeight,
            NDArray vBias, NDArray oWeight) {
        this.qWeight = qWeight;
        this.qBias = qBias;
        this.kWeight = kWeight;
        this.kBias = kBias;
        this.vWeight = vWeight;
        this.vBias = vBias;
        this.oWeight = oWeight;
        this.numHeads = config.numHeads();
        this.numKvHeads = config.numKvHeads();
        this.headDim = config.headDim();
    }

    /** What one layer's attention returns: its output and, if probed, attention probabilities. */
    record Output(NDArray output, NDArray probabilities) {
    }

    /**
     * @param x     normalised input {@code (B, T, hidden)}
     * @param cos   rotary table {@code (B, 1, T, D)}
     * @param sin   rotary table {@code (B, 1, T, D)}
     * @param cache keys and values of earlier tokens (may be null)
     * @param append whether this step's keys and values are appended to {@code cache}
     * @param probe attention probe for this layer or null
     * @param visibleBefore {@code (B, S)} int32: the first query position that no longer sees each key, or null
     */
    Output forward(NDArray x, NDArray cos, NDArray sin, KvCache cache, int layer, boolean append, AttentionProbe probe,
            NDArray visibleBefore) {
        long batch = x.getShape().get(0);
        int tokens = (int) x.getShape().get(1);
        int group = numHeads / numKvHeads;
        NDArray q = project(x, qWeight, qBias, numHeads);   // (B, H, T, D)
        NDArray k = project(x, kWeight, kBias, numKvHeads); // (B, G, T, D)
        NDArray v = project(x, vWeight, vBias, numKvHeads); // (B, G, T, D)
        q = RotaryEmbedding.apply(q, cos, sin);
        q = q.mul(OwnedArrays.scalar(q, (float) (1.0 / Math.sqrt(headDim)))); // not mul(float): see OwnedArrays
        k = RotaryEmbedding.apply(k, cos, sin);

        List<NDArray[]> segments;
        if (cache != null && append) {
            cache.append(layer, k, v);
            segments = cache.segments(layer);
        } else {
            segments = new ArrayList<>(cache == null ? List.of() : cache.segments(layer));
            segments.add(new NDArray[] {k, v});
        }
        int totalKeys = 0;
        for (NDArray[] segment : segments) {
            totalKeys += (int) segment[0].getShape().get(2);
        }
        int past = totalKeys - tokens;
        if (visibleBefore != null && visibleBefore.getShape().get(1) != totalKeys) {
            throw new IllegalArgumentException("Key visibility covers " + visibleBefore.getShape().get(1) + " keys but layer "
                    + layer + " attends to " + totalKeys);
        }

        NDArray grouped = q.reshape(batch, numKvHeads, group, tokens, headDim); // (B, G, r, T, D)
        long rowBytes = 4L * batch * numHeads * totalKeys;
        int block = (int) Math.max(1, Math.min(tokens, scoreBlockBytes / Math.max(1, rowBytes)));
        NDList blocks = new NDList();
        for (int t0 = 0; t0 < tokens; t0 += block) {
            int t1 = Math.min(tokens, t0 + block);
            NDArray attendedBlock;
            // Each block's scores are freed before the next block: without this a long prompt would keep every
            // block's (B, H, tb, S) float32 scores alive until the layer ends.
            try (NDScope blockScope = new NDScope()) {
                blockScope.suppressNotUsedWarning();
                NDArray qBlock = grouped.get(new NDIndex(":, :, :, {}:{}", t0, t1));
                NDArray probs = probabilities(qBlock, segments, past + t0, totalKeys, visibleBefore, x.getDataType());
                attendedBlock = weightedValues(probs, segments).reshape(batch, numKvHeads, group, t1 - t0, headDim);
                NDScope.unregister(attendedBlock);
            }
            NDScope.register(attendedBlock); // owned by the enclosing (layer) scope again
            blocks.add(attendedBlock);
        }
        NDArray attended = blocks.size() == 1 ? blocks.singletonOrThrow() : NDArrays.concat(blocks, 3); // (B, G, r, T, D)
        NDArray merged = attended.reshape(batch, numHeads, tokens, headDim).transpose(0, 2, 1, 3)
                .reshape(batch, tokens, (long) numHeads * headDim);
        NDArray output = Linear.linear(merged, oWeight).singletonOrThrow(); // (B, T, hidden)

        NDArray probed = null;
        if (probe != null && probe.covers(layer)) {
            probed = probe(grouped, segments, probe, cache == null ? 0 : cache.prefixLength(layer), past, tokens, totalKeys,
                    visibleBefore);
        }
        return new Output(output, probed);
    }

    /** {@code x W^T + b}, split into heads: {@code (B, heads, T, D)}. */
    private NDArray project(NDArray x, NDArray weight, NDArray bias, int heads) {
        Shape shape = x.getShape();
        return Linear.linear(x, weight, bias).singletonOrThrow()
                .reshape(shape.get(0), shape.get(1), heads, headDim)
                .transpose(0, 2, 1, 3);
    }

    /**
     * Softmax of one query block over every key segment.
     *
     * @param qBlock     {@code (B, G, r, tb, D)}, already scaled
     * @param firstQuery absolute key index that the block's first query may still see
     * @param visibleBefore {@code (B, S)} int32 or null (see {@code ForwardRequest.Builder#keyVisibleBefore})
     * @return {@code (B, G, r*tb, S)} in {@code dtype}
     */
    private NDArray probabilities(NDArray qBlock, List<NDArray[]> segments, int firstQuery, int totalKeys,
            NDArray visibleBefore, DataType dtype) {
        Shape shape = qBlock.getShape();
        long batch = shape.get(0);
        long group = shape.get(2);
        long rows = shape.get(3);
        NDArray queries = qBlock.reshape(batch, numKvHeads, group * rows, headDim);
        NDArray scores = scores(queries, segments, group, rows, totalKeys);
        boolean futureKeys = firstQuery < totalKeys - 1; // some key lies after the first query
        if (futureKeys || visibleBefore != null) {
            NDArray positions = queries.getManager().arange(firstQuery, firstQuery + (int) rows, 1, DataType.INT32,
                    queries.getDevice());
            if (futureKeys) {
                scores = scores.add(futureMask(positions, totalKeys));
            }
            if (visibleBefore != null) {
                scores = scores.add(hiddenMask(positions, visibleBefore));
            }
        }
        return scores.softmax(-1).toType(dtype, false).reshape(batch, numKvHeads, group * rows, totalKeys);
    }

    /**
     * Float32 scores of stacked queries against every key segment.
     *
     * @param queries {@code (B, G, r*rows, D)}, already scaled
     * @return {@code (B, G, r, rows, S)}
     */
    private NDArray scores(NDArray queries, List<NDArray[]> segments, long group, long rows, int totalKeys) {
        NDList parts = new NDList();
        for (NDArray[] segment : segments) {
            parts.add(batchedMatMul(queries, segment[0].transpose(0, 1, 3, 2)));
        }
        return (parts.size() == 1 ? parts.singletonOrThrow() : NDArrays.concat(parts, -1))
                .toType(DataType.FLOAT32, false)
                .reshape(queries.getShape().get(0), numKvHeads, group, rows, totalKeys);
    }

    /** {@code probs @ V} summed over segments: {@code (B, G, rows, D)}. */
    private NDArray weightedValues(NDArray probs, List<NDArray[]> segments) {
        NDArray out = null;
        int from = 0;
        for (NDArray[] segment : segments) {
            int length = (int) segment[1].getShape().get(2);
            NDArray part = segments.size() == 1 ? probs : probs.get(new NDIndex("..., {}:{}", from, from + length));
            NDArray product = batchedMatMul(part, segment[1]);
            out = out == null ? product : out.add(product);
            from += length;
        }
        return out;
    }

    /**
     * {@code a @ b} over leading axes {@code (B, G)}; when {@code b} has batch 1 (a shared task memory) and
     * {@code a} has more, the batch is folded into rows so {@code b} is neither copied nor broadcast.
     *
     * @param a {@code (B, G, M, K)}
     * @param b {@code (B or 1, G, K, N)}
     */
    private static NDArray batchedMatMul(NDArray a, NDArray b) {
        long batch = a.getShape().get(0);
        if (batch == 1 || b.getShape().get(0) == batch) {
            return a.matMul(b);
        }
        Shape as = a.getShape();
        NDArray folded = a.transpose(1, 0, 2, 3).reshape(1, as.get(1), batch * as.get(2), as.get(3));
        NDArray product = folded.matMul(b); // (1, G, B*M, N)
        long n = product.getShape().get(3);
        return product.reshape(as.get(1), batch, as.get(2), n).transpose(1, 0, 2, 3);
    }

    /**
     * Additive mask {@code (rows, S)}: 0 where key {@code j <= position of row i}, a huge negative elsewhere.
     *
     * @param queryPositions absolute key index of each query row, {@code (rows)} int32
     */
    private static NDArray futureMask(NDArray queryPositions, int totalKeys) {
        long rows = queryPositions.getShape().get(0);
        NDArray keys = queryPositions.getManager().arange(0, totalKeys, 1, DataType.INT32, queryPositions.getDevice())
                .reshape(1, totalKeys);
        return keys.gt(queryPositions.reshape(rows, 1)).toType(DataType.FLOAT32, false).mul(MASKED);
    }

    /**
     * Additive mask {@code (B, 1, 1, rows, S)}: a huge negative where a row's position has reached the key's
     * {@code visibleBefore}, 0 elsewhere.
     */
    private static NDArray hiddenMask(NDArray queryPositions, NDArray visibleBefore) {
        long rows = queryPositions.getShape().get(0);
        long batch = visibleBefore.getShape().get(0);
        long keys = visibleBefore.getShape().get(1);
        return queryPositions.reshape(1, rows, 1).gte(visibleBefore.reshape(batch, 1, keys))
                .toType(DataType.FLOAT32, false).mul(MASKED).reshape(batch, 1, 1, rows, keys);
    }

    /** Attention probabilities of the probe's rows onto its key range: {@code (B, H, rows, keys)} float32. */
    private NDArray probe(NDArray grouped, List<NDArray[]> segments, AttentionProbe probe, int prefixLength, int past,
            int tokens, int totalKeys, NDArray visibleBefore) {
        long batch = grouped.getShape().get(0);
        int group = numHeads / numKvHeads;
        int[] rows = probe.queryRows();
        for (int row : rows) {
            if (row >= tokens) {
                throw new IllegalArgumentException("Probe row " + row + " is outside the " + tokens + " tokens of this forward");
            }
        }
        int[] range = probe.keys().resolve(prefixLength, tokens, totalKeys);
        NDManager manager = grouped.getManager();
        NDArray index = manager.create(rows).toType(DataType.INT64, false).toDevice(grouped.getDevice(), false);
        NDArray selected = grouped.get(new NDIndex(":, :, :, {}", index)); // (B, G, r, n, D)
        NDArray queries = selected.reshape(batch, numKvHeads, (long) group * rows.length, headDim);
        NDArray scores = scores(queries, segments, group, rows.length, totalKeys);
        NDArray positions = index.toType(DataType.INT32, false).add(past);
        NDArray masked = scores.add(futureMask(positions, totalKeys));
        if (visibleBefore != null) {
            masked = masked.add(hiddenMask(positions, visibleBefore));
        }
        NDArray probs = masked.softmax(-1);
        return probs.get(new NDIndex("..., {}:{}", range[0], range[1]))
                .reshape(batch, numHeads, rows.length, range[1] - range[0]);
    }
}

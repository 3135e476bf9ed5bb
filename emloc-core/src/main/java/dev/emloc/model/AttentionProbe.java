package dev.emloc.model;

import java.util.Arrays;
import java.util.BitSet;

/**
 * Asks a forward pass for attention probabilities: for the chosen query rows (indices into this
 * forward's T tokens, the same for every batch row) and the chosen keys, at the chosen layers.
 * Probabilities are the full softmax over every key the row attends to, in float32, shape
 * {@code (B, H, rows, keys)}; a caller that wants a softmax over a subset renormalises by its sum.
 */
public final class AttentionProbe {

    private final int[] queryRows;
    private final KeyRange keys;
    private final BitSet layers; // null = every layer

    private AttentionProbe(int[] queryRows, KeyRange keys, BitSet layers) {
        this.queryRows = queryRows;
        this.keys = keys;
        this.layers = layers;
    }

    /** Probes {@code queryRows} onto {@code keys} at every layer (narrow with {@link #onlyLayers}). */
    public static AttentionProbe of(int[] queryRows, KeyRange keys) {
        if (queryRows == null || queryRows.length == 0) {
            throw new IllegalArgumentException("An attention probe needs at least one query row");
        }
        for (int row : queryRows) {
            if (row < 0) {
                throw new IllegalArgumentException("Query rows must be >= 0, got " + row);
            }
        }
        return new AttentionProbe(queryRows.clone(), keys, null);
    }

    /** The same probe restricted to the given layers. */
    public AttentionProbe onlyLayers(int... layerIndices) {
        BitSet set = new BitSet();
        for (int l : layerIndices) {
            set.set(l);
        }
        return new AttentionProbe(queryRows, keys, set);
    }

    int[] queryRows() {
        return queryRows;
    }

    KeyRange keys() {
        return keys;
    }

    boolean covers(int layer) {
        return layers == null || layers.get(layer);
    }

    @Override
    public String toString() {
        return "AttentionProbe[rows=" + Arrays.toString(queryRows) + ", layers=" + (layers == null ? "all" : layers) + "]";
    }
}

package dev.emloc.model;

/**
 * Which key positions of a layer an {@link AttentionProbe} reports, resolved per layer because every
 * layer of a {@link KvCache} may hold a different number of tokens.
 *
 * <p>A layer's keys are ordered {@code [cache prefix ; cache appended ; this forward's tokens]} (when a
 * forward appends to the cache, its tokens are the tail of "appended").
 */
@FunctionalInterface
public interface KeyRange {

    /**
     * @param prefixLength tokens of the cache's read-only prefix at this layer
     * @param newTokens    tokens of this forward (T)
     * @param totalLength  all keys the layer attends to
     * @return {@code [from, to)} with {@code 0 <= from <= to <= totalLength}
     */
    int[] resolve(int prefixLength, int newTokens, int totalLength);

    /** Every key. */
    static KeyRange all() {
        return (prefix, fresh, total) -> new int[] {0, total};
    }

    /** Every key after the read-only prefix (e.g. a chunk appended after a task memory, and the new tokens). */
    static KeyRange afterPrefix() {
        return (prefix, fresh, total) -> new int[] {prefix, total};
    }

    /** Only the keys of this forward's own tokens. */
    static KeyRange newTokens() {
        return (prefix, fresh, total) -> new int[] {total - fresh, total};
    }

    /** A fixed range {@code [from, to)}. */
    static KeyRange of(int from, int to) {
        if (from < 0 || to < from) {
            throw new IllegalArgumentException("Key range [" + from + ", " + to + ") is empty or negative");
        }
        return (prefix, fresh, total) -> {
            if (to > total) {
                throw new IllegalArgumentException("Key range [" + from + ", " + to + ") exceeds the " + total + " keys of the layer");
            }
            return new int[] {from, to};
        };
    }
}

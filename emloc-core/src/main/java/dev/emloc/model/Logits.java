package dev.emloc.model;

/** Which positions of a forward get logits (float32, {@code (B, rows, V)}); the LM head is the costliest matmul. */
public final class Logits {

    private static final Logits NONE = new Logits(null, false);
    private static final Logits LAST = new Logits(null, true);
    private static final Logits ALL = new Logits(new int[0], false);

    private final int[] rows; // empty = all rows
    private final boolean last;
    private final int[] batchIndex; // with rows: one (batch row, position) pair per logits row

    private Logits(int[] rows, boolean last) {
        this(rows, last, null);
    }

    private Logits(int[] rows, boolean last, int[] batchIndex) {
        this.rows = rows;
        this.last = last;
        this.batchIndex = batchIndex;
    }

    /**
     * Logits at chosen (batch row, position) pairs only, as {@code (1, pairs, V)}: e.g. the answer tokens of a
     * padded batch whose rows have their answers at different positions.
     */
    public static Logits pairs(int[] batchRows, int[] positions) {
        if (batchRows.length != positions.length || batchRows.length == 0) {
            throw new IllegalArgumentException("Logits.pairs needs as many batch rows as positions, at least one; got "
                    + batchRows.length + " and " + positions.length);
        }
        return new Logits(positions.clone(), false, batchRows.clone());
    }

    /** The batch row of every pair, or null when the same rows are taken from every batch row. */
    int[] batchIndex() {
        return batchIndex;
    }

    /** No logits (e.g. building a cache). */
    public static Logits none() {
        return NONE;
    }

    /** Only the last position, for generation. */
    public static Logits last() {
        return LAST;
    }

    /** Every position. */
    public static Logits all() {
        return ALL;
    }

    /** The given positions (indices into T) in this order. */
    public static Logits at(int... rows) {
        if (rows.length == 0) {
            throw new IllegalArgumentException("Logits.at needs at least one row; use Logits.none() for none");
        }
        return new Logits(rows.clone(), false);
    }

    boolean isNone() {
        return this == NONE;
    }

    /** The rows to compute for a forward of {@code t} tokens, or null for all. */
    int[] rowsFor(int t) {
        if (last) {
            return new int[] {t - 1};
        }
        if (rows.length == 0) {
            return null;
        }
        for (int row : rows) {
            if (row < 0 || row >= t) {
                throw new IllegalArgumentException("Logits row " + row + " is outside the " + t + " tokens of this forward");
            }
        }
        return rows;
    }
}

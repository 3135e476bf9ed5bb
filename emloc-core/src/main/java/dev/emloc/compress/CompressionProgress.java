package dev.emloc.compress;

/**
 * A step of a compression, for progress bars.
 *
 * @param phase          what just happened
 * @param chunk          0-based chunk index
 * @param chunks         chunks in this run
 * @param layer          the layer just decided ({@link Phase#LAYER_DONE}), else -1
 * @param layers         layers of the model
 * @param fraction       the fraction kept at that layer, else NaN
 * @param js             the divergence of that choice, else NaN
 * @param demonstrations demonstrations fully compressed so far in this run
 */
public record CompressionProgress(Phase phase, int chunk, int chunks, int layer, int layers, double fraction, double js,
        int demonstrations) {

    /** Kinds of progress event. */
    public enum Phase { CHUNK_STARTED, LAYER_DONE, CHUNK_DONE }

    /** Fraction of the whole run done, in [0, 1]. */
    public double completion() {
        if (chunks == 0) {
            return 1;
        }
        double withinChunk = switch (phase) {
            case CHUNK_STARTED -> 0;
            case LAYER_DONE -> (layers - layer) / (double) (layers + 1);
            case CHUNK_DONE -> 1;
        };
        return (chunk + withinChunk) / chunks;
    }
}

package dev.emloc.spring.ai;

import dev.emloc.compress.CompressionProgress;

/**
 * A step of teaching a task, for progress bars: {@link TaskAdapters#teachAsync} reports {@link Phase#STARTED} when a
 * worker takes the job, the compressor's chunk and layer events, then {@link Phase#DONE}.
 *
 * @param taskId         the task being taught
 * @param phase          what just happened
 * @param chunk          0-based index of the chunk being compressed ("chunk {@code chunk + 1} of {@code chunks}"); -1
 *                       before the first and after the last
 * @param chunks         chunks of demonstrations in this run (0 when nothing needs compressing)
 * @param layer          the layer just decided ({@link Phase#LAYER_DONE}), else -1
 * @param layers         layers of the model
 * @param keptFraction   the fraction of the chunk kept at that layer ({@link Phase#LAYER_DONE}), else NaN
 * @param completion     fraction of the run done, in [0, 1]
 * @param demonstrations demonstrations compressed so far in this run
 */
public record TeachProgress(String taskId, Phase phase, int chunk, int chunks, int layer, int layers, double keptFraction,
        double completion, int demonstrations) {

    /** Kinds of progress event, in the order they come. */
    public enum Phase {
        /** A worker started the job. */
        STARTED,
        /** Compression of a chunk began. */
        CHUNK_STARTED,
        /** A layer of the chunk was pruned. */
        LAYER_DONE,
        /** A chunk was compressed. */
        CHUNK_DONE,
        /** The memory is stored (or was already up to date); the future completes next. */
        DONE
    }

    static TeachProgress started(String taskId, int layers) {
        return new TeachProgress(taskId, Phase.STARTED, -1, 0, -1, layers, Double.NaN, 0, 0);
    }

    static TeachProgress done(String taskId, int layers, int demonstrations) {
        return new TeachProgress(taskId, Phase.DONE, -1, 0, -1, layers, Double.NaN, 1, demonstrations);
    }

    static TeachProgress of(String taskId, CompressionProgress p) {
        Phase phase = switch (p.phase()) {
            case CHUNK_STARTED -> Phase.CHUNK_STARTED;
            case LAYER_DONE -> Phase.LAYER_DONE;
            case CHUNK_DONE -> Phase.CHUNK_DONE;
        };
        return new TeachProgress(taskId, phase, p.chunk(), p.chunks(), p.layer(), p.layers(), p.fraction(), p.completion(),
                p.demonstrations());
    }
}

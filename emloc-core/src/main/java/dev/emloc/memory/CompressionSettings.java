package dev.emloc.memory;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * How a task memory is built (see docs/algorithm.md).
 *
 * @param demosPerChunk       whole demonstrations per chunk (reference: 4, 20 for ImageNet)
 * @param retentionCandidates fractions of a chunk's tokens to try keeping at a layer, tried smallest first;
 *                            each in (0, 1]
 * @param jsThreshold         largest allowed Jensen-Shannon divergence (nats) between teacher and pruned
 *                            predictions on the answer tokens; {@code +Infinity} accepts the smallest fraction
 * @param poolKernel          width of the average pooling over importance scores (odd, stride 1, same padding)
 * @param strategy            EMLoC or a baseline
 * @param fixedRatio          the fraction kept at every layer by {@link Strategy#FIXED_RATIO} and
 *                            {@link Strategy#RANDOM}; ignored otherwise
 * @param seed                seed of {@link Strategy#RANDOM}
 */
public record CompressionSettings(int demosPerChunk, List<Double> retentionCandidates, double jsThreshold, int poolKernel,
        Strategy strategy, double fixedRatio, long seed) {

    public CompressionSettings {
        Objects.requireNonNull(strategy, "strategy");
        if (demosPerChunk < 1) {
            throw new IllegalArgumentException("demosPerChunk must be at least 1, got " + demosPerChunk);
        }
        Objects.requireNonNull(retentionCandidates, "retentionCandidates");
        if (retentionCandidates.isEmpty()) {
            throw new IllegalArgumentException("retentionCandidates must hold at least one fraction in (0, 1]");
        }
        List<Double> sorted = new ArrayList<>(retentionCandidates);
        for (Double candidate : sorted) {
            if (candidate == null || !(candidate > 0 && candidate <= 1)) {
                throw new IllegalArgumentException("Retention candidate " + candidate + " is outside (0, 1]; use fractions"
                        + " such as 0.1, 0.2, 0.5");
            }
        }
        sorted.sort(Double::compare);
        retentionCandidates = List.copyOf(sorted);
        if (Double.isNaN(jsThreshold) || jsThreshold < 0) {
            throw new IllegalArgumentException("jsThreshold must be >= 0 (or +Infinity), got " + jsThreshold);
        }
        if (poolKernel < 1 || poolKernel % 2 == 0) {
            throw new IllegalArgumentException("poolKernel must be a positive odd width, got " + poolKernel);
        }
        if ((strategy == Strategy.FIXED_RATIO || strategy == Strategy.RANDOM) && !(fixedRatio > 0 && fixedRatio <= 1)) {
            throw new IllegalArgumentException(strategy + " needs a fixedRatio in (0, 1], got " + fixedRatio);
        }
    }

    /** The reference settings: 4 demonstrations per chunk, candidates 0.1 / 0.2 / 0.5, delta 0.005, pooling 5. */
    public static CompressionSettings defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder mutate() {
        return new Builder().demosPerChunk(demosPerChunk).retentionCandidates(retentionCandidates).jsThreshold(jsThreshold)
                .poolKernel(poolKernel).strategy(strategy).fixedRatio(fixedRatio).seed(seed);
    }

    public static final class Builder {
        private int demosPerChunk = 4;
        private List<Double> retentionCandidates = List.of(0.1, 0.2, 0.5);
        private double jsThreshold = 0.005;
        private int poolKernel = 5;
        private Strategy strategy = Strategy.EMLOC;
        private double fixedRatio = 0.2;
        private long seed = 42;

        public Builder demosPerChunk(int v) { demosPerChunk = v; return this; }
        public Builder retentionCandidates(List<Double> v) { retentionCandidates = v; return this; }
        public Builder jsThreshold(double v) { jsThreshold = v; return this; }
        public Builder poolKernel(int v) { poolKernel = v; return this; }
        public Builder strategy(Strategy v) { strategy = v; return this; }
        public Builder fixedRatio(double v) { fixedRatio = v; return this; }
        public Builder seed(long v) { seed = v; return this; }

        /** A fixed-fraction baseline ({@link Strategy#FIXED_RATIO} or {@link Strategy#RANDOM}) at {@code ratio}. */
        public Builder fixedRatio(Strategy baseline, double ratio) { strategy = baseline; fixedRatio = ratio; return this; }

        public CompressionSettings build() {
            return new CompressionSettings(demosPerChunk, retentionCandidates, jsThreshold, poolKernel, strategy, fixedRatio, seed);
        }
    }
}

package dev.emloc.generate;

import java.util.List;
import java.util.Set;

/**
 * How tokens are chosen and when generation stops.
 *
 * @param temperature   0 for greedy decoding, otherwise the softmax temperature
 * @param topP          nucleus mass in (0, 1]; 1 disables it
 * @param topK          keep only the k most likely tokens; 0 disables it
 * @param seed          seed of the sampler; null draws one at random (not reproducible)
 * @param maxNewTokens  upper bound on generated tokens
 * @param stopTokenIds  tokens that end generation and are not part of the output (e.g. {@code <|im_end|>})
 * @param stopStrings   texts that end generation; the output is cut before them
 */
public record GenerationSettings(double temperature, double topP, int topK, Long seed, int maxNewTokens,
        Set<Long> stopTokenIds, List<String> stopStrings) {

    public GenerationSettings {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a finite number >= 0 (0 = greedy), got " + temperature);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("topP must be in (0, 1], got " + topP);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("topK must be >= 0 (0 = off), got " + topK);
        }
        if (maxNewTokens <= 0) {
            throw new IllegalArgumentException("maxNewTokens must be positive, got " + maxNewTokens);
        }
        stopTokenIds = Set.copyOf(stopTokenIds);
        stopStrings = List.copyOf(stopStrings);
        for (String stop : stopStrings) {
            if (stop.isEmpty()) {
                throw new IllegalArgumentException("Stop strings must not be empty");
            }
        }
    }

    /** Greedy decoding of up to 256 tokens, no stops: add them with the builder. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder pre-filled with these settings. */
    public Builder mutate() {
        return new Builder().temperature(temperature).topP(topP).topK(topK).seed(seed).maxNewTokens(maxNewTokens)
                .stopTokenIds(stopTokenIds).stopStrings(stopStrings);
    }

    /** Whether tokens are picked by argmax. */
    public boolean greedy() {
        return temperature == 0 || topK == 1;
    }

    public static final class Builder {
        private double temperature;
        private double topP = 1.0;
        private int topK;
        private Long seed;
        private int maxNewTokens = 256;
        private Set<Long> stopTokenIds = Set.of();
        private List<String> stopStrings = List.of();

        public Builder temperature(double v) { temperature = v; return this; }
        public Builder topP(double v) { topP = v; return this; }
        public Builder topK(int v) { topK = v; return this; }
        public Builder seed(Long v) { seed = v; return this; }
        public Builder maxNewTokens(int v) { maxNewTokens = v; return this; }
        public Builder stopTokenIds(Set<Long> v) { stopTokenIds = v; return this; }
        public Builder stopStrings(List<String> v) { stopStrings = v; return this; }

        public GenerationSettings build() {
            return new GenerationSettings(temperature, topP, topK, seed, maxNewTokens, stopTokenIds, stopStrings);
        }
    }
}

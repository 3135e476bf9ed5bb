package dev.emloc.generate;

import java.util.Objects;
import java.util.function.BooleanSupplier;

import ai.djl.ndarray.NDArray;
import dev.emloc.model.KvCache;

/**
 * What to generate from: prompt ids, optionally after the contents of a cache the caller owns (e.g. one
 * started from a task memory), with a listener for streaming and a cancellation check.
 */
public final class GenerationRequest {

    private final long[] promptIds;
    private final KvCache cache;
    private final GenerationSettings settings;
    private final TokenListener listener;
    private final BooleanSupplier cancelled;
    private final NDArray promptEmbeddings;
    private final NDArray promptPositions;

    private GenerationRequest(Builder b) {
        this.promptEmbeddings = b.promptEmbeddings;
        this.promptPositions = b.promptPositions;
        this.promptIds = b.promptIds;
        this.cache = b.cache;
        this.settings = b.settings;
        this.listener = b.listener;
        this.cancelled = b.cancelled;
    }

    /** A request over {@code promptIds} (at least one id). */
    public static Builder builder(long[] promptIds, GenerationSettings settings) {
        Objects.requireNonNull(promptIds, "promptIds");
        if (promptIds.length == 0) {
            throw new IllegalArgumentException("A prompt needs at least one token");
        }
        return new Builder(promptIds.clone(), Objects.requireNonNull(settings, "settings"));
    }

    long[] promptIds() { return promptIds; }
    KvCache cache() { return cache; }
    GenerationSettings settings() { return settings; }
    TokenListener listener() { return listener; }
    BooleanSupplier cancelled() { return cancelled; }
    NDArray promptEmbeddings() { return promptEmbeddings; }
    NDArray promptPositions() { return promptPositions; }

    public static final class Builder {
        private final long[] promptIds;
        private final GenerationSettings settings;
        private KvCache cache;
        private TokenListener listener = (id, text) -> { };
        private BooleanSupplier cancelled = () -> false;
        private NDArray promptEmbeddings;
        private NDArray promptPositions;

        private Builder(long[] promptIds, GenerationSettings settings) {
            this.promptIds = promptIds;
            this.settings = settings;
        }

        /** Continue after this cache's contents (it is appended to; the caller closes it). */
        public Builder cache(KvCache cache) { this.cache = cache; return this; }

        public Builder listener(TokenListener listener) { this.listener = Objects.requireNonNull(listener); return this; }

        /** Checked before every token; when it answers true generation ends with {@link FinishReason#CANCELLED}. */
        public Builder cancelled(BooleanSupplier cancelled) { this.cancelled = Objects.requireNonNull(cancelled); return this; }

        /**
         * Prefill from these embeddings {@code (1, T, hidden)} and position ids {@code (3, 1, T)} instead of
         * embedding the prompt ids: a prompt with images, whose pad tokens were replaced by vision embeddings.
         * The prompt ids must still be given (same T); later tokens continue from the largest position + 1.
         */
        public Builder multimodalPrompt(NDArray embeddings, NDArray positionIds) {
            this.promptEmbeddings = Objects.requireNonNull(embeddings, "embeddings");
            this.promptPositions = Objects.requireNonNull(positionIds, "positionIds");
            return this;
        }

        public GenerationRequest build() {
            if (promptEmbeddings != null) {
                long t = promptEmbeddings.getShape().get(1);
                if (t != promptIds.length || promptPositions.getShape().get(2) != t) {
                    throw new IllegalArgumentException("Prompt embeddings " + promptEmbeddings.getShape() + " and positions "
                            + promptPositions.getShape() + " must cover the " + promptIds.length + " prompt ids");
                }
            }
            return new GenerationRequest(this);
        }
    }
}

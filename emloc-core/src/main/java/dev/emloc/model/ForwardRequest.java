package dev.emloc.model;

import java.util.Objects;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * One forward pass, serving both generation and the EMLoC compressor.
 *
 * <p>Input is token ids {@code (B, T)}, or embeddings {@code (B, T, hidden)} (images spliced in), or
 * the hidden state entering layer {@code startLayer} (to re-run only the top layers). Position ids are
 * given explicitly as {@code (3, B, T)} or continue from the cache's offset. Batches are right-padded:
 * causal masking keeps real tokens from seeing the padding after them.
 */
public final class ForwardRequest {

    private final NDArray inputIds;
    private final NDArray inputEmbeddings;
    private final NDArray startHiddenStates;
    private final int startLayer;
    private final NDArray positionIds;
    private final KvCache cache;
    private final boolean appendToCache;
    private final boolean recordHiddenStates;
    private final AttentionProbe probe;
    private final Logits logits;
    private final boolean training;
    private final NDArray keyVisibleBefore;
    private final NDManager outputManager;

    private ForwardRequest(Builder b) {
        this.inputIds = b.inputIds;
        this.inputEmbeddings = b.inputEmbeddings;
        this.startHiddenStates = b.startHiddenStates;
        this.startLayer = b.startLayer;
        this.positionIds = b.positionIds;
        this.cache = b.cache;
        this.appendToCache = b.appendToCache;
        this.recordHiddenStates = b.recordHiddenStates;
        this.probe = b.probe;
        this.logits = b.logits;
        this.training = b.training;
        this.keyVisibleBefore = b.keyVisibleBefore;
        this.outputManager = b.outputManager;
    }

    /** Starts a request over token ids {@code (B, T)} (int64 or int32). */
    public static Builder tokens(NDArray inputIds) {
        Builder b = new Builder();
        b.inputIds = Objects.requireNonNull(inputIds, "inputIds");
        return b;
    }

    /** Starts a request over input embeddings {@code (B, T, hidden)} (text and vision tokens merged). */
    public static Builder embeddings(NDArray inputEmbeddings) {
        Builder b = new Builder();
        b.inputEmbeddings = Objects.requireNonNull(inputEmbeddings, "inputEmbeddings");
        return b;
    }

    /**
     * Starts a request at layer {@code layer} from the hidden state entering it ({@code (B, T, hidden)},
     * as recorded by an earlier forward), running layers {@code layer..L-1} with the cache's current
     * contents for those layers. Position ids must match the recorded forward's.
     */
    public static Builder fromLayer(int layer, NDArray hiddenStates) {
        Builder b = new Builder();
        b.startLayer = layer;
        b.startHiddenStates = Objects.requireNonNull(hiddenStates, "hiddenStates");
        return b;
    }

    NDArray inputIds() { return inputIds; }
    NDArray inputEmbeddings() { return inputEmbeddings; }
    NDArray startHiddenStates() { return startHiddenStates; }
    int startLayer() { return startLayer; }
    NDArray positionIds() { return positionIds; }
    KvCache cache() { return cache; }
    boolean appendToCache() { return appendToCache; }
    boolean recordHiddenStates() { return recordHiddenStates; }
    AttentionProbe probe() { return probe; }
    Logits logits() { return logits; }
    boolean training() { return training; }
    NDArray keyVisibleBefore() { return keyVisibleBefore; }

    /** The manager that owns the result arrays: the one given, else the input's. */
    NDManager outputManager() {
        if (outputManager != null) {
            return outputManager;
        }
        NDArray input = inputIds != null ? inputIds : inputEmbeddings != null ? inputEmbeddings : startHiddenStates;
        return input.getManager();
    }

    /** Builder; every option has a default suited to generation. */
    public static final class Builder {
        private NDArray inputIds;
        private NDArray inputEmbeddings;
        private NDArray startHiddenStates;
        private int startLayer;
        private NDArray positionIds;
        private KvCache cache;
        private boolean appendToCache = true;
        private boolean recordHiddenStates;
        private AttentionProbe probe;
        private Logits logits = Logits.last();
        private boolean training;
        private NDArray keyVisibleBefore;
        private NDManager outputManager;

        private Builder() {
        }

        /** Explicit position ids {@code (3, B, T)}; default: {@code cache.positionOffset() + 0..T-1} for every component. */
        public Builder positionIds(NDArray positionIds) {
            this.positionIds = positionIds;
            return this;
        }

        /** Keys and values of earlier tokens; this forward's are appended unless {@link #readOnlyCache()}. */
        public Builder cache(KvCache cache) {
            this.cache = cache;
            return this;
        }

        /** Attend to the cache but leave it unchanged (teacher passes, candidate evaluation). */
        public Builder readOnlyCache() {
            this.appendToCache = false;
            return this;
        }

        /** Return the hidden state entering every layer that runs. */
        public Builder recordHiddenStates() {
            this.recordHiddenStates = true;
            return this;
        }

        /** Return attention probabilities as described by the probe. */
        public Builder probe(AttentionProbe probe) {
            this.probe = probe;
            return this;
        }

        /** Which positions get logits; default {@link Logits#last()}. */
        public Builder logits(Logits logits) {
            this.logits = Objects.requireNonNull(logits, "logits");
            return this;
        }

        /**
         * Keep autograd on: the forward runs inside a {@code GradientCollector} with trainable weights.
         * By default grad mode is switched off on the calling thread.
         */
        public Builder training() {
            this.training = true;
            return this;
        }

        /**
         * Hides keys from later queries, layer by layer, as a pruned task memory would: {@code (L, B, S)} int32 or
         * int64, where {@code S} is the number of keys this forward attends to (cache and own tokens). Key {@code j}
         * of layer {@code l} in row {@code b} is seen only by queries at key positions below
         * {@code visibleBefore[l, b, j]} (and, as always, at or after {@code j}); a value of {@code S} or more hides
         * nothing. Used to train a model on the incomplete contexts that compression leaves (a chunk sees the whole
         * of itself but only the kept tokens of earlier chunks). Default: none.
         */
        public Builder keyVisibleBefore(NDArray visibleBefore) {
            this.keyVisibleBefore = visibleBefore;
            return this;
        }

        /** Manager that owns the results (default: the input array's manager). */
        public Builder outputManager(NDManager manager) {
            this.outputManager = manager;
            return this;
        }

        public ForwardRequest build() {
            return new ForwardRequest(this);
        }
    }
}

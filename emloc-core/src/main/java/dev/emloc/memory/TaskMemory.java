package dev.emloc.memory;

import java.util.List;
import java.util.Objects;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.emloc.model.KvCache;

/**
 * A task memory: few-shot demonstrations compressed into a per-layer KV cache that later queries of the
 * task use as a prefix.
 *
 * <p>Per layer {@code l} it holds keys and values of shape {@code (1, G, n_l, D)}, layers of different
 * lengths; keys are stored after rotary embedding, so every kept token keeps its original position, and
 * a query continues at {@link #positionOffset()}. The memory also records which model built it (its
 * fingerprint), how, from which demonstrations (a digest) and what was kept ({@link CompressionReport}).
 *
 * <p>Immutable and safe to share between threads: requests read the arrays and never change them. It owns
 * native memory: close it when it is no longer used.
 */
public final class TaskMemory implements AutoCloseable {

    private final String taskId;
    private final String modelFingerprint;
    private final CompressionSettings settings;
    private final String demonstrationsDigest;
    private final int demonstrationCount;
    private final NDManager manager;
    private final List<NDArray> keys;   // per layer (1, G, n_l, D)
    private final List<NDArray> values; // per layer (1, G, n_l, D)
    private final int positionOffset;
    private final CompressionReport report;

    private TaskMemory(Builder b) {
        this.taskId = b.taskId;
        this.modelFingerprint = b.modelFingerprint;
        this.settings = b.settings;
        this.demonstrationsDigest = b.demonstrationsDigest;
        this.demonstrationCount = b.demonstrationCount;
        this.manager = b.manager;
        this.keys = List.copyOf(b.keys);
        this.values = List.copyOf(b.values);
        this.positionOffset = b.positionOffset;
        this.report = b.report;
        if (keys.size() != values.size() || keys.isEmpty()) {
            throw new IllegalArgumentException("A task memory needs the same positive number of key and value layers, got "
                    + keys.size() + " and " + values.size());
        }
        for (int l = 0; l < keys.size(); l++) {
            var k = keys.get(l).getShape();
            if (k.dimension() != 4 || k.get(0) != 1 || !k.equals(values.get(l).getShape())) {
                throw new IllegalArgumentException("Layer " + l + " keys " + k + " and values " + values.get(l).getShape()
                        + " must both be (1, G, n, D)");
            }
            if (report.layers().size() == keys.size() && report.layers().get(l).kept() != k.get(2)) {
                throw new IllegalArgumentException("Layer " + l + " holds " + k.get(2) + " tokens but the report says "
                        + report.layers().get(l).kept());
            }
        }
        if (positionOffset < 0) {
            throw new IllegalArgumentException("Position offset must be >= 0, got " + positionOffset);
        }
    }

    /**
     * A builder; the memory takes ownership of {@code manager}, which must own the key and value arrays.
     */
    public static Builder builder(String taskId, NDManager manager) {
        return new Builder(taskId, manager);
    }

    public String taskId() { return taskId; }
    public String modelFingerprint() { return modelFingerprint; }
    public CompressionSettings settings() { return settings; }
    /** SHA-256 chained over the demonstrations in order; equal for equal demonstrations however they were taught. */
    public String demonstrationsDigest() { return demonstrationsDigest; }
    public int demonstrationCount() { return demonstrationCount; }
    public int positionOffset() { return positionOffset; }
    public CompressionReport report() { return report; }

    public int numLayers() {
        return keys.size();
    }

    /** Tokens stored at {@code layer}. */
    public int length(int layer) {
        return (int) keys.get(layer).getShape().get(2);
    }

    /** Keys of one layer {@code (1, G, n_l, D)}; read only. */
    public NDArray keys(int layer) {
        return keys.get(layer);
    }

    /** Values of one layer {@code (1, G, n_l, D)}; read only. */
    public NDArray values(int layer) {
        return values.get(layer);
    }

    /** Bytes of all stored keys and values. */
    public long sizeInBytes() {
        long bytes = 0;
        for (int l = 0; l < keys.size(); l++) {
            bytes += 2 * keys.get(l).getShape().size() * keys.get(l).getDataType().getNumOfBytes();
        }
        return bytes;
    }

    /**
     * A cache for one query: this memory as its read-only prefix (neither copied nor closed by the cache),
     * the query's positions starting at {@link #positionOffset()}.
     */
    public KvCache newCache(NDManager requestManager) {
        return KvCache.withPrefix(requestManager, keys, values, positionOffset);
    }

    @Override
    public void close() {
        manager.close();
    }

    @Override
    public String toString() {
        return "TaskMemory[" + taskId + ", " + demonstrationCount + " demonstrations, " + settings.strategy() + ", offset "
                + positionOffset + ", " + sizeInBytes() + " bytes]";
    }

    public static final class Builder {
        private final String taskId;
        private final NDManager manager;
        private String modelFingerprint;
        private CompressionSettings settings;
        private String demonstrationsDigest;
        private int demonstrationCount;
        private List<NDArray> keys = List.of();
        private List<NDArray> values = List.of();
        private int positionOffset;
        private CompressionReport report;

        private Builder(String taskId, NDManager manager) {
            this.taskId = Objects.requireNonNull(taskId, "taskId");
            this.manager = Objects.requireNonNull(manager, "manager");
        }

        public Builder modelFingerprint(String v) { modelFingerprint = v; return this; }
        public Builder settings(CompressionSettings v) { settings = v; return this; }
        public Builder demonstrations(String digest, int count) { demonstrationsDigest = digest; demonstrationCount = count; return this; }
        public Builder layers(List<NDArray> keys, List<NDArray> values) { this.keys = keys; this.values = values; return this; }
        public Builder positionOffset(int v) { positionOffset = v; return this; }
        public Builder report(CompressionReport v) { report = v; return this; }

        public TaskMemory build() {
            Objects.requireNonNull(modelFingerprint, "modelFingerprint");
            Objects.requireNonNull(settings, "settings");
            Objects.requireNonNull(demonstrationsDigest, "demonstrationsDigest");
            Objects.requireNonNull(report, "report");
            return new TaskMemory(this);
        }
    }
}

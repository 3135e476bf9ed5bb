package dev.emloc.memory;

import java.time.Instant;
import java.util.List;

/**
 * The header section of an encoded task memory: everything but the keys and values. Small (a few kilobytes), so a
 * store can list task memories by reading headers alone.
 *
 * @param format               format version ({@link TaskMemoryCodec#FORMAT_VERSION})
 * @param memoryId             random id written into every section of this encoding, so sections of two encodings
 *                             can never be mixed
 * @param namespace            namespace the memory was stored under
 * @param taskId               task id
 * @param modelFingerprint     fingerprint of the model that built the memory
 * @param settings             compression settings
 * @param demonstrationsDigest digest of the demonstrations
 * @param demonstrationCount   number of demonstrations
 * @param positionOffset       position where a query continues
 * @param precision            stored dtype of the keys and values
 * @param numLayers            decoder layers
 * @param kvHeads              key/value heads G
 * @param headDim              head dimension D
 * @param layerLengths         tokens kept per layer
 * @param createdAt            when the encoding was written
 * @param report               the compression report
 */
public record MemoryHeader(int format, long memoryId, String namespace, String taskId, String modelFingerprint,
        CompressionSettings settings, String demonstrationsDigest, int demonstrationCount, int positionOffset,
        TaskMemoryCodec.Precision precision, int numLayers, int kvHeads, int headDim, List<Integer> layerLengths,
        Instant createdAt, CompressionReport report) {

    public MemoryHeader {
        layerLengths = List.copyOf(layerLengths);
    }

    public TaskKey key() {
        return new TaskKey(namespace, taskId);
    }

    /** Bytes of one layer's keys, and as many of its values. */
    public long arrayBytes(int layer) {
        return (long) kvHeads * layerLengths.get(layer) * headDim * precision.bytesPerValue();
    }

    /** Bytes of all stored keys and values. */
    public long payloadBytes() {
        long total = 0;
        for (int l = 0; l < numLayers; l++) {
            total += 2 * arrayBytes(l);
        }
        return total;
    }

    /** Tokens kept, summed over layers. */
    public long tokensKept() {
        return layerLengths.stream().mapToLong(Integer::longValue).sum();
    }

    /** A descriptor of this memory as stored under {@code generation}, expiring at {@code expiresAt} (or never). */
    public TaskMemoryDescriptor describe(String generation, long storedBytes, Instant expiresAt) {
        return new TaskMemoryDescriptor(key(), generation, modelFingerprint, settings, demonstrationsDigest,
                demonstrationCount, positionOffset, numLayers, report.tokensSeen(), tokensKept(), precision, storedBytes,
                createdAt, expiresAt);
    }
}

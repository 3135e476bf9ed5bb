package dev.emloc.memory;

import java.time.Instant;
import java.util.Objects;

/**
 * What a store knows about a stored task memory without reading its keys and values.
 *
 * @param key                  namespace and task id
 * @param generation           id of the stored version; changes every time the task is saved
 * @param modelFingerprint     fingerprint of the model that built it
 * @param settings             compression settings it was built with
 * @param demonstrationsDigest digest of its demonstrations
 * @param demonstrationCount   number of demonstrations
 * @param positionOffset       position where a query continues
 * @param numLayers            decoder layers
 * @param tokensSeen           demonstration tokens that went through the model
 * @param tokensKept           tokens kept, summed over layers
 * @param precision            stored dtype
 * @param storedBytes          bytes the store holds for it
 * @param createdAt            when it was saved
 * @param expiresAt            when it expires, or null when it does not
 */
public record TaskMemoryDescriptor(TaskKey key, String generation, String modelFingerprint, CompressionSettings settings,
        String demonstrationsDigest, int demonstrationCount, int positionOffset, int numLayers, int tokensSeen,
        long tokensKept, TaskMemoryCodec.Precision precision, long storedBytes, Instant createdAt, Instant expiresAt) {

    public TaskMemoryDescriptor {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(generation, "generation");
    }

    /** Tokens kept over tokens seen times layers. */
    public double keptFraction() {
        return tokensSeen == 0 ? 0 : tokensKept / ((double) tokensSeen * numLayers);
    }
}

package dev.emloc.memory;

/** How demonstrations become a memory: EMLoC, or a baseline through the same API. */
public enum Strategy {
    /** Chunk-wise compression with layer-wise adaptive pruning under a Jensen-Shannon bound. */
    EMLOC,
    /** Every demonstration token kept: the uncompressed long context, reused as a prefix cache. */
    FULL,
    /** No demonstrations: the memory holds only the system turn. */
    ZERO_SHOT,
    /** EMLoC's importance scores, the same fraction at every layer, no divergence check. */
    FIXED_RATIO,
    /** A seeded random choice of the same fraction at every layer (answer tokens still kept). */
    RANDOM
}

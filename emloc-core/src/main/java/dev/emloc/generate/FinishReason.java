package dev.emloc.generate;

/** Why generation ended. */
public enum FinishReason {
    /** A stop token or stop string was produced. */
    STOP,
    /** The maximum number of new tokens was reached. */
    LENGTH,
    /** The caller cancelled (e.g. a streaming client went away). */
    CANCELLED
}

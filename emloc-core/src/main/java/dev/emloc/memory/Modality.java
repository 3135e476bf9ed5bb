package dev.emloc.memory;

/** What a demonstration token is, for the report of what a task memory kept. */
public enum Modality {
    /** The system turn (first chunk only). */
    SYSTEM,
    /** An image or video token. */
    IMAGE,
    /** The user turn's text and the template tokens around turns. */
    QUESTION,
    /** The assistant's answer and the {@code <|im_end|>} closing it: never pruned. */
    ANSWER
}

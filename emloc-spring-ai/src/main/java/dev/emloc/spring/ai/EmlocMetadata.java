package dev.emloc.spring.ai;

/**
 * Keys and values {@link EmlocChatModel} writes into {@code ChatResponseMetadata} (read them with
 * {@code response.getMetadata().get(key)}). A streamed answer carries them on its last chunk only.
 */
public final class EmlocMetadata {

    /** The task the request named (String); absent when it named none. */
    public static final String TASK_ID = "emloc.task-id";

    /** Whether a task memory answered: {@link #MEMORY_USED} or {@link #MEMORY_NONE} (String). */
    public static final String MEMORY = "emloc.memory";

    /** {@code zero-shot} when the task had no memory and {@link OnMissingTask#ZERO_SHOT} answered without one. */
    public static final String MEMORY_FALLBACK = "emloc.memory-fallback";

    /** The stored generation of the memory used (String); changes every time the task is taught or appended to. */
    public static final String MEMORY_GENERATION = "emloc.memory-generation";

    /** Tokens the memory keeps, summed over all layers (Long). */
    public static final String MEMORY_TOKENS_KEPT = "emloc.memory-tokens-kept";

    /** Demonstration tokens the memory stands for: its position offset, where the query continues (Integer). */
    public static final String MEMORY_CONTEXT_TOKENS = "emloc.memory-context-tokens";

    /** Demonstrations compressed into the memory (Integer). */
    public static final String MEMORY_DEMONSTRATIONS = "emloc.memory-demonstrations";

    /** {@code ignored} when the request's system messages were dropped because the memory holds its own system turn. */
    public static final String SYSTEM_PROMPT = "emloc.system-prompt";

    /** Fingerprint of the running checkpoint (String). */
    public static final String MODEL_FINGERPRINT = "emloc.model-fingerprint";

    /** {@link #MEMORY}: a task memory answered. */
    public static final String MEMORY_USED = "used";
    /** {@link #MEMORY}: no task memory answered (no task named, or the zero-shot fallback). */
    public static final String MEMORY_NONE = "none";
    /** {@link #MEMORY_FALLBACK}: the task had no memory and {@link OnMissingTask#ZERO_SHOT} answered without one. */
    public static final String FALLBACK_ZERO_SHOT = "zero-shot";
    /** {@link #SYSTEM_PROMPT}: the request's system messages were dropped for the memory's own system turn. */
    public static final String SYSTEM_PROMPT_IGNORED = "ignored";

    private EmlocMetadata() {
    }
}

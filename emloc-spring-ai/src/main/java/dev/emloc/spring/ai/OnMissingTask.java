package dev.emloc.spring.ai;

/** What {@link EmlocChatModel} does when a request names a task that has no memory in the store. */
public enum OnMissingTask {

    /** Refuse the request with {@link UnknownTaskException} (the default): a task without its memory is a mistake. */
    ERROR,

    /**
     * Answer without a memory, as a plain chat would, and say so in the response metadata
     * ({@code emloc.memory=none}, {@code emloc.memory-fallback=zero-shot}).
     */
    ZERO_SHOT
}

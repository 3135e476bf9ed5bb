package dev.emloc.spring.ai;

/**
 * A chat request asks for something {@link EmlocChatModel} does not do: tool calling, repetition penalties, media
 * that is not an image, or media given as a URL to fetch. The message names what was asked and what to do instead.
 * An {@link IllegalArgumentException}, so web layers can answer it as a client error.
 */
public class EmlocRequestException extends IllegalArgumentException {

    /** A refusal that says what was asked and what to do instead. */
    public EmlocRequestException(String message) {
        super(message);
    }

    /** A refusal caused by {@code cause} (e.g. a resource that could not be read). */
    public EmlocRequestException(String message, Throwable cause) {
        super(message, cause);
    }
}

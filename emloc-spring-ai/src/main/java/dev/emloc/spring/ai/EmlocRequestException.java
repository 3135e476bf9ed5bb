package dev.emloc.spring.ai;

/**
 * A chat request asks for something {@link EmlocChatModel} does not do: tool calling, repetition penalties, media
 * that is not an image, or media given as a URL to fetch. The message names what was asked and what to do instead.
 * An {@link IllegalArgumentException}, so web layers can answer it as a client error.
 */
public class EmlocRequestException extends IllegalArgumentException {

    public EmlocRequestException(String message) {
        super(message);
    }

    public EmlocRequestException(String message, Throwable cause) {
        super(message, cause);
    }
}

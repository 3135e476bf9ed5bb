package dev.emloc.vision;

/**
 * An image or video sent by a client cannot be used: bytes that are not an image, an image that is empty,
 * too large, too small or too elongated, or too many images or frames in one request. The message names the
 * value at fault and what to do; it is safe to return to the client (a 400-style error).
 */
public class ImageInputException extends RuntimeException {

    public ImageInputException(String message) {
        super(message);
    }

    public ImageInputException(String message, Throwable cause) {
        super(message, cause);
    }
}

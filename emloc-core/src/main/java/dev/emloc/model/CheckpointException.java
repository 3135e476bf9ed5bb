package dev.emloc.model;

/**
 * A checkpoint directory cannot be used: a missing file or tensor, an unknown {@code model_type}, a shape
 * mismatch or an unsupported dtype. The message names the value at fault and what to do.
 */
public class CheckpointException extends RuntimeException {

    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}

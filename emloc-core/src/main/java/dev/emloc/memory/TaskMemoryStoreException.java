package dev.emloc.memory;

/**
 * A task memory store could not do what was asked: its backend is unreachable or timed out, or it is full.
 * The message names the store and, for a remote one, its endpoint. Nothing stored is lost by the failure.
 */
public class TaskMemoryStoreException extends RuntimeException {

    public TaskMemoryStoreException(String message) {
        super(message);
    }

    public TaskMemoryStoreException(String message, Throwable cause) {
        super(message, cause);
    }
}

package dev.emloc.memory;

/**
 * Bytes that are not a valid encoded task memory: truncated, of another format or version, failing a checksum,
 * or describing shapes and lengths outside the codec's limits. Nothing is allocated from such bytes.
 */
public class TaskMemoryFormatException extends RuntimeException {

    public TaskMemoryFormatException(String message) {
        super(message);
    }

    public TaskMemoryFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}

package dev.emloc.autoconfigure;

import java.nio.file.Path;

/**
 * {@code spring.ai.emloc.model-path} is missing, or names no readable checkpoint. {@link EmlocFailureAnalyzer}
 * turns it into a startup report that says what is wrong and which property to set.
 */
public class EmlocModelPathException extends RuntimeException {

    private final Path path;

    public EmlocModelPathException(Path path, String message, Throwable cause) {
        super(message, cause);
        this.path = path;
    }

    /** The configured path, or null when none was set. */
    public Path path() {
        return path;
    }
}

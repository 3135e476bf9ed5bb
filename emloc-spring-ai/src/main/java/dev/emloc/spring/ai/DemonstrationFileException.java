package dev.emloc.spring.ai;

import java.nio.file.Path;

/**
 * A demonstration file could not be read: missing, malformed, or over a limit. The message names the file, the line
 * (when one is at fault) and what to fix.
 */
public class DemonstrationFileException extends IllegalArgumentException {

    private final Path file;
    private final int line;

    /** A problem with {@code file} at {@code line} (0: the whole file); the message starts with both. */
    public DemonstrationFileException(Path file, int line, String problem) {
        this(file, line, problem, null);
    }

    /** As {@link #DemonstrationFileException(Path, int, String)}, caused by {@code cause}. */
    public DemonstrationFileException(Path file, int line, String problem, Throwable cause) {
        super(file + (line > 0 ? " line " + line : "") + ": " + problem, cause);
        this.file = file;
        this.line = line;
    }

    /** The file. */
    public Path file() {
        return file;
    }

    /** 1-based number of the line at fault, or 0 when the problem is with the whole file. */
    public int line() {
        return line;
    }
}

package dev.emloc.spring.ai;

import java.nio.file.Path;

/**
 * A demonstration file could not be read: missing, malformed, or over a limit. The message names the file, the line
 * (when one is at fault) and what to fix.
 */
public class DemonstrationFileException extends IllegalArgumentException {

    private final Path file;
    private final int line;

    public DemonstrationFileException(Path file, int line, String problem) {
        this(file, line, problem, null);
    }

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

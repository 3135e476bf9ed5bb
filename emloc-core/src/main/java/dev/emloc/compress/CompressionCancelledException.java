package dev.emloc.compress;

import java.util.concurrent.CancellationException;

/** The caller cancelled a compression; nothing was built and an existing memory is unchanged. */
public class CompressionCancelledException extends CancellationException {

    public CompressionCancelledException(String message) {
        super(message);
    }
}

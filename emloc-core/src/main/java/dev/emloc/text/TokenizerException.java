package dev.emloc.text;

/**
 * A tokenizer cannot be loaded or used: a missing or malformed {@code tokenizer.json}, a tokenizer that is
 * not byte-level BPE, or a token the vocabulary does not have. The message names the value at fault and what
 * to do.
 */
public class TokenizerException extends RuntimeException {

    public TokenizerException(String message) {
        super(message);
    }

    public TokenizerException(String message, Throwable cause) {
        super(message, cause);
    }
}

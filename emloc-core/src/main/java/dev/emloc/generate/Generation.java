package dev.emloc.generate;

/**
 * The outcome of one generation.
 *
 * @param tokens       generated ids, without a final stop token
 * @param text         decoded text, cut before a stop string
 * @param finishReason why generation ended
 * @param promptTokens tokens of the prompt that were prefilled (not counting a reused prefix)
 */
public record Generation(long[] tokens, String text, FinishReason finishReason, int promptTokens) {

    public Generation {
        tokens = tokens.clone();
    }

    @Override
    public long[] tokens() {
        return tokens.clone();
    }

    /** Number of generated tokens. */
    public int completionTokens() {
        return tokens.length;
    }
}

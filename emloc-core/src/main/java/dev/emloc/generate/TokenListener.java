package dev.emloc.generate;

/** Receives each generated token as it is produced, for streaming. */
@FunctionalInterface
public interface TokenListener {

    /**
     * @param tokenId   the token just generated, or -1 for text released when generation ends (bytes of
     *                  an unfinished character, or text held back for a stop string that never came)
     * @param textDelta the text that became final with it (may be empty: half a UTF-8 character, or text
     *                  held back because it could be the start of a stop string)
     */
    void onToken(long tokenId, String textDelta);
}

package dev.emloc.generate;

/** Receives each generated token as it is produced, for streaming. */
@FunctionalInterface
public interface TokenListener {

    /**
     * @param tokenId   the token just generated
     * @param textDelta the text that became final with it (may be empty: half a UTF-8 character, or text
     *                  held back because it could be the start of a stop string)
     */
    void onToken(long tokenId, String textDelta);
}

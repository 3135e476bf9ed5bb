package dev.emloc.text;

import java.util.Arrays;
import java.util.Objects;

/**
 * Turns generated token ids into text as they arrive, without ever emitting half a character.
 *
 * <p>A byte-level BPE token stands for bytes, not characters: an emoji or a CJK character may be split over two or
 * three tokens. The detokenizer keeps the bytes of the tokens it was given and emits text up to the last complete
 * UTF-8 character, holding back a trailing incomplete one until the tokens that finish it arrive. Joined together,
 * the pieces equal {@link QwenTokenizer#decode(long[], boolean)} of all the ids, including the replacement
 * characters of bytes that never form a character, which {@link #flush()} gives out at the end.
 *
 * <p>Not thread-safe: one instance per generated sequence.
 */
public final class IncrementalDetokenizer {

    private final QwenTokenizer tokenizer;
    private final boolean skipSpecial;
    private byte[] pending = new byte[16];
    private int pendingLength;

    /** A detokenizer that writes special tokens such as {@code <|im_end|>} into the text. */
    public IncrementalDetokenizer(QwenTokenizer tokenizer) {
        this(tokenizer, false);
    }

    /** A detokenizer that leaves special tokens out of the text when {@code skipSpecial}. */
    public IncrementalDetokenizer(QwenTokenizer tokenizer, boolean skipSpecial) {
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.skipSpecial = skipSpecial;
    }

    /** Adds token {@code id} and returns the text it completes; empty while a character is still split. */
    public String accept(long id) {
        if (skipSpecial && tokenizer.isSpecial(id)) {
            return "";
        }
        append(tokenizer.tokenBytesView(id));
        return emit(pendingLength - Utf8.incompleteTail(pending, pendingLength));
    }

    /** Adds several tokens and returns the text they complete. */
    public String acceptAll(long... ids) {
        StringBuilder text = new StringBuilder();
        for (long id : ids) {
            text.append(accept(id));
        }
        return text.toString();
    }

    /** Returns what is held back, an unfinished character becoming U+FFFD, and starts afresh. */
    public String flush() {
        return emit(pendingLength);
    }

    /** Whether bytes of an unfinished character are held back. */
    public boolean hasPendingBytes() {
        return pendingLength > 0;
    }

    private void append(byte[] bytes) {
        if (pendingLength + bytes.length > pending.length) {
            pending = Arrays.copyOf(pending, Math.max(pending.length * 2, pendingLength + bytes.length));
        }
        System.arraycopy(bytes, 0, pending, pendingLength, bytes.length);
        pendingLength += bytes.length;
    }

    private String emit(int length) {
        if (length == 0) {
            return "";
        }
        // The held-back tail is the only place where later bytes could change the result, so malformed bytes
        // before it decode to U+FFFD exactly as in a whole decode.
        String text = Utf8.decodeLossy(pending, 0, length);
        System.arraycopy(pending, length, pending, 0, pendingLength - length);
        pendingLength -= length;
        return text;
    }
}

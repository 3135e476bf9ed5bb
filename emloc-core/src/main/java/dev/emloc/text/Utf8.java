package dev.emloc.text;

/**
 * UTF-8 decoding that replaces malformed bytes exactly as Rust's {@code String::from_utf8_lossy}, and so as the
 * Hugging Face tokenizers library: each maximal subpart of an ill-formed sequence (a lead byte and the continuation
 * bytes that fit it) becomes one U+FFFD. The JDK's decoder differs at the end of the input and for encoded
 * surrogates, which would make streamed text differ from a whole decode.
 */
final class Utf8 {

    private static final char REPLACEMENT = '\uFFFD';

    private Utf8() {
    }

    /** Decodes {@code length} bytes from {@code offset}, one U+FFFD per maximal ill-formed subpart. */
    static String decodeLossy(byte[] bytes, int offset, int length) {
        StringBuilder text = new StringBuilder(length);
        int end = offset + length;
        int i = offset;
        while (i < end) {
            int lead = bytes[i] & 0xFF;
            if (lead < 0x80) {
                text.append((char) lead);
                i++;
                continue;
            }
            int continuations;
            int codePoint;
            int low = 0x80;   // range of the first continuation byte; Unicode table 3-7
            int high = 0xBF;
            if (lead >= 0xC2 && lead <= 0xDF) {
                continuations = 1;
                codePoint = lead & 0x1F;
            } else if (lead >= 0xE0 && lead <= 0xEF) {
                continuations = 2;
                codePoint = lead & 0x0F;
                low = lead == 0xE0 ? 0xA0 : 0x80;
                high = lead == 0xED ? 0x9F : 0xBF;
            } else if (lead >= 0xF0 && lead <= 0xF4) {
                continuations = 3;
                codePoint = lead & 0x07;
                low = lead == 0xF0 ? 0x90 : 0x80;
                high = lead == 0xF4 ? 0x8F : 0xBF;
            } else {
                text.append(REPLACEMENT);
                i++;
                continue;
            }
            int j = i + 1;
            boolean complete = true;
            for (int k = 0; k < continuations; k++, j++) {
                int next = j < end ? bytes[j] & 0xFF : -1;
                if (next < (k == 0 ? low : 0x80) || next > (k == 0 ? high : 0xBF)) {
                    complete = false;
                    break;
                }
                codePoint = codePoint << 6 | (next & 0x3F);
            }
            if (complete) {
                text.appendCodePoint(codePoint);
            } else {
                text.append(REPLACEMENT);
            }
            i = j;
        }
        return text.toString();
    }

    /**
     * Number of bytes at the end of {@code bytes[0, length)} that begin a character later bytes could still
     * complete: a lead byte followed by fewer continuation bytes than it announces.
     */
    static int incompleteTail(byte[] bytes, int length) {
        for (int k = 1; k <= Math.min(3, length); k++) {
            int b = bytes[length - k] & 0xFF;
            if ((b & 0xC0) == 0x80) {
                continue;
            }
            int expected = (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
            return k < expected ? k : 0;
        }
        return 0;
    }
}

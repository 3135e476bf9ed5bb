package dev.emloc.text;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

class Utf8Test {

    @Test
    void decodesWellFormedText() {
        byte[] bytes = "aé龘😀".getBytes(StandardCharsets.UTF_8);

        assertThat(Utf8.decodeLossy(bytes, 0, bytes.length)).isEqualTo("aé龘😀");
        assertThat(Utf8.decodeLossy(bytes, 1, 2)).isEqualTo("é");
    }

    @Test
    void replacesEachMaximalIllFormedSubpartWithOneReplacementCharacter() {
        // Examples of Unicode 15 section 3.9, table 3-8, as Rust's from_utf8_lossy decodes them.
        assertThat(decode(0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64))
                .isEqualTo("a\uFFFD\uFFFD\uFFFDb\uFFFDc\uFFFD\uFFFDd");
        assertThat(decode(0xED, 0xA3)).as("encoded surrogate").isEqualTo("\uFFFD\uFFFD");
        assertThat(decode(0xE0, 0x80)).as("overlong").isEqualTo("\uFFFD\uFFFD");
        assertThat(decode(0xF4, 0x90, 0x80, 0x80)).as("above U+10FFFF").isEqualTo("\uFFFD".repeat(4));
        assertThat(decode(0xF0, 0x9F, 0x98)).as("truncated emoji").isEqualTo("\uFFFD");
        assertThat(decode(0xC0, 0xAF, 0xFF)).isEqualTo("\uFFFD".repeat(3));
    }

    @Test
    void findsTheUnfinishedCharacterAtTheEnd() {
        assertThat(tail(0x61, 0xF0, 0x9F, 0x98)).isEqualTo(3);
        assertThat(tail(0x61, 0xE9, 0xBE)).isEqualTo(2);
        assertThat(tail(0x61, 0xC3)).isEqualTo(1);
        assertThat(tail(0x61, 0xC3, 0xA9)).isZero();
        assertThat(tail(0xF0, 0x9F, 0x98, 0x80)).isZero();
        assertThat(tail(0x80, 0x80, 0x80)).isZero();
        assertThat(tail()).isZero();
    }

    private static String decode(int... values) {
        byte[] bytes = bytes(values);
        return Utf8.decodeLossy(bytes, 0, bytes.length);
    }

    private static int tail(int... values) {
        byte[] bytes = bytes(values);
        return Utf8.incompleteTail(bytes, bytes.length);
    }

    private static byte[] bytes(int... values) {
        byte[] bytes = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            bytes[i] = (byte) values[i];
        }
        return bytes;
    }
}

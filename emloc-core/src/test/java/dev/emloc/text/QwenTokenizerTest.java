package dev.emloc.text;

import static dev.emloc.text.QwenTokenizerFixture.id;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.stream.LongStream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class QwenTokenizerTest {

    private final QwenTokenizer tokenizer = QwenTokenizerFixture.tokenizer();

    @Test
    void readsTheQwen2VlSpecialTokenIdsFromTheTokenizer() {
        Map<String, Integer> expected = Map.of(
                "<|endoftext|>", 151643,
                "<|im_start|>", 151644,
                "<|im_end|>", 151645,
                "<|vision_start|>", 151652,
                "<|vision_end|>", 151653,
                "<|image_pad|>", 151655,
                "<|video_pad|>", 151656);
        expected.forEach((token, value) -> {
            assertThat(tokenizer.tokenId(token)).as(token).isEqualTo(value);
            assertThat(id(token)).as(token + " in the JSON").isEqualTo(value.longValue());
            assertThat(tokenizer.isSpecial(value)).as(token + " is special").isTrue();
            assertThat(tokenizer.encode(token)).as("encoding " + token).containsExactly(value);
        });
        assertThat(tokenizer.specialTokens()).containsAllEntriesOf(expected).hasSize(14);
    }

    @Test
    void encodesKnownWordsToTheirVocabularyIds() {
        assertThat(id("Ċ")).isEqualTo(198);
        assertThat(id("user")).isEqualTo(872);
        assertThat(tokenizer.encode("\n")).containsExactly(198);
        assertThat(tokenizer.encode("user")).containsExactly(872);
        assertThat(tokenizer.encode("<|im_start|>user\nHello world<|im_end|>"))
                .containsExactly(151644, 872, 198, id("Hello"), id("Ġworld"), 151645);
    }

    @Test
    void doesNotTruncateLongTexts() {
        String text = "word ".repeat(3000);

        long[] ids = tokenizer.encode(text);

        long[] expected = new long[3001];
        Arrays.fill(expected, id("Ġword"));
        expected[0] = id("word");
        expected[3000] = id("Ġ");
        assertThat(ids).hasSize(3001).containsExactly(expected);
        assertThat(tokenizer.decode(ids)).isEqualTo(text);
    }

    @Test
    void decodesSpecialTokensUnlessAskedToSkipThem() {
        long[] ids = tokenizer.encode("<|im_start|>assistant\n你好 😀<|im_end|>");

        assertThat(tokenizer.decode(ids)).isEqualTo("<|im_start|>assistant\n你好 😀<|im_end|>");
        assertThat(tokenizer.decode(ids, true)).isEqualTo("assistant\n你好 😀");
    }

    @Test
    void roundTripsMixedScriptText() {
        String text = "Invoice №42: 3× café au lait — 9,80 €\n发票金额：人民币一百元。 Ελληνικά, русский, 🧾✅\tfn(x) => x * 2;";

        assertThat(tokenizer.decode(tokenizer.encode(text))).isEqualTo(text);
    }

    @Test
    void knowsVocabularySizeAndTokensBothWays() {
        assertThat(tokenizer.vocabularySize()).isEqualTo(151669);
        assertThat(tokenizer.vocabularySize())
                .isEqualTo(QwenTokenizerFixture.vocabulary().values().stream().mapToInt(Integer::intValue).max().orElseThrow() + 1);
        assertThat(tokenizer.findTokenId("Ġworld")).hasValue((int) id("Ġworld"));
        assertThat(tokenizer.findToken(198)).hasValue("Ċ");
        assertThat(tokenizer.findToken(151645)).hasValue("<|im_end|>");
        assertThat(tokenizer.findToken(151669)).isEmpty();
        assertThat(tokenizer.findToken(-1)).isEmpty();
        assertThat(tokenizer.findTokenId("no such token")).isEmpty();
        assertThat(tokenizer.isAddedToken(tokenizer.tokenId("<think>"))).isTrue();
        assertThat(tokenizer.isSpecial(tokenizer.tokenId("<think>"))).isFalse();
    }

    @Test
    void tokenIdNamesTheMissingTokenAndTheFile() {
        assertThatThrownBy(() -> tokenizer.tokenId("<|no_such_token|>"))
                .isInstanceOf(TokenizerException.class)
                .hasMessageContaining("'<|no_such_token|>'")
                .hasMessageContaining(QwenTokenizerFixture.tokenizerJson().toString());
    }

    @Test
    void tokenBytesAreTheBytesBehindTheByteLevelAlphabet() {
        assertThat(tokenizer.tokenBytes(id("Ġworld"))).isEqualTo(" world".getBytes(StandardCharsets.UTF_8));
        assertThat(tokenizer.tokenBytes(198)).containsExactly('\n');
        assertThat(tokenizer.tokenBytes(151644)).isEqualTo("<|im_start|>".getBytes(StandardCharsets.UTF_8));
        // "é¾" is the first two bytes of 龘 (E9 BE 98): a token that ends inside a character.
        assertThat(tokenizer.tokenBytes(id("é¾"))).containsExactly(0xE9, 0xBE);
        assertThat(tokenizer.tokenBytes(151669)).isEmpty();
    }

    @Test
    void tokenBytesAgreeWithTheNativeDecoderForEveryToken() {
        long[] mismatches = LongStream.range(0, tokenizer.vocabularySize())
                .filter(tokenId -> {
                    byte[] bytes = tokenizer.tokenBytes(tokenId);
                    return !Utf8.decodeLossy(bytes, 0, bytes.length).equals(tokenizer.decode(new long[] {tokenId}));
                })
                .limit(10)
                .toArray();

        assertThat(mismatches).isEmpty();
    }

    @Test
    void reportsAMissingFileWithItsPath(@TempDir Path dir) {
        Path missing = dir.resolve("tokenizer.json");

        assertThatThrownBy(() -> QwenTokenizer.load(missing))
                .isInstanceOf(TokenizerException.class)
                .hasMessageContaining(missing.toString())
                .hasMessageContaining("does not exist");
    }

    @Test
    void reportsADirectoryGivenInsteadOfTheFile(@TempDir Path dir) {
        assertThatThrownBy(() -> QwenTokenizer.load(dir))
                .isInstanceOf(TokenizerException.class)
                .hasMessageContaining(dir + " is a directory")
                .hasMessageContaining(dir.resolve("tokenizer.json").toString());
    }

    @Test
    void reportsAFileThatIsNotJson(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": [unquoted");

        assertThatThrownBy(() -> QwenTokenizer.load(file))
                .isInstanceOf(TokenizerException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("not valid tokenizer JSON");
    }

    @Test
    void rejectsATokenizerThatIsNotByteLevelBpe(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("tokenizer.json"), """
                {"version": "1.0", "added_tokens": [], "decoder": null,
                 "model": {"type": "WordLevel", "vocab": {"[UNK]": 0, "hello": 1}, "unk_token": "[UNK]"}}
                """);

        assertThatThrownBy(() -> QwenTokenizer.load(file))
                .isInstanceOf(TokenizerException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("'WordLevel'")
                .hasMessageContaining("byte-level BPE");
    }
}

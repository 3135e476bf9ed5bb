package dev.emloc.text;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TinyTokenizerJsonTest {

    @TempDir
    static Path dir;

    private static QwenTokenizer tiny;

    @BeforeAll
    static void writeAndLoad() {
        Path json = dir.resolve("nested/tokenizer.json");
        TinyTokenizerJson.write(json);
        tiny = QwenTokenizer.load(json);
    }

    @AfterAll
    static void close() {
        tiny.close();
    }

    @Test
    void hasTheBytesThenQwensSpecialTokens() {
        assertThat(TinyTokenizerJson.VOCAB_SIZE).isEqualTo(270);
        assertThat(tiny.vocabularySize()).isEqualTo(TinyTokenizerJson.VOCAB_SIZE);
        assertThat(TinyTokenizerJson.specialTokens()).hasSize(14)
                .startsWith("<|endoftext|>", "<|im_start|>", "<|im_end|>")
                .endsWith("<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>");
        Map<String, Integer> ids = TinyTokenizerJson.specialTokenIds();
        assertThat(ids).containsEntry("<|endoftext|>", 256).containsEntry("<|im_start|>", 257)
                .containsEntry("<|im_end|>", 258).containsEntry("<|vision_start|>", 265)
                .containsEntry("<|vision_end|>", 266).containsEntry("<|image_pad|>", 268)
                .containsEntry("<|video_pad|>", 269);
        assertThat(tiny.specialTokens()).containsExactlyEntriesOf(ids);
        ids.forEach((token, id) -> assertThat(tiny.tokenId(token)).as(token).isEqualTo(id));
        assertThat(tiny.findToken(32)).hasValue("Ġ");
        assertThat(tiny.findToken(10)).hasValue("Ċ");
        assertThat(tiny.findToken(65)).hasValue("A");
    }

    @Test
    void encodesEveryByteAsItsOwnIdAndRoundTripsAnyText() {
        String text = "Hello, wörld! 你好 🧑‍🔬🦩\u0000\t\r\n  trailing ";
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);

        long[] ids = tiny.encode(text);

        long[] expected = new long[utf8.length];
        for (int i = 0; i < utf8.length; i++) {
            expected[i] = utf8[i] & 0xFF;
        }
        assertThat(ids).containsExactly(expected);
        assertThat(tiny.decode(ids)).isEqualTo(text);
    }

    @Test
    void encodesSpecialTokensInTextToSingleIds() {
        assertThat(tiny.encode("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"))
                .containsExactly(257, 'u', 's', 'e', 'r', '\n', 265, 268, 266);
    }

    @Test
    void carriesTheQwenChatFormat() {
        ChatFormat format = new ChatFormat(tiny);

        long[] ids = format.encode(List.of(ChatMessage.user("hi")),
                RenderOptions.builder().includeSystem(false).build());

        assertThat(ids).containsExactly(257, 'u', 's', 'e', 'r', '\n', 'h', 'i', 258, '\n', 257,
                'a', 's', 's', 'i', 's', 't', 'a', 'n', 't', '\n');
        assertThat(format.stopTokenIds()).containsExactly(258, 256);
    }

    @Test
    void addsWholeWordsAfterTheSpecialTokensTheLongestMatchWinning() {
        Path json = dir.resolve("words/tokenizer.json");
        TinyTokenizerJson.write(json, List.of("You are a helpful assistant.", "assistant", "user"));
        try (QwenTokenizer words = QwenTokenizer.load(json)) {
            assertThat(words.vocabularySize()).isEqualTo(TinyTokenizerJson.VOCAB_SIZE + 3);
            ChatFormat format = new ChatFormat(words);
            long[] ids = format.encode(List.of(ChatMessage.user("hi")), RenderOptions.builder().includeSystem(true).build());
            assertThat(ids).containsExactly(257, 's', 'y', 's', 't', 'e', 'm', '\n', 270, 258, '\n', 257, 272, '\n', 'h', 'i',
                    258, '\n', 257, 271, '\n');
            assertThat(words.decode(ids, false)).isEqualTo(format.render(List.of(ChatMessage.user("hi")),
                    RenderOptions.builder().includeSystem(true).build()));
        }
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> TinyTokenizerJson.json(List.of("<|im_end|>")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("special token");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> TinyTokenizerJson.json(List.of("a", "a")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("repeat");
    }
}

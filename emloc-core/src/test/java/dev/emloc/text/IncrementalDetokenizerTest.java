package dev.emloc.text;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IncrementalDetokenizerTest {

    private final QwenTokenizer qwen = QwenTokenizerFixture.tokenizer();

    @Test
    void neverEmitsHalfACharacterOfChineseOrEmoji() {
        String text = "龘𠀀 你好，世界！我们今天去爬长城吧。🧑‍🔬🦩👋🏽 naïve café 😀\n";
        long[] ids = qwen.encode(text);
        long splitTokens = Arrays.stream(ids)
                .filter(tokenId -> qwen.decode(new long[] {tokenId}).contains("\uFFFD"))
                .count();
        assertThat(splitTokens).as("tokens that end inside a character").isGreaterThanOrEqualTo(5);

        IncrementalDetokenizer detokenizer = new IncrementalDetokenizer(qwen);
        List<String> pieces = new ArrayList<>();
        for (long tokenId : ids) {
            pieces.add(detokenizer.accept(tokenId));
        }
        pieces.add(detokenizer.flush());

        assertThat(pieces).noneMatch(piece -> piece.contains("\uFFFD"));
        assertThat(pieces).contains("");
        assertThat(String.join("", pieces)).isEqualTo(qwen.decode(ids)).isEqualTo(text);
        assertThat(detokenizer.hasPendingBytes()).isFalse();
    }

    @Test
    void holdsBackAnUnfinishedCharacterUntilItsLastByteArrives() {
        long[] ids = qwen.encode("龘");
        assertThat(ids).hasSize(2);
        IncrementalDetokenizer detokenizer = new IncrementalDetokenizer(qwen);

        assertThat(detokenizer.accept(ids[0])).isEmpty();
        assertThat(detokenizer.hasPendingBytes()).isTrue();
        assertThat(detokenizer.accept(ids[1])).isEqualTo("龘");
        assertThat(detokenizer.hasPendingBytes()).isFalse();
    }

    @Test
    void flushGivesOutAnUnfinishedCharacterAsTheNativeDecoderDoes() {
        long first = qwen.encode("龘")[0];
        IncrementalDetokenizer detokenizer = new IncrementalDetokenizer(qwen);

        assertThat(detokenizer.accept(first)).isEmpty();
        assertThat(detokenizer.flush()).isEqualTo("\uFFFD").isEqualTo(qwen.decode(new long[] {first}));
        assertThat(detokenizer.flush()).isEmpty();
    }

    @Test
    void writesOrSkipsSpecialTokensLikeDecode() {
        long[] ids = qwen.encode("<|im_start|>assistant\n龘🦩<|im_end|><|endoftext|>");

        IncrementalDetokenizer keeping = new IncrementalDetokenizer(qwen);
        IncrementalDetokenizer skipping = new IncrementalDetokenizer(qwen, true);
        String kept = keeping.acceptAll(ids) + keeping.flush();
        String skipped = skipping.acceptAll(ids) + skipping.flush();

        assertThat(kept).isEqualTo("<|im_start|>assistant\n龘🦩<|im_end|><|endoftext|>").isEqualTo(qwen.decode(ids));
        assertThat(skipped).isEqualTo("assistant\n龘🦩").isEqualTo(qwen.decode(ids, true));
    }

    @Test
    void agreesWithTheNativeDecoderOnArbitraryBytes(@TempDir Path dir) {
        Path json = dir.resolve("tokenizer.json");
        TinyTokenizerJson.write(json);
        Random random = new Random(20240301);
        try (QwenTokenizer tiny = QwenTokenizer.load(json)) {
            for (int run = 0; run < 2000; run++) {
                // Mostly bytes of multi-byte characters, valid or not, with a few special tokens in between.
                long[] ids = new long[1 + random.nextInt(24)];
                for (int i = 0; i < ids.length; i++) {
                    int pick = random.nextInt(10);
                    ids[i] = pick == 0 ? 256 + random.nextInt(14) : pick < 4 ? random.nextInt(128) : 128 + random.nextInt(128);
                }
                boolean skipSpecial = random.nextBoolean();
                IncrementalDetokenizer detokenizer = new IncrementalDetokenizer(tiny, skipSpecial);
                StringBuilder streamed = new StringBuilder();
                for (long tokenId : ids) {
                    streamed.append(detokenizer.accept(tokenId));
                }
                streamed.append(detokenizer.flush());

                assertThat(streamed.toString())
                        .as("ids %s, skipSpecial %s", Arrays.toString(ids), skipSpecial)
                        .isEqualTo(tiny.decode(ids, skipSpecial));
            }
        }
    }
}

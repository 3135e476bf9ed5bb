package dev.emloc.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChatFormatVisionTest {

    private static QwenTokenizer tokenizer;
    private static ChatFormat chat;

    @BeforeAll
    static void load(@TempDir Path dir) {
        Path file = dir.resolve("tokenizer.json");
        TinyTokenizerJson.write(file);
        tokenizer = QwenTokenizer.load(file);
        chat = new ChatFormat(tokenizer);
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    private static final byte[] PICTURE = {1, 2, 3};

    @Test
    void imagesAndVideosRenderAsVisionBlocksInTheirPlace() {
        ChatMessage message = ChatMessage.user(ContentPart.image(PICTURE), ContentPart.text("What is it?"),
                ContentPart.video(List.of(PICTURE, PICTURE)));
        assertThat(chat.render(List.of(message), RenderOptions.builder().includeSystem(false).addGenerationPrompt(false).build()))
                .isEqualTo("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is it?"
                        + "<|vision_start|><|video_pad|><|vision_end|><|im_end|>\n");
        assertThat(message.text()).isEqualTo("What is it?");
        assertThat(message.hasVision()).isTrue();
    }

    @Test
    void eachPadIsExpandedToItsTokenCount() {
        ChatMessage message = ChatMessage.user(ContentPart.text("A"), ContentPart.image(PICTURE), ContentPart.text("B"),
                ContentPart.video(List.of(PICTURE)));
        RenderOptions options = RenderOptions.builder().includeSystem(false).addGenerationPrompt(false).build();
        long[] ids = chat.encode(List.of(message), options, List.of(3, 2));
        long start = tokenizer.tokenId(ChatFormat.VISION_START);
        long end = tokenizer.tokenId(ChatFormat.VISION_END);
        long image = tokenizer.tokenId(ChatFormat.IMAGE_PAD);
        long video = tokenizer.tokenId(ChatFormat.VIDEO_PAD);
        long[] head = tokenizer.encode("<|im_start|>user\nA");
        long[] expected = concat(head, new long[] {start, image, image, image, end}, tokenizer.encode("B"),
                new long[] {start, video, video, end}, tokenizer.encode("<|im_end|>\n"));
        assertThat(ids).containsExactly(expected);
    }

    private static long[] concat(long[]... parts) {
        long[] out = new long[0];
        for (long[] part : parts) {
            long[] joined = Arrays.copyOf(out, out.length + part.length);
            System.arraycopy(part, 0, joined, out.length, part.length);
            out = joined;
        }
        return out;
    }

    @Test
    void mismatchesAndWrittenOutPadsAreRefused() {
        ChatMessage withImage = ChatMessage.user(ContentPart.image(PICTURE), ContentPart.text("?"));
        RenderOptions options = RenderOptions.prompt();
        assertThatThrownBy(() -> chat.encode(List.of(withImage), options))
                .hasMessageContaining("visionTokenCounts");
        assertThatThrownBy(() -> chat.encode(List.of(withImage), options, List.of()))
                .hasMessageContaining("1 images/videos but 0 token counts");
        assertThatThrownBy(() -> chat.encode(List.of(ChatMessage.user(ContentPart.text("sneaky <|image_pad|>")),
                withImage), options, List.of(4)))
                .hasMessageContaining("written out");
        assertThatThrownBy(() -> new ChatMessage(ChatMessage.Role.ASSISTANT, List.of(ContentPart.image(PICTURE))))
                .hasMessageContaining("Only user messages");
        assertThatThrownBy(() -> ContentPart.video(List.of())).hasMessageContaining("at least one frame");
    }
}

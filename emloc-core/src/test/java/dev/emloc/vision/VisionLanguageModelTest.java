package dev.emloc.vision;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

import javax.imageio.ImageIO;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import dev.emloc.generate.FinishReason;
import dev.emloc.generate.Generation;
import dev.emloc.generate.GenerationSettings;
import dev.emloc.model.CheckpointException;
import dev.emloc.model.ForwardRequest;
import dev.emloc.model.KvCache;
import dev.emloc.model.Logits;
import dev.emloc.model.ModelConfig;
import dev.emloc.model.ModelOptions;
import dev.emloc.model.RandomCheckpoint;
import dev.emloc.text.ChatFormat;
import dev.emloc.text.ChatMessage;
import dev.emloc.text.ContentPart;
import dev.emloc.text.RenderOptions;
import dev.emloc.text.TinyTokenizerJson;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** End to end on a tiny random Qwen2-VL checkpoint: images through preprocessing, the tower and the decoder. */
class VisionLanguageModelTest {

    private static final VisionConfig VISION = new VisionConfig(2, 32, 4, 2, 3, 64, 14, 2, 2, VisionConfig.QUICK_GELU);
    private static Path checkpoint;
    private static VisionLanguageModel model;
    private static byte[] red;
    private static byte[] noise;
    private static byte[] wide;

    @BeforeAll
    static void load(@TempDir Path dir) throws IOException {
        Map<String, Integer> special = TinyTokenizerJson.specialTokenIds();
        ModelConfig config = ModelConfig.builder().vocabSize(TinyTokenizerJson.VOCAB_SIZE).hiddenSize(64).intermediateSize(96)
                .numLayers(2).numHeads(4).numKvHeads(2).eosTokenId(special.get(ChatFormat.IM_END))
                .imageTokenId(special.get(ChatFormat.IMAGE_PAD)).videoTokenId(special.get(ChatFormat.VIDEO_PAD))
                .visionStartTokenId(special.get(ChatFormat.VISION_START)).visionEndTokenId(special.get(ChatFormat.VISION_END))
                .build();
        // Small pictures: at most 56x84 pixels after resizing, i.e. at most 2x3 merged tokens.
        PreprocessorConfig preprocessing = PreprocessorConfig.qwen2VlDefaults().mutate().minPixels(28 * 28).maxPixels(56 * 84).build();
        checkpoint = RandomCheckpoint.builder(config).seed(5).initStd(0.2).vision(VISION).preprocessor(preprocessing)
                .tokenizer(TinyTokenizerJson::write).writeTo(dir.resolve("tiny-vl"));
        model = VisionLanguageModel.load(checkpoint, ModelOptions.cpu(), VisionLimits.builder().maxImagesPerRequest(3).build());
        red = png(60, 60, (x, y) -> 0xd02020);
        Random random = new Random(1);
        noise = png(40, 40, (x, y) -> random.nextInt(0xffffff));
        wide = png(90, 50, (x, y) -> (x * 2) << 8 | y * 4);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    interface Pixel {
        int rgb(int x, int y);
    }

    static byte[] png(int width, int height, Pixel pixel) throws IOException {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                image.setRGB(x, y, pixel.rgb(x, y));
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(image, "png", out);
        return out.toByteArray();
    }

    private static ChatMessage ask(byte[] image) {
        return ChatMessage.user(ContentPart.image(image), ContentPart.text("What colour?"));
    }

    private static float[] lastLogits(NDManager m, List<ChatMessage> messages) {
        PreparedPrompt prompt = model.prepare(m, messages, RenderOptions.prompt(), 0);
        return model.language().forward(ForwardRequest.embeddings(prompt.embeddings()).positionIds(prompt.positionIds()).build())
                .logits().toFloatArray();
    }

    private static float maxAbsDiff(float[] a, float[] b) {
        float worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        return worst;
    }

    @Test
    void aUserMessageWithAnImageRunsAndItsTokensAreSplicedIn() {
        try (NDManager m = model.language().newRequestManager()) {
            PreparedPrompt prompt = model.prepare(m, List.of(ask(red)), RenderOptions.prompt(), 0);
            assertThat(prompt.grids()).hasSize(1);
            int[] grid = prompt.grids().get(0); // 60x60 -> round(60/28) = 2 -> 56x56 -> 4x4 patches -> 2x2 merged
            assertThat(grid).containsExactly(1, 4, 4);
            long imagePad = model.tokenizer().tokenId(ChatFormat.IMAGE_PAD);
            int first = indexOf(prompt.tokenIds(), imagePad);
            assertThat(java.util.Arrays.stream(prompt.tokenIds()).filter(id -> id == imagePad).count()).isEqualTo(4);
            assertThat(prompt.embeddings().getShape()).isEqualTo(new Shape(1, prompt.length(), 64));
            // The text rows are plain token embeddings; the image rows are the vision tower's output.
            NDArray plain = model.language().embed(m.create(prompt.tokenIds(), new Shape(1, prompt.length())));
            assertThat(prompt.embeddings().get(new NDIndex(":, :{}", first)).sub(plain.get(new NDIndex(":, :{}", first)))
                    .abs().max().getFloat()).isZero();
            ProcessedVision processed = model.processor().processImage(ImageDecoder.withDefaults().decode(red));
            NDArray tower = model.vision().orElseThrow().encode(m.create(processed.pixelValues(),
                    new Shape(processed.patchCount(), processed.patchDim())), List.of(grid));
            assertThat(prompt.embeddings().get(new NDIndex("0, {}:{}", first, first + 4)).sub(tower).abs().max().getFloat())
                    .isZero();
            // Positions: the 2x2 image starts where the next text position would be and text resumes after max + 1.
            long[] t = prompt.positionIds().get(0).toLongArray();
            long[] h = prompt.positionIds().get(1).toLongArray();
            long[] w = prompt.positionIds().get(2).toLongArray();
            assertThat(new long[] {t[first], h[first], w[first + 1], h[first + 2], w[first + 3]})
                    .containsExactly(first, first, first + 1, first + 1, first + 1);
            assertThat(t[first + 4]).isEqualTo(first + 2);
            assertThat(prompt.nextOffset()).isEqualTo(prompt.length() - 4 + 2);
        }
    }

    private static int indexOf(long[] ids, long id) {
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] == id) {
                return i;
            }
        }
        return -1;
    }

    @Test
    void theImageChangesTheLogitsAndTheSameImageGivesTheSameLogits() {
        try (NDManager m = model.language().newRequestManager()) {
            float[] withRed = lastLogits(m, List.of(ask(red)));
            float[] withNoise = lastLogits(m, List.of(ask(noise)));
            float[] redAgain = lastLogits(m, List.of(ask(red)));
            assertThat(maxAbsDiff(withRed, withNoise)).isGreaterThan(1e-2f);
            assertThat(redAgain).containsExactly(withRed);
        }
    }

    @Test
    void twoImagesInOnePromptGetTheSameEmbeddingsAsEachAlone() {
        try (NDManager m = model.language().newRequestManager()) {
            PreparedPrompt both = model.prepare(m, List.of(ChatMessage.user(ContentPart.image(wide), ContentPart.text("and"),
                    ContentPart.image(noise))), RenderOptions.prompt(), 0);
            PreparedPrompt wideAlone = model.prepare(m, List.of(ChatMessage.user(ContentPart.image(wide))), RenderOptions.prompt(), 0);
            PreparedPrompt noiseAlone = model.prepare(m, List.of(ChatMessage.user(ContentPart.image(noise))), RenderOptions.prompt(), 0);
            long pad = model.tokenizer().tokenId(ChatFormat.IMAGE_PAD);
            NDArray visionRowsBoth = rows(both, pad);
            NDArray expected = ai.djl.ndarray.NDArrays.concat(new ai.djl.ndarray.NDList(rows(wideAlone, pad), rows(noiseAlone, pad)), 0);
            assertThat(visionRowsBoth.getShape()).isEqualTo(expected.getShape());
            assertThat(visionRowsBoth.sub(expected).abs().max().getFloat()).isLessThanOrEqualTo(1e-5f);
        }
    }

    private static NDArray rows(PreparedPrompt prompt, long pad) {
        long[] index = java.util.stream.IntStream.range(0, prompt.length()).filter(i -> prompt.tokenIds()[i] == pad)
                .asLongStream().toArray();
        NDArray flat = prompt.embeddings().get(0);
        return flat.get(new NDIndex("{}", flat.getManager().create(index)));
    }

    @Test
    void aQueryAfterACachedImageDemonstrationEqualsTheWholeConversationInOnePass() {
        List<ChatMessage> demo = List.of(ask(red), ChatMessage.assistant("red"));
        List<ChatMessage> query = List.of(ask(noise));
        try (NDManager m = model.language().newRequestManager(); KvCache cache = model.language().newCache(m)) {
            PreparedPrompt memory = model.prepare(m, demo, RenderOptions.builder().addGenerationPrompt(false).build(), 0);
            model.language().forward(ForwardRequest.embeddings(memory.embeddings()).positionIds(memory.positionIds())
                    .cache(cache).logits(Logits.none()).build());
            assertThat(cache.positionOffset()).isEqualTo(memory.nextOffset());
            PreparedPrompt ask = model.prepare(m, query, RenderOptions.builder().includeSystem(false).build(), memory.nextOffset());
            float[] continued = model.language().forward(ForwardRequest.embeddings(ask.embeddings())
                    .positionIds(ask.positionIds()).cache(cache).build()).logits().toFloatArray();
            List<ChatMessage> whole = new java.util.ArrayList<>(demo);
            whole.addAll(query);
            assertThat(maxAbsDiff(continued, lastLogits(m, whole))).isLessThanOrEqualTo(1e-4f);
        }
    }

    @Test
    void generationAnswersAQuestionAboutAPicture() {
        Generation answer = model.generate(List.of(ask(noise)), GenerationSettings.builder().maxNewTokens(6).build(), (id, t) -> { });
        assertThat(answer.completionTokens()).isBetween(1, 6);
        assertThat(answer.finishReason()).isIn(FinishReason.LENGTH, FinishReason.STOP);
        assertThat(answer.promptTokens()).isGreaterThan(4);
    }

    @Test
    void badImagesAndTooManyImagesAreRefusedWithClearErrors() {
        try (NDManager m = model.language().newRequestManager()) {
            assertThatThrownBy(() -> model.prepare(m, List.of(ask(new byte[] {1, 2, 3, 4})), RenderOptions.prompt(), 0))
                    .isInstanceOf(ImageInputException.class).hasMessageContaining("decode");
            ChatMessage four = ChatMessage.user(ContentPart.image(red), ContentPart.image(red), ContentPart.image(red),
                    ContentPart.image(red));
            assertThatThrownBy(() -> model.prepare(m, List.of(four), RenderOptions.prompt(), 0))
                    .isInstanceOf(ImageInputException.class).hasMessageContaining("4").hasMessageContaining("3");
        }
    }

    @Test
    void aCheckpointWithoutItsPreprocessorConfigIsRefused(@TempDir Path dir) throws IOException {
        Path copy = dir.resolve("copy");
        Files.createDirectories(copy);
        try (var files = Files.list(checkpoint)) {
            for (Path file : files.toList()) {
                if (!file.getFileName().toString().equals(PreprocessorConfig.FILE_NAME)) {
                    Files.copy(file, copy.resolve(file.getFileName()));
                }
            }
        }
        assertThatThrownBy(() -> VisionLanguageModel.load(copy, ModelOptions.cpu(), VisionLimits.defaults()))
                .isInstanceOf(CheckpointException.class).hasMessageContaining(PreprocessorConfig.FILE_NAME);
    }

    @Test
    void aTextOnlyModelRefusesImages(@TempDir Path dir) {
        ModelConfig text = ModelConfig.builder().modelType("qwen2").vocabSize(TinyTokenizerJson.VOCAB_SIZE).hiddenSize(64)
                .intermediateSize(96).numLayers(1).numHeads(4).numKvHeads(2).build();
        Path textOnly = RandomCheckpoint.builder(text).seed(2).tokenizer(TinyTokenizerJson::write).writeTo(dir.resolve("text"));
        try (VisionLanguageModel plain = VisionLanguageModel.load(textOnly, ModelOptions.cpu(), VisionLimits.defaults());
                NDManager m = plain.language().newRequestManager()) {
            assertThat(plain.vision()).isEmpty();
            assertThatThrownBy(() -> plain.prepare(m, List.of(ask(red)), RenderOptions.prompt(), 0))
                    .isInstanceOf(ImageInputException.class).hasMessageContaining("no vision tower");
            assertThat(plain.prepare(m, List.of(ChatMessage.user("hi")), RenderOptions.prompt(), 0).nextOffset()).isGreaterThan(3);
        }
    }
}

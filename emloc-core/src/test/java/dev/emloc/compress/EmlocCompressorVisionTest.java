package dev.emloc.compress;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import javax.imageio.ImageIO;

import ai.djl.ndarray.NDManager;
import dev.emloc.generate.Generation;
import dev.emloc.generate.GenerationSettings;
import dev.emloc.memory.CompressionSettings;
import dev.emloc.memory.Modality;
import dev.emloc.memory.TaskMemory;
import dev.emloc.model.ForwardRequest;
import dev.emloc.model.KvCache;
import dev.emloc.text.ChatMessage;
import dev.emloc.text.ContentPart;
import dev.emloc.text.RenderOptions;
import dev.emloc.vision.PreparedPrompt;
import dev.emloc.vision.VisionLanguageModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The compressor with image demonstrations on a tiny random Qwen2-VL. */
class EmlocCompressorVisionTest {

    private static VisionLanguageModel model;
    private static EmlocCompressor compressor;
    private static List<Demonstration> demos;
    private static byte[] query;

    @BeforeAll
    static void load(@TempDir Path dir) throws IOException {
        model = CompressorFixtures.tinyModel(dir, true, 4);
        compressor = new EmlocCompressor(model);
        demos = new ArrayList<>();
        String[] labels = {"dax", "wug", "blicket", "toma", "fep"};
        for (int i = 0; i < labels.length; i++) {
            demos.add(Demonstration.withImage(square(0x203040 * (i + 1)), "What is this?", labels[i]));
        }
        query = square(0x305070);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static byte[] square(int rgb) throws IOException {
        BufferedImage image = new BufferedImage(56, 56, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 56; y++) {
            for (int x = 0; x < 56; x++) {
                image.setRGB(x, y, (x / 14 + y / 14) % 2 == 0 ? rgb & 0xffffff : 0xf0f0f0);
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(image, "png", out);
        return out.toByteArray();
    }

    private static List<ChatMessage> ask() {
        return List.of(ChatMessage.user(ContentPart.image(query), ContentPart.text("What is this?")));
    }

    @Test
    void imageDemonstrationsCompressAndKeepingEverythingEqualsTheLongContext() {
        CompressionSettings keepAll = CompressionSettings.builder().demosPerChunk(2).retentionCandidates(List.of(1.0)).build();
        try (TaskMemory memory = compressor.compress("shapes", demos, keepAll);
                NDManager m = model.language().newRequestManager();
                KvCache cache = memory.newCache(m)) {
            assertThat(memory.report().seenByModality().get(Modality.IMAGE)).as("5 images of 2x2 merged tokens + markers")
                    .isEqualTo(5 * (4 + 2));
            List<ChatMessage> all = new ArrayList<>();
            demos.forEach(d -> all.addAll(d.messages()));
            all.addAll(ask());
            PreparedPrompt whole = model.prepare(m, all, RenderOptions.prompt(), 0);
            float[] expected = model.language().forward(ForwardRequest.embeddings(whole.embeddings())
                    .positionIds(whole.positionIds()).build()).logits().toFloatArray();
            PreparedPrompt q = model.prepare(m, ask(), VisionLanguageModel.QUERY_AFTER_MEMORY, memory.positionOffset());
            float[] actual = model.language().forward(ForwardRequest.embeddings(q.embeddings()).positionIds(q.positionIds())
                    .cache(cache).build()).logits().toFloatArray();
            float worst = 0;
            for (int i = 0; i < expected.length; i++) {
                worst = Math.max(worst, Math.abs(expected[i] - actual[i]));
            }
            assertThat(worst).isLessThanOrEqualTo(1e-4f);
        }
    }

    @Test
    void emlocPrunesImageTokensAndAnswersWithTheMemory() {
        CompressionSettings s = CompressionSettings.builder().demosPerChunk(2).jsThreshold(Double.POSITIVE_INFINITY).build();
        try (TaskMemory memory = compressor.compress("shapes", demos, s)) {
            var layer = memory.report().layers().get(0);
            assertThat(layer.kept()).isLessThan(memory.report().tokensSeen());
            assertThat(layer.keptByModality().getOrDefault(Modality.IMAGE, 0.0))
                    .isLessThan(memory.report().seenByModality().get(Modality.IMAGE));
            Generation answer = model.generate(memory, ask(), GenerationSettings.builder().maxNewTokens(4).build(), (id, t) -> { });
            assertThat(answer.completionTokens()).isBetween(1, 4);
        }
    }

    @Test
    void aMemoryBuiltForAnotherModelIsRefusedNamingBothModels(@TempDir Path dir) {
        try (VisionLanguageModel other = CompressorFixtures.tinyModel(dir, true, 99);
                TaskMemory foreign = new EmlocCompressor(other).compress("t", demos.subList(0, 1),
                        CompressionSettings.builder().demosPerChunk(1).build())) {
            assertThatThrownBy(() -> model.generate(foreign, ask(), GenerationSettings.builder().maxNewTokens(2).build(),
                    (id, t) -> { })).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining(foreign.modelFingerprint()).hasMessageContaining(model.language().fingerprint())
                    .hasMessageContaining("teaching the task again");
            assertThatThrownBy(() -> compressor.append(foreign, demos.subList(1, 2), CompressionListener.NONE, () -> false))
                    .hasMessageContaining("was built for model");
        }
    }
}

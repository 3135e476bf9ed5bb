package dev.emloc.compress;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import dev.emloc.model.ModelConfig;
import dev.emloc.model.ModelOptions;
import dev.emloc.model.RandomCheckpoint;
import dev.emloc.text.ChatFormat;
import dev.emloc.text.TinyTokenizerJson;
import dev.emloc.vision.PreprocessorConfig;
import dev.emloc.vision.VisionConfig;
import dev.emloc.vision.VisionLanguageModel;
import dev.emloc.vision.VisionLimits;

/** A tiny random Qwen2-VL and seeded demonstrations for the compressor tests (and other modules' tests, via the test jar). */
public final class CompressorFixtures {

    private CompressorFixtures() {
    }

    public static VisionLanguageModel tinyModel(Path dir, boolean vision, long seed) {
        return VisionLanguageModel.load(tinyCheckpoint(dir, vision, seed), ModelOptions.cpu(), VisionLimits.defaults());
    }

    /** Writes the checkpoint {@link #tinyModel} loads (config, safetensors, tokenizer, preprocessor) and returns its directory. */
    public static Path tinyCheckpoint(Path dir, boolean vision, long seed) {
        Map<String, Integer> special = TinyTokenizerJson.specialTokenIds();
        ModelConfig config = ModelConfig.builder().vocabSize(TinyTokenizerJson.VOCAB_SIZE).hiddenSize(64).intermediateSize(96)
                .numLayers(3).numHeads(4).numKvHeads(2).eosTokenId(special.get(ChatFormat.IM_END))
                .imageTokenId(special.get(ChatFormat.IMAGE_PAD)).videoTokenId(special.get(ChatFormat.VIDEO_PAD))
                .visionStartTokenId(special.get(ChatFormat.VISION_START)).visionEndTokenId(special.get(ChatFormat.VISION_END))
                .build();
        RandomCheckpoint.Builder builder = RandomCheckpoint.builder(config).seed(seed).initStd(0.25)
                .tokenizer(TinyTokenizerJson::write);
        if (vision) {
            builder.vision(new VisionConfig(1, 32, 4, 2, 3, 64, 14, 2, 2, VisionConfig.QUICK_GELU))
                    .preprocessor(PreprocessorConfig.qwen2VlDefaults().mutate().minPixels(28 * 28).maxPixels(56 * 56).build());
        }
        return builder.writeTo(dir.resolve(vision ? "tiny-vl" : "tiny"));
    }

    /** Short text demonstrations: a code and its colour. */
    public static List<Demonstration> textDemos(int count, long seed) {
        Random random = new Random(seed);
        String[] colours = {"red", "blue", "green", "amber"};
        List<Demonstration> demos = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String code = Integer.toString(100 + random.nextInt(900));
            demos.add(Demonstration.of("code " + code + "?", colours[random.nextInt(colours.length)]));
        }
        return demos;
    }
}

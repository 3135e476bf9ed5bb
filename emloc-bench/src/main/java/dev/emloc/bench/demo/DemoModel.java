package dev.emloc.bench.demo;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import ai.djl.ndarray.NDArray;
import dev.emloc.model.Checkpoint;
import dev.emloc.model.ModelConfig;
import dev.emloc.model.RandomCheckpoint;
import dev.emloc.model.SafetensorsWriter;
import dev.emloc.model.StorageType;
import dev.emloc.text.ChatFormat;
import dev.emloc.text.TinyTokenizerJson;
import dev.emloc.vision.PreprocessorConfig;
import dev.emloc.vision.VisionConfig;
import dev.emloc.vision.VisionLanguageModel;

/**
 * The demo model's shape and its checkpoint files: a tiny Qwen2-VL (the engine's own classes) with the
 * 270-token byte-level tokenizer plus the whole {@link #WORDS}. Language model: hidden 128, 4 layers, 4 heads of 32, 2 KV heads, MLP 256,
 * tied embeddings. Vision tower: embed 64, depth 2, 4 heads, MLP ratio 4, patch 14, merge 2, output 128.
 * About 0.9M parameters, 3.6 MB in float32.
 */
public final class DemoModel {

    private static final List<String> CARRIED_FILES = List.of(Checkpoint.CONFIG_FILE, Checkpoint.TOKENIZER_FILE,
            Checkpoint.GENERATION_CONFIG_FILE, PreprocessorConfig.FILE_NAME);

    /**
     * Words that the demo model's tokenizer keeps whole (added tokens after the 270 of the byte-level tokenizer): the
     * chat template's role names, the default system prompt and the questions of the task. With one token per byte
     * they made every demonstration about 35 tokens and put 14 tokens between a code and its label; whole, a
     * demonstration is about 18 tokens and the label follows its code 7 tokens later, which is what lets a model this
     * small learn to match them.
     */
    public static final List<String> WORDS = List.of("You are a helpful assistant.", "system", "user", "assistant",
            "What is", " this", "Describe", "Spell");

    private DemoModel() {
    }

    /** The language model's configuration ({@code qwen2_vl}, or {@code qwen2} for the text-only variant). */
    public static ModelConfig config(boolean textOnly) {
        Map<String, Integer> special = TinyTokenizerJson.specialTokenIds();
        return ModelConfig.builder().modelType(textOnly ? "qwen2" : "qwen2_vl").vocabSize(TinyTokenizerJson.VOCAB_SIZE + WORDS.size())
                .hiddenSize(128).intermediateSize(256).numLayers(4).numHeads(4).numKvHeads(2).headDim(32)
                .mropeSection(textOnly ? List.of(16, 0, 0) : List.of(4, 6, 6)).tieWordEmbeddings(true).ropeTheta(10000)
                .maxPositionEmbeddings(32768)
                .bosTokenId(special.get(ChatFormat.END_OF_TEXT)).eosTokenId(special.get(ChatFormat.IM_END))
                .imageTokenId(special.get(ChatFormat.IMAGE_PAD)).videoTokenId(special.get(ChatFormat.VIDEO_PAD))
                .visionStartTokenId(special.get(ChatFormat.VISION_START)).visionEndTokenId(special.get(ChatFormat.VISION_END))
                .build();
    }

    /** The vision tower's configuration. */
    public static VisionConfig visionConfig() {
        return new VisionConfig(2, 64, 4, 4, 3, 128, 14, 2, 2, VisionConfig.QUICK_GELU);
    }

    /** Writes the seeded random starting point of training into the empty directory {@code dir}. */
    public static Path writeInitial(Path dir, long seed, boolean textOnly) {
        RandomCheckpoint.Builder builder = RandomCheckpoint.builder(config(textOnly)).seed(seed).tokenizer(file -> TinyTokenizerJson.write(file, WORDS));
        if (!textOnly) {
            builder.vision(visionConfig());
        }
        return builder.writeTo(dir);
    }

    /** Copies the checkpoint directory {@code from} (its files, not subdirectories) into the directory {@code to}. */
    public static void copyFiles(Path from, Path to) {
        try (var files = Files.list(from)) {
            for (Path file : files.filter(Files::isRegularFile).toList()) {
                Files.copy(file, to.resolve(file.getFileName()), StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot copy the checkpoint " + from + " to " + to, e);
        }
    }

    /**
     * Rewrites the {@code preprocessor_config.json} of the checkpoint directory {@code dir} so that pictures are resized
     * to about {@code pixels} pixels: {@code min_pixels = pixels}, {@code max_pixels = 2 * pixels}. With the demo model's
     * patch 14 and merge 2, 784 (28 x 28) makes every picture whose long side is less than twice its short side one
     * merged vision token (the 56 x 56 drawings included), one of exactly 2:1 two, and refuses more elongated ones
     * ({@code smart_resize} cannot keep a side of 28); a {@code max_pixels} of exactly 784 would refuse every picture
     * that is not square.
     */
    public static void setImagePixels(Path dir, int pixels) {
        Path file = dir.resolve(PreprocessorConfig.FILE_NAME);
        PreprocessorConfig config = PreprocessorConfig.read(file);
        if (pixels < config.factor() * config.factor()) {
            throw new IllegalArgumentException("A picture needs at least " + config.factor() * config.factor()
                    + " pixels (one merged token of " + config.factor() + " x " + config.factor() + "), got " + pixels);
        }
        try {
            Files.writeString(file, config.mutate().minPixels(pixels).maxPixels(2 * pixels).build().toJson());
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot write " + file, e);
        }
    }

    /**
     * Writes {@code model}'s current weights as a checkpoint directory {@code out}, with the configuration,
     * tokenizer and preprocessor files of {@code template}. Files are written beside and moved in, so a reader never
     * sees half a file.
     */
    public static void save(VisionLanguageModel model, Path template, Path out) {
        try {
            Files.createDirectories(out);
            for (String file : CARRIED_FILES) {
                Path source = template.resolve(file);
                if (Files.isRegularFile(source) && !source.toAbsolutePath().equals(out.resolve(file).toAbsolutePath())) {
                    Files.copy(source, out.resolve(file), StandardCopyOption.REPLACE_EXISTING);
                }
            }
            Map<String, NDArray> weights = new LinkedHashMap<>(model.language().parameters());
            model.vision().ifPresent(tower -> weights.putAll(tower.parameters()));
            Path partial = out.resolve(Checkpoint.WEIGHTS_FILE + ".partial");
            SafetensorsWriter.writeArrays(partial, StorageType.F32, weights);
            Files.move(partial, out.resolve(Checkpoint.WEIGHTS_FILE), StandardCopyOption.REPLACE_EXISTING,
                    StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot save the demo model to " + out, e);
        }
    }
}

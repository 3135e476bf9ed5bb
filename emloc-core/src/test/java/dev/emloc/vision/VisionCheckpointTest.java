package dev.emloc.vision;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.emloc.model.Checkpoint;
import dev.emloc.model.CheckpointException;
import dev.emloc.model.ModelConfig;
import dev.emloc.model.ModelOptions;
import dev.emloc.model.RandomCheckpoint;
import dev.emloc.model.SafetensorsWriter;
import dev.emloc.model.StorageType;
import dev.emloc.model.WeightNames;
import dev.emloc.text.TinyTokenizerJson;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Vision towers in generated checkpoint directories: every storage type, both name layouts, broken weights. */
class VisionCheckpointTest {

    private static final VisionConfig VISION = VisionFixtures.tinyConfig(2);
    private static final List<int[]> GRIDS = List.of(new int[] {1, 4, 6}, new int[] {2, 2, 2});
    private static final float[] PIXELS = VisionFixtures.pixels(VISION, 32, 21);

    @TempDir
    Path tmp;

    private static ModelConfig languageModel() {
        return ModelConfig.builder().vocabSize(TinyTokenizerJson.VOCAB_SIZE).hiddenSize(48).intermediateSize(64).numLayers(1)
                .numHeads(4).numKvHeads(2).build();
    }

    private Path write(String name, StorageType dtype, int shards) {
        return RandomCheckpoint.builder(languageModel()).seed(5).dtype(dtype).shards(shards).vision(VISION)
                .tokenizer(TinyTokenizerJson::write).writeTo(tmp.resolve(name));
    }

    private static float[] encode(Path dir, ModelOptions options) {
        try (Checkpoint checkpoint = Checkpoint.open(dir);
                VisionTower tower = VisionTower.load(checkpoint, VisionConfig.read(dir.resolve(Checkpoint.CONFIG_FILE)).orElseThrow(),
                        options);
                NDManager m = tower.newRequestManager()) {
            return tower.encode(VisionFixtures.rows(m, VISION, PIXELS, 0, 32), GRIDS).toType(DataType.FLOAT32, false)
                    .toFloatArray();
        }
    }

    @Test
    void randomCheckpointWritesVisionWeightsAndConfig() {
        Path dir = write("f32", StorageType.F32, 1);
        assertThat(VisionConfig.read(dir.resolve(Checkpoint.CONFIG_FILE))).contains(VISION);
        try (Checkpoint checkpoint = Checkpoint.open(dir); NDManager m = NDManager.newBaseManager()) {
            assertThat(checkpoint.config()).isEqualTo(languageModel());
            assertThat(checkpoint.tensorNames()).containsAll(WeightNames.visionShapes(VISION).keySet())
                    .containsAll(WeightNames.languageModelTensorNames(languageModel()));
            assertThat(checkpoint.info(WeightNames.visionPatchEmbed()).ndShape()).isEqualTo(new Shape(32, 3, 2, 14, 14));
            NDArray norm = checkpoint.load(m, WeightNames.visionBlock(1, "norm2.weight"), DataType.FLOAT32);
            NDArray bias = checkpoint.load(m, WeightNames.visionBlock(1, "norm2.bias"), DataType.FLOAT32);
            NDArray scale = checkpoint.load(m, WeightNames.visionMerger("ln_q.weight"), DataType.FLOAT32);
            assertThat(norm.mean().getFloat()).isBetween(0.95f, 1.05f);
            assertThat(scale.mean().getFloat()).isBetween(0.95f, 1.05f);
            assertThat(bias.abs().max().getFloat()).isLessThan(0.2f);
        }
        Path textOnly = RandomCheckpoint.builder(languageModel()).seed(5).tokenizer(TinyTokenizerJson::write)
                .writeTo(tmp.resolve("text"));
        assertThat(VisionConfig.read(textOnly.resolve(Checkpoint.CONFIG_FILE))).isEmpty();
        try (Checkpoint with = Checkpoint.open(dir); Checkpoint without = Checkpoint.open(textOnly);
                NDManager m = NDManager.newBaseManager()) {
            String name = WeightNames.layer(0, WeightNames.Q_PROJ_WEIGHT);
            assertThat(with.load(m, name, DataType.FLOAT32).toFloatArray())
                    .as("adding a vision tower leaves the language model's weights as they were")
                    .containsExactly(without.load(m, name, DataType.FLOAT32).toFloatArray());
            assertThat(without.tensorNames()).noneMatch(tensor -> tensor.startsWith("visual."));
        }
    }

    @Test
    void float32ShardedBfloat16AndFloat16LoadsRunTheSameTower() {
        Path f32 = write("f32", StorageType.F32, 1);
        float[] single = encode(f32, ModelOptions.cpu());
        assertThat(encode(write("sharded", StorageType.F32, 3), ModelOptions.cpu())).containsExactly(single);
        float bf16Error = VisionFixtures.maxAbsDiff(single, encode(write("bf16", StorageType.BF16, 1), ModelOptions.cpu()));
        assertThat(bf16Error).as("bf16 rounding moves the output a little, not a lot").isGreaterThan(0f).isLessThan(0.05f);
        float halfError = VisionFixtures.maxAbsDiff(single, encode(f32, ModelOptions.parse("cpu", "float16")));
        assertThat(halfError).isLessThan(0.05f);

        try (Checkpoint checkpoint = Checkpoint.open(f32); VisionTower tower = VisionTower.load(checkpoint, VISION,
                ModelOptions.parse("cpu", "float16"))) {
            assertThat(tower.dtype()).isEqualTo(DataType.FLOAT16);
            assertThat(tower.parameters().get(WeightNames.visionMerger("ln_q.bias")).getDataType()).isEqualTo(DataType.FLOAT32);
            assertThat(tower.parameters().get(WeightNames.visionMerger("mlp.0.bias")).getDataType()).isEqualTo(DataType.FLOAT16);
            assertThat(tower.parameterCount()).isEqualTo(WeightNames.visionShapes(VISION).values().stream().mapToLong(Shape::size).sum());
        }
    }

    @Test
    void newerTransformersNamesUnderModelVisualLoadTheSameTower() throws IOException {
        Path f32 = write("f32", StorageType.F32, 1);
        Path renamed = Files.createDirectories(tmp.resolve("renamed"));
        Files.copy(f32.resolve(Checkpoint.CONFIG_FILE), renamed.resolve(Checkpoint.CONFIG_FILE));
        Files.copy(f32.resolve(Checkpoint.TOKENIZER_FILE), renamed.resolve(Checkpoint.TOKENIZER_FILE));
        try (Checkpoint checkpoint = Checkpoint.open(f32); NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> arrays = new LinkedHashMap<>();
            for (String name : checkpoint.tensorNames()) {
                arrays.put(name.startsWith("visual.") ? "model." + name : name, checkpoint.load(m, name, DataType.FLOAT32));
            }
            SafetensorsWriter.writeArrays(renamed.resolve(Checkpoint.WEIGHTS_FILE), StorageType.F32, arrays);
        }
        assertThat(encode(renamed, ModelOptions.cpu())).containsExactly(encode(f32, ModelOptions.cpu()));
    }

    @Test
    void aMissingOrMisshapenVisionTensorIsNamed() throws IOException {
        String missing = WeightNames.visionBlock(1, "attn.proj.bias");
        Map<String, Shape> shapes = new LinkedHashMap<>(WeightNames.visionShapes(VISION));
        shapes.remove(missing);
        try (Checkpoint checkpoint = Checkpoint.open(zeros("missing", shapes))) {
            assertThatThrownBy(() -> VisionTower.load(checkpoint, VISION, ModelOptions.cpu()))
                    .isInstanceOf(CheckpointException.class).hasMessageContaining(missing);
        }

        String bent = WeightNames.visionMerger("mlp.2.weight");
        Map<String, Shape> wrong = new LinkedHashMap<>(WeightNames.visionShapes(VISION));
        wrong.put(bent, new Shape(49, 128));
        try (Checkpoint checkpoint = Checkpoint.open(zeros("shape", wrong))) {
            assertThatThrownBy(() -> VisionTower.load(checkpoint, VISION, ModelOptions.cpu()))
                    .isInstanceOf(CheckpointException.class)
                    .hasMessageContaining(bent).hasMessageContaining("(49, 128)").hasMessageContaining("(48, 128)");
        }
    }

    /** A checkpoint directory whose weights are zero-filled tensors of {@code shapes} (the language model left out). */
    private Path zeros(String name, Map<String, Shape> shapes) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(name));
        Files.writeString(dir.resolve(Checkpoint.CONFIG_FILE), languageModel().toJson());
        TinyTokenizerJson.write(dir.resolve(Checkpoint.TOKENIZER_FILE));
        Map<String, SafetensorsWriter.FloatTensor> tensors = new LinkedHashMap<>();
        shapes.forEach((tensor, shape) -> tensors.put(tensor, new SafetensorsWriter.FloatTensor(shape, new float[(int) shape.size()])));
        SafetensorsWriter.write(dir.resolve(Checkpoint.WEIGHTS_FILE), StorageType.F32, tensors);
        return dir;
    }
}

package dev.emloc.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.offset;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RandomCheckpointTest {

    @TempDir
    Path tmp;

    @Test
    void namesFollowTheTransformersLayout() {
        assertThat(WeightNames.layer(3, WeightNames.Q_PROJ_WEIGHT)).isEqualTo("model.layers.3.self_attn.q_proj.weight");
        assertThat(WeightNames.embedTokens()).isEqualTo("model.embed_tokens.weight");
        assertThat(WeightNames.finalNorm()).isEqualTo("model.norm.weight");
        assertThat(WeightNames.lmHead()).isEqualTo("lm_head.weight");

        Map<String, Shape> shapes = WeightNames.languageModelShapes(CheckpointFixtures.tinyConfig());
        assertThat(shapes).hasSize(1 + 2 * 12 + 2);
        assertThat(shapes.get("model.layers.1.self_attn.k_proj.weight")).isEqualTo(new Shape(16, 32));   // G*D = 2*8
        assertThat(shapes.get("model.layers.1.self_attn.k_proj.bias")).isEqualTo(new Shape(16));
        assertThat(shapes.get("model.layers.0.self_attn.o_proj.weight")).isEqualTo(new Shape(32, 32));
        assertThat(shapes.get("model.layers.0.mlp.down_proj.weight")).isEqualTo(new Shape(32, 64));
        assertThat(shapes.get("lm_head.weight")).isEqualTo(new Shape(300, 32));
        assertThat(shapes).doesNotContainKey("model.layers.0.self_attn.o_proj.bias");

        ModelConfig halfBillion = ModelConfig.qwen2HalfBillionShape();
        Map<String, Shape> large = WeightNames.languageModelShapes(halfBillion);
        assertThat(large).doesNotContainKey(WeightNames.lmHead());
        assertThat(large.get("model.layers.0.self_attn.q_proj.weight")).isEqualTo(new Shape(896, 896));
        assertThat(large.get("model.layers.0.self_attn.v_proj.weight")).isEqualTo(new Shape(128, 896));
        assertThat(large.values().stream().mapToLong(Shape::size).sum()).as("Qwen2-0.5B parameters").isEqualTo(494_032_768L);
    }

    @Test
    void writesACompleteCheckpoint() throws IOException {
        ModelConfig tied = ModelConfig.builder().vocabSize(300).hiddenSize(32).intermediateSize(64).numLayers(2).numHeads(4)
                .numKvHeads(2).tieWordEmbeddings(true).build();
        Path dir = RandomCheckpoint.builder(tied).seed(1).dtype(StorageType.BF16).eosTokenIds(List.of(5, 6))
                .tokenizer(CheckpointFixtures::writeTokenizer).writeTo(tmp.resolve("nested/dir"));

        assertThat(Files.readString(dir.resolve("config.json"))).contains("\"torch_dtype\" : \"bfloat16\"");
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            assertThat(checkpoint.config()).isEqualTo(tied);
            assertThat(checkpoint.tensorNames()).containsExactlyInAnyOrderElementsOf(WeightNames.languageModelTensorNames(tied))
                    .doesNotContain(WeightNames.lmHead());
            assertThat(checkpoint.generationDefaults().eosTokenIds()).containsExactly(5, 6);
            assertThat(checkpoint.info(WeightNames.embedTokens()).dtype()).isEqualTo(TensorDtype.BF16);
        }

        Path copied = RandomCheckpoint.builder(tied).tokenizer(dir.resolve("tokenizer.json")).writeTo(tmp.resolve("copied"));
        assertThat(Files.readString(copied.resolve("tokenizer.json"))).isEqualTo(Files.readString(dir.resolve("tokenizer.json")));
    }

    @Test
    void drawsWeightsWithTheRequestedStatistics() {
        ModelConfig config = ModelConfig.builder().vocabSize(2000).hiddenSize(64).intermediateSize(128).numLayers(1).numHeads(4)
                .numKvHeads(2).build();
        Path dir = RandomCheckpoint.builder(config).seed(3).initStd(0.02).normStd(0.05)
                .tokenizer(CheckpointFixtures::writeTokenizer).writeTo(tmp.resolve("stats"));
        try (NDManager manager = NDManager.newBaseManager(); Checkpoint checkpoint = Checkpoint.open(dir)) {
            float[] embedding = checkpoint.load(manager, WeightNames.embedTokens(), DataType.FLOAT32).toFloatArray();  // 128k values
            assertThat(mean(embedding)).isCloseTo(0, offset(0.0005));
            assertThat(std(embedding)).isCloseTo(0.02, offset(0.0005));

            float[] norms = concat(checkpoint.load(manager, WeightNames.layer(0, WeightNames.INPUT_LAYERNORM), DataType.FLOAT32),
                    checkpoint.load(manager, WeightNames.layer(0, WeightNames.POST_ATTENTION_LAYERNORM), DataType.FLOAT32),
                    checkpoint.load(manager, WeightNames.finalNorm(), DataType.FLOAT32));
            assertThat(mean(norms)).isCloseTo(1, offset(0.015));
            assertThat(std(norms)).isCloseTo(0.05, offset(0.01));

            float[] bias = checkpoint.load(manager, WeightNames.layer(0, WeightNames.Q_PROJ_BIAS), DataType.FLOAT32).toFloatArray();
            assertThat(std(bias)).isCloseTo(0.02, offset(0.005));
        }
    }

    @Test
    void valuesDependOnlyOnSeedAndName() {
        ModelConfig fourLayers = ModelConfig.builder().vocabSize(300).hiddenSize(32).intermediateSize(64).numLayers(4).numHeads(4)
                .numKvHeads(2).eosTokenId(7).build();
        Path a = CheckpointFixtures.randomTiny(tmp.resolve("a"), 5, StorageType.F32, 1);
        Path b = RandomCheckpoint.builder(fourLayers).seed(5).initStd(0.5).shards(5)
                .tokenizer(CheckpointFixtures::writeTokenizer).writeTo(tmp.resolve("b"));
        Path c = CheckpointFixtures.randomTiny(tmp.resolve("c"), 6, StorageType.F32, 1);
        try (NDManager manager = NDManager.newBaseManager();
                Checkpoint first = Checkpoint.open(a); Checkpoint second = Checkpoint.open(b); Checkpoint third = Checkpoint.open(c)) {
            assertThat(second.config().numLayers()).isEqualTo(4);
            for (String name : List.of(WeightNames.finalNorm(), WeightNames.embedTokens(), WeightNames.layer(1, WeightNames.UP_PROJ_WEIGHT))) {
                float[] values = first.load(manager, name, DataType.FLOAT32).toFloatArray();
                assertThat(second.load(manager, name, DataType.FLOAT32).toFloatArray()).as(name).containsExactly(values);
                assertThat(third.load(manager, name, DataType.FLOAT32).toFloatArray()).as(name).isNotEqualTo(values);
            }
            NDArray q0 = first.load(manager, WeightNames.layer(0, WeightNames.Q_PROJ_WEIGHT), DataType.FLOAT32);
            NDArray q1 = first.load(manager, WeightNames.layer(1, WeightNames.Q_PROJ_WEIGHT), DataType.FLOAT32);
            assertThat(q0.toFloatArray()).as("each tensor has its own stream").isNotEqualTo(q1.toFloatArray());
        }
    }

    @Test
    void shardsIntoTheRequestedNumberOfNonEmptyFiles() throws IOException {
        int tensorCount = WeightNames.languageModelShapes(CheckpointFixtures.tinyConfig()).size();
        Path dir = CheckpointFixtures.randomTiny(tmp.resolve("many"), 1, StorageType.F16, tensorCount);
        String lastShard = String.format("model-%05d-of-%05d.safetensors", tensorCount, tensorCount);
        assertThat(dir.resolve(lastShard)).isRegularFile();
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            assertThat(checkpoint.tensorNames()).hasSize(tensorCount);
            assertThat(checkpoint.info(WeightNames.lmHead()).file().getFileName().toString()).isEqualTo(lastShard);
        }
        assertThatThrownBy(() -> CheckpointFixtures.randomTiny(tmp.resolve("too-many"), 1, StorageType.F32, tensorCount + 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("Cannot split 27 tensors into 28 shards");
    }

    @Test
    void refusesToOverwriteWeightsOrToGoWithoutATokenizer() {
        Path dir = CheckpointFixtures.randomTiny(tmp.resolve("once"), 1, StorageType.F32, 1);
        assertThatThrownBy(() -> CheckpointFixtures.randomTiny(dir, 1, StorageType.F32, 3))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("already holds weights [model.safetensors]");

        assertThatThrownBy(() -> RandomCheckpoint.builder(CheckpointFixtures.tinyConfig()).writeTo(tmp.resolve("no-tokenizer")))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("call tokenizer(Path) or tokenizer(TokenizerWriter)");
        assertThatThrownBy(() -> RandomCheckpoint.builder(CheckpointFixtures.tinyConfig()).shards(0))
                .hasMessageContaining("shards must be at least 1, got 0");
    }

    private static float[] concat(NDArray... arrays) {
        int length = 0;
        for (NDArray array : arrays) {
            length += (int) array.size();
        }
        float[] all = new float[length];
        int at = 0;
        for (NDArray array : arrays) {
            float[] values = array.toFloatArray();
            System.arraycopy(values, 0, all, at, values.length);
            at += values.length;
        }
        return all;
    }

    private static double mean(float[] values) {
        double sum = 0;
        for (float value : values) {
            sum += value;
        }
        return sum / values.length;
    }

    private static double std(float[] values) {
        double mean = mean(values);
        double sum = 0;
        for (float value : values) {
            sum += (value - mean) * (value - mean);
        }
        return Math.sqrt(sum / values.length);
    }
}

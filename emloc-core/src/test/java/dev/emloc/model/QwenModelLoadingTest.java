package dev.emloc.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The decoder loaded from real checkpoint directories in every storage layout. */
class QwenModelLoadingTest {

    @TempDir
    Path dir;

    private static float[] logits(Path checkpointDir, ModelOptions options) {
        try (Checkpoint checkpoint = Checkpoint.open(checkpointDir); QwenModel model = QwenModel.load(checkpoint, options);
                NDManager m = model.newRequestManager()) {
            assertThat(model.fingerprint()).isEqualTo(checkpoint.fingerprint());
            NDArray ids = m.create(new long[] {5, 17, 260, 3, 99, 42}, new Shape(1, 6));
            return model.forward(ForwardRequest.tokens(ids).logits(Logits.all()).build()).logits().toFloatArray();
        }
    }

    private static float maxAbsDiff(float[] a, float[] b) {
        float worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        return worst;
    }

    @Test
    void singleFileShardedAndBfloat16CheckpointsRunTheSameModel() {
        float[] single = logits(CheckpointFixtures.randomTiny(dir.resolve("f32"), 21, StorageType.F32, 1), ModelOptions.cpu());
        float[] sharded = logits(CheckpointFixtures.randomTiny(dir.resolve("sharded"), 21, StorageType.F32, 3), ModelOptions.cpu());
        float[] bf16 = logits(CheckpointFixtures.randomTiny(dir.resolve("bf16"), 21, StorageType.BF16, 1), ModelOptions.cpu());
        assertThat(sharded).containsExactly(single);
        float bf16Error = maxAbsDiff(single, bf16);
        assertThat(bf16Error).as("bf16 rounding moves logits a little, not a lot").isGreaterThan(0f).isLessThan(0.5f);
        float[] other = logits(CheckpointFixtures.randomTiny(dir.resolve("other"), 22, StorageType.F32, 1), ModelOptions.cpu());
        assertThat(maxAbsDiff(single, other)).as("another seed is another model").isGreaterThan(1f);
    }

    @Test
    void float16ModelAgreesWithFloat32() {
        Path checkpoint = CheckpointFixtures.randomTiny(dir.resolve("f32"), 23, StorageType.F32, 1);
        float[] full = logits(checkpoint, ModelOptions.cpu());
        float[] half = logits(checkpoint, ModelOptions.parse("cpu", "float16"));
        assertThat(maxAbsDiff(full, half)).isLessThan(0.1f);
    }

    @Test
    void aMissingOrMisshapenTensorIsNamedWhenTheModelLoads() throws IOException {
        ModelConfig config = CheckpointFixtures.tinyConfig();
        Map<String, Shape> shapes = new LinkedHashMap<>(WeightNames.languageModelShapes(config));
        String missing = WeightNames.layer(1, "mlp.up_proj.weight");
        shapes.remove(missing);
        Path noTensor = CheckpointFixtures.emptyCheckpoint(dir.resolve("missing"), config);
        writeZeros(noTensor.resolve(Checkpoint.WEIGHTS_FILE), shapes);
        try (Checkpoint checkpoint = Checkpoint.open(noTensor)) {
            assertThatThrownBy(() -> QwenModel.load(checkpoint, ModelOptions.cpu()))
                    .isInstanceOf(CheckpointException.class).hasMessageContaining(missing);
        }

        Map<String, Shape> wrong = new LinkedHashMap<>(WeightNames.languageModelShapes(config));
        String bent = WeightNames.layer(0, "self_attn.k_proj.weight");
        wrong.put(bent, new Shape(config.kvDim() + 1, config.hiddenSize()));
        Path wrongShape = CheckpointFixtures.emptyCheckpoint(dir.resolve("shape"), config);
        writeZeros(wrongShape.resolve(Checkpoint.WEIGHTS_FILE), wrong);
        try (Checkpoint checkpoint = Checkpoint.open(wrongShape)) {
            assertThatThrownBy(() -> QwenModel.load(checkpoint, ModelOptions.cpu()))
                    .isInstanceOf(CheckpointException.class)
                    .hasMessageContaining(bent).hasMessageContaining("(17, 32)").hasMessageContaining("(16, 32)");
        }
    }

    private static void writeZeros(Path file, Map<String, Shape> shapes) {
        Map<String, SafetensorsWriter.FloatTensor> tensors = new LinkedHashMap<>();
        shapes.forEach((name, shape) -> tensors.put(name, new SafetensorsWriter.FloatTensor(shape, new float[(int) shape.size()])));
        SafetensorsWriter.write(file, StorageType.F32, tensors);
    }

    @Test
    void unknownDevicesAndDtypesAreRefusedWithWhatToUse() {
        assertThatThrownBy(() -> ModelOptions.parse("tpu", "float32")).hasMessageContaining("use auto, cpu, gpu or gpu:N");
        assertThatThrownBy(() -> ModelOptions.parse("cpu", "int8")).hasMessageContaining("use float32 or float16");
        assertThatThrownBy(() -> ModelOptions.parse("gpu:3", "float32")).hasMessageContaining("docs/gpu.md");
        assertThat(ModelOptions.parse(" CPU ", "fp16").dtype()).isEqualTo(DataType.FLOAT16);
        assertThat(ModelOptions.parse("auto", "float32").device().isGpu()).isEqualTo(ai.djl.engine.Engine.getInstance().getGpuCount() > 0);
    }
}

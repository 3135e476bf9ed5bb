package dev.emloc.vision;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;

import ai.djl.engine.Engine;
import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.training.GradientCollector;
import dev.emloc.model.FreedMemory;
import dev.emloc.model.GradMode;
import dev.emloc.model.WeightNames;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The vision tower against a plain-Java reference, and its segment, memory and input contracts. */
class VisionTowerTest {

    private static final long SEED = 11;
    private static final VisionConfig CONFIG = VisionFixtures.tinyConfig(2);
    private static VisionTower tower;

    @BeforeAll
    static void load() {
        tower = VisionFixtures.tower(CONFIG, SEED, DataType.FLOAT32);
    }

    @AfterAll
    static void close() {
        tower.close();
    }

    private static float[] encode(VisionTower tower, float[] pixels, int from, int to, List<int[]> grids) {
        try (NDManager m = tower.newRequestManager()) {
            return tower.encode(VisionFixtures.rows(m, tower.config(), pixels, from, to), grids).toFloatArray();
        }
    }

    private static float[] slice(float[] values, int fromRow, int toRow, int width) {
        return java.util.Arrays.copyOfRange(values, fromRow * width, toRow * width);
    }

    @Test
    void outputHasOneRowPerMergeWindowOfTheLanguageModelWidth() {
        List<int[]> grids = List.of(new int[] {1, 4, 6}, new int[] {2, 2, 2});
        float[] pixels = VisionFixtures.pixels(CONFIG, 32, 1);
        try (NDManager m = tower.newRequestManager()) {
            NDArray input = VisionFixtures.rows(m, CONFIG, pixels, 0, 32);
            NDArray out = tower.encode(input, grids);
            assertThat(out.getShape()).isEqualTo(new Shape(8, 48));
            assertThat(out.getDataType()).isEqualTo(DataType.FLOAT32);
            assertThat(out.getManager()).isSameAs(m);
        }
        assertThat(tower.outputTokens(new int[] {1, 4, 6})).isEqualTo(6);
        assertThat(tower.outputTokens(new int[] {2, 2, 2})).isEqualTo(2);
        assertThat(tower.outputTokens(new int[] {1, 36, 36})).isEqualTo(324);
    }

    @Test
    void imagesEncodedTogetherGiveWhatEachGivesAlone() {
        int[] first = {1, 4, 6};
        int[] second = {1, 2, 2};
        float[] pixels = VisionFixtures.pixels(CONFIG, 28, 2);
        float[] together = encode(tower, pixels, 0, 28, List.of(first, second));
        float[] alone1 = encode(tower, pixels, 0, 24, List.of(first));
        float[] alone2 = encode(tower, pixels, 24, 28, List.of(second));
        assertThat(VisionFixtures.maxAbsDiff(slice(together, 0, 6, 48), alone1)).isLessThanOrEqualTo(1e-5f);
        assertThat(VisionFixtures.maxAbsDiff(slice(together, 6, 7, 48), alone2)).isLessThanOrEqualTo(1e-5f);

        float[] swapped = encode(tower, pixels, 0, 28, List.of(new int[] {1, 6, 4}, second));
        assertThat(VisionFixtures.maxAbsDiff(slice(swapped, 0, 6, 48), alone1))
                .as("the grid's shape decides the positions, so another shape is another encoding").isGreaterThan(1e-2f);
    }

    @Test
    void aVideoAttendsWithinEachTemporalSliceLikeTransformersCuSeqlens() {
        // cu_seqlens = repeat_interleave(h * w, t).cumsum(): one segment per temporal slice, positions repeated over t
        int[] video = {2, 2, 4};
        float[] pixels = VisionFixtures.pixels(CONFIG, 16, 3);
        float[] whole = encode(tower, pixels, 0, 16, List.<int[]>of(video));
        float[] frame0 = encode(tower, pixels, 0, 8, List.<int[]>of(new int[] {1, 2, 4}));
        float[] frame1 = encode(tower, pixels, 8, 16, List.<int[]>of(new int[] {1, 2, 4}));
        assertThat(VisionFixtures.maxAbsDiff(slice(whole, 0, 2, 48), frame0)).isLessThanOrEqualTo(1e-5f);
        assertThat(VisionFixtures.maxAbsDiff(slice(whole, 2, 4, 48), frame1)).isLessThanOrEqualTo(1e-5f);
        float[] oneSegment = encode(tower, pixels, 0, 16, List.<int[]>of(new int[] {1, 4, 4}));
        assertThat(VisionFixtures.maxAbsDiff(whole, oneSegment)).as("attending across slices would differ").isGreaterThan(1e-2f);
    }

    @Test
    void towerAgreesWithAPlainJavaReferenceOfTheTransformersDefinitions() {
        VisionConfig oneBlock = VisionFixtures.tinyConfig(1);
        List<int[]> grids = List.of(new int[] {1, 4, 6}, new int[] {2, 2, 4}, new int[] {1, 2, 2});
        int n = VisionFixtures.patches(grids);
        float[] pixels = VisionFixtures.pixels(oneBlock, n, 4);
        float[] actual;
        try (VisionTower small = VisionFixtures.tower(oneBlock, SEED, DataType.FLOAT32)) {
            actual = encode(small, pixels, 0, n, grids);
        }
        float[] expected = flatten(new VisionReference(oneBlock, SEED, true).encode(pixels, grids));
        float[] raster = flatten(new VisionReference(oneBlock, SEED, false).encode(pixels, grids));
        assertThat(actual).hasSize(n / 4 * 48);
        assertThat(VisionFixtures.maxAbsDiff(actual, expected)).isLessThanOrEqualTo(1e-4f);
        assertThat(VisionFixtures.maxAbsDiff(actual, raster)).as("raster-order positions would be caught").isGreaterThan(1e-2f);
    }

    @Test
    void patchEmbeddingAsOneMatmulEqualsTheConv3dDefinition() {
        VisionConfig config = VisionFixtures.tinyConfig(1);
        Shape kernelShape = WeightNames.visionShapes(config).get(WeightNames.visionPatchEmbed());
        float[] pixels = VisionFixtures.pixels(config, 3, 5);
        double[][] expected = new VisionReference(config, SEED, true).patchEmbed(pixels, 3);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray kernel = m.create(VisionFixtures.weight(SEED, WeightNames.visionPatchEmbed(), kernelShape), kernelShape);
            PatchEmbed embed = new PatchEmbed(kernel, config.embedDim(), config.patchInputDim());
            float[] actual = embed.forward(VisionFixtures.rows(m, config, pixels, 0, 3)).toFloatArray();
            assertThat(VisionFixtures.maxAbsDiff(actual, flatten(expected))).isLessThanOrEqualTo(1e-4f);
        }
    }

    @Test
    void queryBlockingDoesNotChangeTheResult() {
        List<int[]> grids = List.of(new int[] {1, 4, 6}, new int[] {1, 2, 2});
        float[] pixels = VisionFixtures.pixels(CONFIG, 28, 6);
        float[] whole = encode(tower, pixels, 0, 28, grids);
        long saved = VisionAttention.scoreBlockBytes;
        try {
            VisionAttention.scoreBlockBytes = 4L * CONFIG.numHeads() * 24 * 5; // 5 query rows of the 24-patch segment
            assertThat(VisionFixtures.maxAbsDiff(encode(tower, pixels, 0, 28, grids), whole)).isLessThanOrEqualTo(1e-5f);
        } finally {
            VisionAttention.scoreBlockBytes = saved;
        }
    }

    @Test
    void float16TowerAgreesWithFloat32() {
        List<int[]> grids = List.<int[]>of(new int[] {1, 4, 4});
        float[] pixels = VisionFixtures.pixels(CONFIG, 16, 7);
        float[] full = encode(tower, pixels, 0, 16, grids);
        try (VisionTower half = VisionFixtures.tower(CONFIG, SEED, DataType.FLOAT16); NDManager m = half.newRequestManager()) {
            assertThat(half.parameters().get(WeightNames.visionBlock(0, "norm1.weight")).getDataType()).isEqualTo(DataType.FLOAT32);
            assertThat(half.parameters().get(WeightNames.visionBlock(0, "attn.qkv.weight")).getDataType())
                    .isEqualTo(DataType.FLOAT16);
            NDArray out = half.encode(VisionFixtures.rows(m, CONFIG, pixels, 0, 16), grids);
            assertThat(out.getDataType()).isEqualTo(DataType.FLOAT16);
            float[] halfValues = out.toType(DataType.FLOAT32, false).toFloatArray();
            float scale = 0;
            for (float value : full) {
                scale = Math.max(scale, Math.abs(value));
            }
            assertThat(VisionFixtures.maxAbsDiff(full, halfValues)).isLessThan(0.02f * scale);
        }
    }

    @Test
    void repeatedEncodesDoNotGrowNativeMemory() {
        List<int[]> grids = List.of(new int[] {1, 4, 6}, new int[] {2, 2, 2});
        float[] pixels = VisionFixtures.pixels(CONFIG, 32, 8);
        int before = tower.liveArrayCount();
        for (int i = 0; i < 20; i++) {
            try (NDManager m = tower.newRequestManager()) {
                NDArray input = VisionFixtures.rows(m, CONFIG, pixels, 0, 32);
                tower.encode(input, grids);
                assertThat(((BaseNDManager) m).getManagedArrays()).as("only the input and the result remain")
                        .hasSize(2);
            }
        }
        assertThat(tower.liveArrayCount()).isEqualTo(before);
    }

    @Test
    void trainingGradientsAreTheSameWhenAGarbageCollectionRunsBeforeTheBackwardPass() throws Exception {
        // The query scale and QuickGELU's 1.702 were multiplied as Java numbers: DJL made them arrays over Java-owned
        // memory and freed them, while autograd kept them for the backward pass (see OwnedArrays).
        List<int[]> grids = List.of(new int[] {1, 4, 4});
        float[] pixels = VisionFixtures.pixels(CONFIG, 16, 5);
        List<String> names = List.of(WeightNames.visionPatchEmbed(), WeightNames.visionBlock(0, "attn.qkv.weight"),
                WeightNames.visionBlock(1, "mlp.fc1.weight"));
        try (VisionTower trainable = VisionFixtures.tower(CONFIG, SEED, DataType.FLOAT32);
                NDManager m = trainable.newRequestManager()) {
            trainable.parameters().values().forEach(w -> w.setRequiresGradient(true));
            NDArray input = VisionFixtures.rows(m, CONFIG, pixels, 0, 16);
            NDArray direction = m.randomNormal(new Shape(4, CONFIG.hiddenSize()));
            List<float[]> expected = null;
            for (int round = 0; round < 4; round++) {
                try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                    NDArray loss = trainable.encode(input, grids, true).mul(direction).sum();
                    if (round > 0) {
                        assertThat(FreedMemory.overwrite()).isPositive();
                    }
                    collector.backward(loss);
                    List<float[]> gradients = new ArrayList<>();
                    for (String name : names) {
                        try (NDArray gradient = trainable.parameters().get(name).getGradient()) {
                            gradients.add(gradient.toFloatArray());
                            gradient.set(new NDIndex(":"), 0);
                        }
                    }
                    if (expected == null) {
                        expected = gradients;
                    } else {
                        for (int i = 0; i < names.size(); i++) {
                            assertThat(gradients.get(i)).as("%s, round %d", names.get(i), round)
                                    .containsExactly(expected.get(i), org.assertj.core.data.Offset.offset(1e-5f));
                        }
                    }
                }
            }
            assertThat(expected.get(0)).as("the gradient reaches the patch embedding").isNotEqualTo(new float[expected.get(0).length]);
        }
    }

    @Test
    void gradModeIsOffAfterAnEncodeOnAWorkerThread() throws Exception {
        float[] pixels = VisionFixtures.pixels(CONFIG, 4, 9);
        boolean[] mode = new boolean[1];
        Thread worker = new Thread(() -> {
            encode(tower, pixels, 0, 4, List.<int[]>of(new int[] {1, 2, 2}));
            mode[0] = GradMode.isEnabledOnThisThread();
        });
        worker.start();
        worker.join();
        assertThat(mode[0]).isFalse();
    }

    @Test
    void djlGeluIsTheExactErfForm() {
        try (NDManager m = NDManager.newBaseManager()) {
            float[] xs = {-3f, -1f, -0.5f, 0.5f, 1f, 2f};
            float[] actual = Activation.gelu(m.create(xs)).toFloatArray();
            for (int i = 0; i < xs.length; i++) {
                double exact = 0.5 * xs[i] * (1 + VisionReference.erf(xs[i] / Math.sqrt(2)));
                double tanh = 0.5 * xs[i] * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (xs[i] + 0.044715 * Math.pow(xs[i], 3))));
                assertThat((double) actual[i]).isCloseTo(exact, org.assertj.core.data.Offset.offset(1e-6));
                if (xs[i] == 1f) {
                    assertThat(Math.abs(actual[i] - tanh)).as("distinguishable from the tanh form").isGreaterThan(1e-4);
                }
            }
        }
        assertThat(VisionReference.erf(1.0)).isCloseTo(0.8427007929497149, org.assertj.core.data.Offset.offset(1e-12));
        assertThat(VisionReference.erf(-3.5)).isCloseTo(-0.9999992569016276, org.assertj.core.data.Offset.offset(1e-10));
    }

    @Test
    void badInputsAreRefusedWithWhatIsWrong() {
        try (NDManager m = tower.newRequestManager()) {
            NDArray rows = VisionFixtures.rows(m, CONFIG, VisionFixtures.pixels(CONFIG, 8, 10), 0, 8);
            assertThatThrownBy(() -> tower.encode(rows, List.<int[]>of(new int[] {1, 4, 4})))
                    .hasMessageContaining("8 patch rows").hasMessageContaining("{1, 4, 4}").hasMessageContaining("16");
            assertThatThrownBy(() -> tower.encode(rows, List.<int[]>of(new int[] {1, 2, 3})))
                    .hasMessageContaining("multiples of spatial_merge_size 2");
            assertThatThrownBy(() -> tower.encode(rows, List.of())).hasMessageContaining("at least one");
            assertThatThrownBy(() -> tower.encode(rows, List.<int[]>of(new int[] {2, 4}))).hasMessageContaining("{t, h, w}");
            NDArray narrow = m.zeros(new Shape(8, 100));
            assertThatThrownBy(() -> tower.encode(narrow, List.<int[]>of(new int[] {2, 2, 2})))
                    .hasMessageContaining("(patches, 1176)").hasMessageContaining("(8, 100)");
        }
    }

    private static float[] flatten(double[][] rows) {
        List<Float> values = new ArrayList<>();
        for (double[] row : rows) {
            for (double value : row) {
                values.add((float) value);
            }
        }
        float[] out = new float[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = values.get(i);
        }
        return out;
    }
}

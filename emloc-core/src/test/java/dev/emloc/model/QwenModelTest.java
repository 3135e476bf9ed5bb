package dev.emloc.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class QwenModelTest {

    private static ModelConfig config;
    private static QwenModel model;

    @BeforeAll
    static void load() {
        config = RandomWeights.tinyConfig();
        model = RandomWeights.model(config, 7);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static NDArray ids(NDManager manager, int batch, int length, long seed) {
        Random random = new Random(seed);
        long[] values = new long[batch * length];
        for (int i = 0; i < values.length; i++) {
            values[i] = random.nextInt(config.vocabSize());
        }
        return manager.create(values, new Shape(batch, length));
    }

    private static float maxAbsDiff(NDArray a, NDArray b) {
        assertThat(a.getShape()).isEqualTo(b.getShape());
        return a.sub(b).abs().max().getFloat();
    }

    @Test
    void tokenByTokenThroughTheCacheEqualsOnePass() {
        try (NDManager m = model.newRequestManager(); KvCache cache = model.newCache(m)) {
            NDArray ids = ids(m, 1, 12, 1);
            NDArray full = model.forward(ForwardRequest.tokens(ids).logits(Logits.all()).build()).logits(); // (1, 12, V)
            float worst = 0;
            for (int t = 0; t < 12; t++) {
                NDArray step = ids.get(new NDIndex(":, {}:{}", t, t + 1));
                ForwardResult result = model.forward(ForwardRequest.tokens(step).cache(cache).build());
                worst = Math.max(worst, maxAbsDiff(result.logits(), full.get(new NDIndex(":, {}:{}", t, t + 1))));
                assertThat(cache.positionOffset()).isEqualTo(t + 1);
            }
            assertThat(worst).isLessThanOrEqualTo(1e-4f);
            for (int l = 0; l < config.numLayers(); l++) {
                assertThat(cache.length(l)).isEqualTo(12);
            }
            assertThat(full.abs().max().getFloat()).as("logits are not trivially zero").isGreaterThan(0.1f);
        }
    }

    @Test
    void queryAfterAPrefixBuiltFromAContextEqualsContextPlusQueryInOnePass() {
        try (NDManager m = model.newRequestManager()) {
            NDArray context = ids(m, 1, 20, 2);
            NDArray queries = ids(m, 3, 6, 3);
            List<NDArray> keys = new ArrayList<>();
            List<NDArray> values = new ArrayList<>();
            int offset;
            try (KvCache building = model.newCache(m)) {
                model.forward(ForwardRequest.tokens(context).cache(building).logits(Logits.none()).build());
                offset = building.positionOffset();
                for (int l = 0; l < config.numLayers(); l++) {
                    NDArray[] copy = building.copyOf(l, m);
                    keys.add(copy[0]);
                    values.add(copy[1]);
                }
            }
            assertThat(offset).isEqualTo(20);
            // Batch of three queries against one shared prefix of batch 1 (folded matmul path).
            try (KvCache prefixed = KvCache.withPrefix(m, keys, values, offset)) {
                NDArray batched = model.forward(ForwardRequest.tokens(queries).cache(prefixed).logits(Logits.all()).build())
                        .logits();
                assertThat(prefixed.prefixLength(0)).isEqualTo(20);
                assertThat(prefixed.length(0)).isEqualTo(26);
                for (int row = 0; row < 3; row++) {
                    NDArray query = queries.get(new NDIndex("{}:{}", row, row + 1));
                    NDArray joined = NDArrays.concat(new NDList(context, query), 1);
                    NDArray onePass = model.forward(ForwardRequest.tokens(joined).logits(Logits.all()).build()).logits()
                            .get(new NDIndex(":, 20:"));
                    assertThat(maxAbsDiff(batched.get(new NDIndex("{}:{}", row, row + 1)), onePass)).isLessThanOrEqualTo(1e-4f);
                }
            }
            assertThat(keys.get(0).isReleased()).as("a prefix is never closed by the cache").isFalse();
        }
    }

    @Test
    void hidingKeysFromLaterQueriesEqualsAttendingToAPrunedCache() {
        int context = 12;
        int chunk = 8;
        try (NDManager m = model.newRequestManager()) {
            NDArray a = ids(m, 1, context, 21);
            NDArray b = ids(m, 1, chunk, 22);
            // Reference: the context encoded into a cache, each layer pruned to its own kept keys, then the chunk after it.
            Random random = new Random(23);
            List<NDArray> keys = new ArrayList<>();
            List<NDArray> values = new ArrayList<>();
            int[][] visible = new int[config.numLayers()][context + chunk];
            try (KvCache building = model.newCache(m)) {
                model.forward(ForwardRequest.tokens(a).cache(building).logits(Logits.none()).build());
                for (int l = 0; l < config.numLayers(); l++) {
                    List<Long> kept = new ArrayList<>();
                    for (int j = 0; j < context + chunk; j++) {
                        boolean hidden = j < context && random.nextDouble() < 0.5 + 0.1 * l;
                        visible[l][j] = hidden ? context : context + chunk;
                        if (j < context && !hidden) {
                            kept.add((long) j);
                        }
                    }
                    NDArray index = m.create(kept.stream().mapToLong(Long::longValue).toArray());
                    NDArray[] copy = building.copyOf(l, m);
                    keys.add(copy[0].get(new NDIndex(":, :, {}", index)));
                    values.add(copy[1].get(new NDIndex(":, :, {}", index)));
                }
            }
            NDArray pruned;
            try (KvCache prefixed = KvCache.withPrefix(m, keys, values, context)) {
                pruned = model.forward(ForwardRequest.tokens(b).cache(prefixed).logits(Logits.all()).build()).logits();
            }
            // One pass over [context ; chunk] with the pruned keys hidden from the chunk's queries (row 0); row 1 hides nothing.
            NDArray joined = NDArrays.concat(new NDList(a, b), 1).repeat(0, 2);
            int[] flat = new int[config.numLayers() * 2 * (context + chunk)];
            for (int l = 0; l < config.numLayers(); l++) {
                System.arraycopy(visible[l], 0, flat, l * 2 * (context + chunk), context + chunk);
                java.util.Arrays.fill(flat, (l * 2 + 1) * (context + chunk), (l * 2 + 2) * (context + chunk), context + chunk);
            }
            NDArray visibility = m.create(flat, new Shape(config.numLayers(), 2, context + chunk));
            NDArray masked = model.forward(ForwardRequest.tokens(joined).keyVisibleBefore(visibility).logits(Logits.all())
                    .build()).logits();
            NDArray plain = model.forward(ForwardRequest.tokens(joined).logits(Logits.all()).build()).logits();
            assertThat(maxAbsDiff(masked.get(new NDIndex("0:1, {}:", context)), pruned)).isLessThanOrEqualTo(1e-4f);
            assertThat(maxAbsDiff(masked.get(new NDIndex("0:1, :{}", context)), plain.get(new NDIndex("0:1, :{}", context))))
                    .as("the context's own rows still see all of it").isLessThanOrEqualTo(1e-5f);
            assertThat(maxAbsDiff(masked.get(new NDIndex("1:2")), plain.get(new NDIndex("1:2"))))
                    .as("a row that hides nothing").isLessThanOrEqualTo(1e-5f);
            assertThat(maxAbsDiff(pruned, plain.get(new NDIndex("0:1, {}:", context))))
                    .as("pruning changes the chunk's logits, so the comparison above means something").isGreaterThan(1e-3f);
            // The probe sees the same hidden keys: zero probability on them.
            AttentionProbe probe = AttentionProbe.of(new int[] {context + chunk - 1}, KeyRange.all());
            NDArray probs = model.forward(ForwardRequest.tokens(joined).keyVisibleBefore(visibility).probe(probe)
                    .logits(Logits.none()).build()).attention().get(0);
            for (int j = 0; j < context; j++) {
                if (visible[0][j] == context) {
                    assertThat(probs.get(new NDIndex("0, :, 0, {}", j)).max().getFloat()).isLessThan(1e-6f);
                }
            }
        }
    }

    @Test
    void startingAtAnyLayerFromTheRecordedHiddenStateReproducesTheLogits() {
        try (NDManager m = model.newRequestManager(); KvCache cache = model.newCache(m)) {
            model.forward(ForwardRequest.tokens(ids(m, 1, 9, 4)).cache(cache).logits(Logits.none()).build());
            NDArray query = ids(m, 2, 5, 5);
            ForwardResult reference = model.forward(ForwardRequest.tokens(query).cache(cache).readOnlyCache()
                    .recordHiddenStates().logits(Logits.all()).build());
            assertThat(cache.length(0)).as("read-only cache is unchanged").isEqualTo(9);
            assertThat(reference.hiddenStates()).hasSize(config.numLayers());
            for (int l = 0; l < config.numLayers(); l++) {
                ForwardResult resumed = model.forward(ForwardRequest.fromLayer(l, reference.hiddenStates().get(l))
                        .cache(cache).readOnlyCache().logits(Logits.all()).build());
                assertThat(maxAbsDiff(resumed.logits(), reference.logits())).as("layer %d", l).isLessThanOrEqualTo(1e-5f);
            }
        }
    }

    @Test
    void forTextAPlainQwen2ModelAndItsQwen2VlTwinGiveTheSameLogits() {
        ModelConfig text = ModelConfig.builder().modelType("qwen2").vocabSize(config.vocabSize()).hiddenSize(config.hiddenSize())
                .intermediateSize(config.intermediateSize()).numLayers(config.numLayers()).numHeads(config.numHeads())
                .numKvHeads(config.numKvHeads()).ropeTheta(config.ropeTheta()).build();
        assertThat(text.mropeSection()).containsExactly(8, 0, 0);
        try (QwenModel plain = RandomWeights.model(text, 7); NDManager m = model.newRequestManager()) {
            NDArray ids = ids(m, 1, 11, 15);
            NDArray a = model.forward(ForwardRequest.tokens(ids).logits(Logits.all()).build()).logits();
            NDArray b = plain.forward(ForwardRequest.tokens(ids).logits(Logits.all()).outputManager(m).build()).logits();
            assertThat(maxAbsDiff(a, b)).isLessThanOrEqualTo(1e-5f);
        }
    }

    @Test
    void logitsAtChosenBatchRowAndPositionPairsAreThoseOfTheFullForward() {
        try (NDManager m = model.newRequestManager()) {
            NDArray ids = ids(m, 3, 6, 16);
            NDArray all = model.forward(ForwardRequest.tokens(ids).logits(Logits.all()).build()).logits(); // (3, 6, V)
            NDArray pairs = model.forward(ForwardRequest.tokens(ids).logits(Logits.pairs(new int[] {2, 0, 2}, new int[] {5, 1, 0}))
                    .build()).logits();
            assertThat(pairs.getShape()).isEqualTo(new Shape(1, 3, config.vocabSize()));
            assertThat(maxAbsDiff(pairs.get(0).get(0), all.get(2).get(5))).isLessThanOrEqualTo(1e-6f);
            assertThat(maxAbsDiff(pairs.get(0).get(1), all.get(0).get(1))).isLessThanOrEqualTo(1e-6f);
            assertThat(maxAbsDiff(pairs.get(0).get(2), all.get(2).get(0))).isLessThanOrEqualTo(1e-6f);
            assertThatThrownBy(() -> Logits.pairs(new int[] {0}, new int[] {1, 2})).hasMessageContaining("as many");
        }
    }

    @Test
    void queryBlockingDoesNotChangeTheResult() {
        long saved = Attention.scoreBlockBytes;
        try (NDManager m = model.newRequestManager()) {
            NDArray ids = ids(m, 2, 17, 6);
            NDArray whole = model.forward(ForwardRequest.tokens(ids).logits(Logits.all()).build()).logits();
            Attention.scoreBlockBytes = 1; // one query row per block
            NDArray blocked = model.forward(ForwardRequest.tokens(ids).logits(Logits.all()).build()).logits();
            assertThat(maxAbsDiff(whole, blocked)).isLessThanOrEqualTo(1e-5f);
        } finally {
            Attention.scoreBlockBytes = saved;
        }
    }

    @Test
    void attentionProbabilitiesHaveTheRightShapeRowsSumToOneAndRespectCausality() {
        try (NDManager m = model.newRequestManager(); KvCache cache = model.newCache(m)) {
            model.forward(ForwardRequest.tokens(ids(m, 1, 10, 7)).cache(cache).logits(Logits.none()).build());
            int[] rows = {1, 3, 4};
            ForwardResult result = model.forward(ForwardRequest.tokens(ids(m, 2, 5, 8)).cache(cache).readOnlyCache()
                    .probe(AttentionProbe.of(rows, KeyRange.all())).logits(Logits.none()).build());
            assertThat(result.attention()).containsOnlyKeys(0, 1, 2);
            NDArray probs = result.attention().get(1);
            assertThat(probs.getShape()).isEqualTo(new Shape(2, config.numHeads(), 3, 15));
            float[] sums = probs.sum(new int[] {-1}).toFloatArray();
            for (float sum : sums) {
                assertThat(sum).isCloseTo(1f, org.assertj.core.data.Offset.offset(1e-5f));
            }
            // Query row 1 sits at key index 11: keys 12..14 are in its future.
            assertThat(probs.get(new NDIndex(":, :, 0, 12:")).abs().max().getFloat()).isZero();
            assertThat(probs.get(new NDIndex(":, :, 0, :12")).min().getFloat()).isGreaterThan(0f);

            NDArray onlyAfterPrefix = model.forward(ForwardRequest.tokens(ids(m, 2, 5, 8)).cache(cache).readOnlyCache()
                    .probe(AttentionProbe.of(rows, KeyRange.newTokens()).onlyLayers(2)).logits(Logits.none()).build())
                    .attention().get(2);
            assertThat(onlyAfterPrefix.getShape()).isEqualTo(new Shape(2, config.numHeads(), 3, 5));
            assertThat(maxAbsDiff(onlyAfterPrefix, result.attention().get(2).get(new NDIndex("..., 10:"))))
                    .isLessThanOrEqualTo(1e-6f);
        }
    }

    /**
     * Layer 0's attention probabilities recomputed in plain Java, in double precision, from the weights:
     * RMSNorm, biased projections, multimodal rotary positions (three different components, as an image
     * has), grouped heads, scaling and causal softmax.
     */
    @Test
    void attentionProbabilitiesMatchAPlainJavaComputation() {
        int tokens = 6;
        // text, text, a 2x2 "image" at temporal 2 (h, w vary), then text continuing from max + 1
        long[][] positions = {{0, 1, 2, 2, 2, 2}, {0, 1, 2, 2, 3, 3}, {0, 1, 2, 3, 2, 3}};
        try (NDManager m = model.newRequestManager()) {
            NDArray ids = ids(m, 1, tokens, 9);
            long[] flat = new long[3 * tokens];
            for (int c = 0; c < 3; c++) {
                System.arraycopy(positions[c], 0, flat, c * tokens, tokens);
            }
            int[] rows = {0, 1, 2, 3, 4, 5};
            ForwardResult result = model.forward(ForwardRequest.tokens(ids).positionIds(m.create(flat, new Shape(3, 1, tokens)))
                    .probe(AttentionProbe.of(rows, KeyRange.all()).onlyLayers(0)).logits(Logits.none()).build());
            assertThat(result.nextPositionOffset()).isEqualTo(4);
            double[][][] expected = referenceLayerZeroAttention(ids.toLongArray(), positions);
            float[] actual = result.attention().get(0).toFloatArray(); // (1, H, T, T)
            double worst = 0;
            for (int h = 0; h < config.numHeads(); h++) {
                for (int i = 0; i < tokens; i++) {
                    for (int j = 0; j < tokens; j++) {
                        worst = Math.max(worst, Math.abs(actual[(h * tokens + i) * tokens + j] - expected[h][i][j]));
                    }
                }
            }
            assertThat(worst).isLessThanOrEqualTo(2e-5);
        }
    }

    private static double[][][] referenceLayerZeroAttention(long[] ids, long[][] positions) {
        var p = model.parameters();
        int hidden = config.hiddenSize();
        int d = config.headDim();
        int heads = config.numHeads();
        int kvHeads = config.numKvHeads();
        int t = ids.length;
        float[] embed = p.get(WeightNames.embedTokens()).toFloatArray();
        float[] norm = p.get(WeightNames.layer(0, "input_layernorm.weight")).toFloatArray();
        float[] wq = p.get(WeightNames.layer(0, "self_attn.q_proj.weight")).toFloatArray();
        float[] bq = p.get(WeightNames.layer(0, "self_attn.q_proj.bias")).toFloatArray();
        float[] wk = p.get(WeightNames.layer(0, "self_attn.k_proj.weight")).toFloatArray();
        float[] bk = p.get(WeightNames.layer(0, "self_attn.k_proj.bias")).toFloatArray();
        double[][] q = new double[t][heads * d];
        double[][] k = new double[t][kvHeads * d];
        for (int i = 0; i < t; i++) {
            double[] x = new double[hidden];
            double sq = 0;
            for (int c = 0; c < hidden; c++) {
                x[c] = embed[(int) ids[i] * hidden + c];
                sq += x[c] * x[c];
            }
            double inv = 1 / Math.sqrt(sq / hidden + config.rmsNormEps());
            for (int c = 0; c < hidden; c++) {
                x[c] = x[c] * inv * norm[c];
            }
            for (int o = 0; o < heads * d; o++) {
                double s = bq[o];
                for (int c = 0; c < hidden; c++) {
                    s += wq[o * hidden + c] * x[c];
                }
                q[i][o] = s;
            }
            for (int o = 0; o < kvHeads * d; o++) {
                double s = bk[o];
                for (int c = 0; c < hidden; c++) {
                    s += wk[o * hidden + c] * x[c];
                }
                k[i][o] = s;
            }
            long[] position = {positions[0][i], positions[1][i], positions[2][i]};
            rotate(q[i], heads, d, position);
            rotate(k[i], kvHeads, d, position);
        }
        double[][][] probs = new double[heads][t][t];
        for (int h = 0; h < heads; h++) {
            int g = h / (heads / kvHeads);
            for (int i = 0; i < t; i++) {
                double[] scores = new double[i + 1];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j <= i; j++) {
                    double s = 0;
                    for (int c = 0; c < d; c++) {
                        s += q[i][h * d + c] * k[j][g * d + c];
                    }
                    scores[j] = s / Math.sqrt(d);
                    max = Math.max(max, scores[j]);
                }
                double total = 0;
                for (int j = 0; j <= i; j++) {
                    scores[j] = Math.exp(scores[j] - max);
                    total += scores[j];
                }
                for (int j = 0; j <= i; j++) {
                    probs[h][i][j] = scores[j] / total;
                }
            }
        }
        return probs;
    }

    /**
     * Multimodal RoPE: pair (c, c + d/2) of each head rotated by position[component(c)] * theta^(-2c/d),
     * where frequency c belongs to the t, h or w component by the mrope sections.
     */
    private static void rotate(double[] v, int heads, int d, long[] position) {
        List<Integer> section = config.mropeSection();
        for (int h = 0; h < heads; h++) {
            for (int c = 0; c < d / 2; c++) {
                int component = c < section.get(0) ? 0 : c < section.get(0) + section.get(1) ? 1 : 2;
                double angle = position[component] * Math.pow(config.ropeTheta(), -2.0 * c / d);
                double a = v[h * d + c];
                double b = v[h * d + c + d / 2];
                v[h * d + c] = a * Math.cos(angle) - b * Math.sin(angle);
                v[h * d + c + d / 2] = b * Math.cos(angle) + a * Math.sin(angle);
            }
        }
    }

    @Test
    void forwardRunsUnderAGradientCollectorAndItsGradientMatchesFiniteDifferences() {
        String name = WeightNames.layer(1, "self_attn.q_proj.weight");
        int element = 37;
        float eps = 1e-2f;
        try (QwenModel trainable = RandomWeights.model(config, 11);
                QwenModel plus = RandomWeights.model(config, 11, name, element, eps);
                QwenModel minus = RandomWeights.model(config, 11, name, element, -eps);
                NDManager m = trainable.newRequestManager()) {
            trainable.parameters().values().forEach(w -> w.setRequiresGradient(true));
            NDArray ids = ids(m, 2, 7, 12);
            // a seeded direction, so that every run checks the same element of the same gradient
            java.util.Random seeded = new java.util.Random(5);
            float[] values = new float[2 * 7 * config.vocabSize()];
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) seeded.nextGaussian();
            }
            NDArray direction = m.create(values, new Shape(2, 7, config.vocabSize()));
            float analytic;
            try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                NDArray logits = trainable.forward(ForwardRequest.tokens(ids).logits(Logits.all()).training().build()).logits();
                collector.backward(logits.mul(direction).sum());
                analytic = trainable.parameters().get(name).getGradient().toFloatArray()[element];
            }
            NDArray logitsPlus = plus.forward(ForwardRequest.tokens(ids).logits(Logits.all()).outputManager(m).build()).logits();
            NDArray logitsMinus = minus.forward(ForwardRequest.tokens(ids).logits(Logits.all()).outputManager(m).build())
                    .logits();
            // difference the logits before summing: subtracting two large float32 sums loses the few digits that
            // carry the derivative (that made this check fail now and then)
            float numeric = logitsPlus.sub(logitsMinus).mul(direction).sum().getFloat() / (2 * eps);
            assertThat(Math.abs(analytic)).isGreaterThan(1e-3f);
            assertThat(analytic).isCloseTo(numeric, org.assertj.core.data.Percentage.withPercentage(3));
            assertThat(GradMode.isEnabledOnThisThread()).isFalse();
        }
    }

    @Test
    void gradientsAreTheSameWhenAGarbageCollectionRunsBeforeTheBackwardPass() throws Exception {
        // Autograd keeps some operands of the forward for the backward pass: the index that picks the chosen logit
        // rows, the scale of the queries. Made by DJL from Java values, they wrapped Java-owned memory that a garbage
        // collection freed before the backward read it (see OwnedArrays): rare non-finite gradients in training.
        // FreedMemory makes that happen every time, so before the fix this test failed on its first round.
        int[] batchRows = {1, 0, 1};
        int[] positions = {6, 2, 0};
        List<String> names = List.of(WeightNames.lmHead(), WeightNames.layer(0, "self_attn.q_proj.weight"),
                WeightNames.layer(1, "mlp.gate_proj.weight"));
        try (QwenModel trainable = RandomWeights.model(config, 11); NDManager m = trainable.newRequestManager()) {
            trainable.parameters().values().forEach(w -> w.setRequiresGradient(true));
            NDArray ids = ids(m, 2, 7, 12);
            Random seeded = new Random(3);
            float[] values = new float[batchRows.length * config.vocabSize()];
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) seeded.nextGaussian();
            }
            NDArray direction = m.create(values, new Shape(1, batchRows.length, config.vocabSize()));
            List<float[]> expected = new ArrayList<>();
            try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                NDArray all = trainable.forward(ForwardRequest.tokens(ids).logits(Logits.all()).training().build()).logits();
                long[] flat = new long[batchRows.length];
                for (int i = 0; i < flat.length; i++) {
                    flat[i] = (long) batchRows[i] * 7 + positions[i];
                }
                NDArray chosen = all.reshape(2 * 7, config.vocabSize()).get(new NDIndex("{}", m.create(flat))).expandDims(0);
                collector.backward(chosen.mul(direction).sum()); // no collection here: m keeps every operand alive
                for (String name : names) {
                    expected.add(trainable.parameters().get(name).getGradient().toFloatArray());
                }
            }
            zeroGradients(trainable);
            for (int round = 0; round < 3; round++) {
                try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                    NDArray pairs = trainable.forward(ForwardRequest.tokens(ids).logits(Logits.pairs(batchRows, positions))
                            .training().build()).logits();
                    NDArray loss = pairs.mul(direction).sum();
                    assertThat(FreedMemory.overwrite()).isPositive();
                    collector.backward(loss);
                    for (int i = 0; i < names.size(); i++) {
                        assertThat(trainable.parameters().get(names.get(i)).getGradient().toFloatArray())
                                .as("%s, round %d", names.get(i), round)
                                .containsExactly(expected.get(i), org.assertj.core.data.Offset.offset(1e-5f));
                    }
                }
                zeroGradients(trainable);
            }
        }
    }

    private static void zeroGradients(QwenModel model) {
        for (NDArray weight : model.parameters().values()) {
            try (NDArray gradient = weight.getGradient()) {
                gradient.set(new NDIndex(":"), 0);
            }
        }
    }

    @Test
    void aWorkerThreadRunsInferenceWithAutogradOff() throws Exception {
        java.util.concurrent.ExecutorService worker = java.util.concurrent.Executors.newSingleThreadExecutor();
        try {
            boolean[] modes = worker.submit(() -> {
                boolean fresh = GradMode.isEnabledOnThisThread();
                try (NDManager m = model.newRequestManager()) {
                    model.forward(ForwardRequest.tokens(ids(m, 1, 3, 14)).build());
                }
                return new boolean[] {fresh, GradMode.isEnabledOnThisThread()};
            }).get();
            assertThat(modes[0]).as("libtorch starts new threads with grad mode on").isTrue();
            assertThat(modes[1]).as("a forward switches it off").isFalse();
        } finally {
            worker.shutdownNow();
        }
    }

    @Test
    void badRequestsAreRefusedWithClearMessages() {
        try (NDManager m = model.newRequestManager()) {
            NDArray ids = ids(m, 1, 4, 13);
            assertThatThrownBy(() -> model.forward(ForwardRequest.tokens(ids).positionIds(m.zeros(new Shape(3, 1, 5))).build()))
                    .hasMessageContaining("(3, 1, 4)");
            assertThatThrownBy(() -> model.forward(ForwardRequest.fromLayer(config.numLayers(), m.zeros(new Shape(1, 4, 64))).build()))
                    .hasMessageContaining("Start layer");
            assertThatThrownBy(() -> model.forward(ForwardRequest.tokens(ids).logits(Logits.at(4)).build()))
                    .hasMessageContaining("outside the 4 tokens");
            assertThatThrownBy(() -> model.forward(ForwardRequest.tokens(ids).keyVisibleBefore(m.zeros(new Shape(1, 1, 4),
                    ai.djl.ndarray.types.DataType.INT32)).build()))
                    .hasMessageContaining("Key visibility must have shape (" + config.numLayers() + " layers, 1 rows, keys)");
            assertThatThrownBy(() -> model.forward(ForwardRequest.tokens(ids).keyVisibleBefore(m.zeros(new Shape(config.numLayers(),
                    1, 5), ai.djl.ndarray.types.DataType.INT32)).build()))
                    .hasMessageContaining("covers 5 keys but layer 0 attends to 4");
        }
    }
}

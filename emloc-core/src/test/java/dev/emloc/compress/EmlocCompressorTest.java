package dev.emloc.compress;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import dev.emloc.memory.CompressionReport;
import dev.emloc.memory.CompressionSettings;
import dev.emloc.memory.Modality;
import dev.emloc.memory.Strategy;
import dev.emloc.memory.TaskMemory;
import dev.emloc.model.ForwardRequest;
import dev.emloc.model.KvCache;
import dev.emloc.model.Logits;
import dev.emloc.text.ChatMessage;
import dev.emloc.text.RenderOptions;
import dev.emloc.vision.PreparedPrompt;
import dev.emloc.vision.VisionLanguageModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmlocCompressorTest {

    private static VisionLanguageModel model;
    private static EmlocCompressor compressor;
    private static final List<Demonstration> DEMOS = CompressorFixtures.textDemos(6, 1);
    private static final List<ChatMessage> QUERY = List.of(ChatMessage.user("code 555?"));
    private static final RenderOptions WHOLE_CONTEXT = RenderOptions.builder().addGenerationPrompt(false).build();

    @BeforeAll
    static void load(@TempDir Path dir) {
        model = CompressorFixtures.tinyModel(dir, false, 3);
        compressor = new EmlocCompressor(model);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static CompressionSettings.Builder settings() {
        return CompressionSettings.builder().demosPerChunk(4);
    }

    private static List<ChatMessage> conversation(List<Demonstration> demos) {
        List<ChatMessage> messages = new ArrayList<>();
        demos.forEach(d -> messages.addAll(d.messages()));
        return messages;
    }

    /** The uncompressed long context: all demonstrations in one pass, then the query, with logits at its end. */
    private static float[] longContextLogits(NDManager m, List<Demonstration> demos) {
        List<ChatMessage> all = conversation(demos);
        all.addAll(QUERY);
        PreparedPrompt prompt = model.prepare(m, all, RenderOptions.prompt(), 0);
        return model.language().forward(ForwardRequest.embeddings(prompt.embeddings()).positionIds(prompt.positionIds())
                .build()).logits().toFloatArray();
    }

    private static float[] memoryLogits(NDManager m, TaskMemory memory) {
        try (KvCache cache = memory.newCache(m)) {
            PreparedPrompt query = model.prepare(m, QUERY, VisionLanguageModel.QUERY_AFTER_MEMORY, memory.positionOffset());
            return model.language().forward(ForwardRequest.embeddings(query.embeddings()).positionIds(query.positionIds())
                    .cache(cache).build()).logits().toFloatArray();
        }
    }

    private static float maxAbsDiff(float[] a, float[] b) {
        assertThat(a).hasSameSizeAs(b);
        float worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        return worst;
    }

    @Test
    void keepingEverythingGivesTheFullContextCacheAndItsLogits() {
        try (TaskMemory memory = compressor.compress("all", DEMOS, settings().retentionCandidates(List.of(1.0)).build());
                TaskMemory full = compressor.compress("full", DEMOS, settings().strategy(Strategy.FULL).build());
                NDManager m = model.language().newRequestManager();
                KvCache onePass = model.language().newCache(m)) {
            PreparedPrompt context = model.prepare(m, conversation(DEMOS), WHOLE_CONTEXT, 0);
            model.language().forward(ForwardRequest.embeddings(context.embeddings()).positionIds(context.positionIds())
                    .cache(onePass).logits(Logits.none()).build());
            assertThat(memory.positionOffset()).as("two chunks end where the full context ends")
                    .isEqualTo(context.nextOffset()).isEqualTo(onePass.positionOffset());
            for (int l = 0; l < memory.numLayers(); l++) {
                NDArray[] expected = onePass.copyOf(l, m);
                assertThat(memory.length(l)).isEqualTo(context.length()).isEqualTo(full.length(l));
                assertThat(memory.keys(l).sub(expected[0]).abs().max().getFloat()).isLessThanOrEqualTo(1e-4f);
                assertThat(memory.values(l).sub(expected[1]).abs().max().getFloat()).isLessThanOrEqualTo(1e-4f);
            }
            float[] reference = longContextLogits(m, DEMOS);
            assertThat(maxAbsDiff(memoryLogits(m, memory), reference)).isLessThanOrEqualTo(1e-4f);
            assertThat(maxAbsDiff(memoryLogits(m, full), reference)).isLessThanOrEqualTo(1e-4f);
            for (CompressionReport.ChunkReport chunk : memory.report().chunks()) {
                assertThat(chunk.js()).as("nothing pruned: teacher and student agree exactly").containsOnly(0.0);
                assertThat(chunk.acceptedFractions()).containsOnly(1.0);
            }
            assertThat(memory.report().keptFraction()).isEqualTo(1.0);
        }
    }

    @Test
    void anInfiniteThresholdKeepsTheSmallestFractionAndAZeroThresholdKeepsWholeChunks() {
        try (TaskMemory smallest = compressor.compress("inf", DEMOS, settings().jsThreshold(Double.POSITIVE_INFINITY).build());
                TaskMemory whole = compressor.compress("zero", DEMOS, settings().jsThreshold(0).retentionCandidates(List.of(0.1, 0.5))
                        .build())) {
            List<CompressionReport.ChunkReport> chunks = smallest.report().chunks();
            assertThat(chunks).hasSize(2);
            for (int c = 0; c < chunks.size(); c++) {
                CompressionReport.ChunkReport chunk = chunks.get(c);
                int answers = answerTokens(DEMOS.subList(4 * c, Math.min(DEMOS.size(), 4 * c + 4)));
                double expected = EmlocCompressor.keepCount(0.1, chunk.tokens(), answers) / (double) chunk.tokens();
                assertThat(chunk.acceptedFractions()).containsOnly(expected);
                assertThat(expected).isLessThan(0.6);
            }
            for (CompressionReport.ChunkReport chunk : whole.report().chunks()) {
                assertThat(chunk.acceptedFractions()).containsOnly(1.0);
            }
            int seen = whole.report().tokensSeen();
            for (int l = 0; l < whole.numLayers(); l++) {
                assertThat(whole.length(l)).isEqualTo(seen);
                assertThat(smallest.length(l)).isLessThan(seen);
            }
        }
    }

    /** Answer tokens (answer text and its {@code <|im_end|>}) of some demonstrations. */
    private static int answerTokens(List<Demonstration> demos) {
        int answers = 0;
        for (Demonstration d : demos) {
            answers += model.tokenizer().encode(d.answer()).length + 1;
        }
        return answers;
    }

    @Test
    void answerTokensAreNeverPrunedAndTheReportMatchesTheStoredTensors() {
        try (TaskMemory memory = compressor.compress("answers", DEMOS, settings().jsThreshold(Double.POSITIVE_INFINITY).build());
                TaskMemory full = compressor.compress("full", DEMOS, settings().strategy(Strategy.FULL).build())) {
            CompressionReport report = memory.report();
            int answersSeen = report.seenByModality().get(Modality.ANSWER);
            assertThat(answersSeen).isEqualTo(answerTokens(DEMOS));
            for (CompressionReport.LayerRetention layer : report.layers()) {
                assertThat(layer.kept()).isEqualTo(memory.length(layer.layer()));
                assertThat(layer.keptByModality().get(Modality.ANSWER)).isEqualTo((double) answersSeen);
                double total = layer.keptByModality().values().stream().mapToDouble(Double::doubleValue).sum();
                assertThat(total).isCloseTo(layer.kept(), org.assertj.core.data.Offset.offset(1e-9));
            }
            // Every answer-token key of the full context is still in the pruned memory, at every layer and head.
            try (NDManager m = model.language().newRequestManager()) {
                long[] ids = model.prepare(m, conversation(DEMOS), WHOLE_CONTEXT, 0).tokenIds();
                long imStart = model.chat().imStartId();
                List<Integer> answerPositions = new ArrayList<>();
                int turn = -1;
                for (int i = 0; i < ids.length; i++) {
                    if (ids[i] == imStart) {
                        turn++;
                        // turn 0 is the system turn; assistant turns are the even ones after it
                        if (turn > 0 && turn % 2 == 0) {
                            int start = i + model.tokenizer().encode("<|im_start|>assistant\n").length;
                            int end = start;
                            while (ids[end] != model.chat().imEndId()) {
                                end++;
                            }
                            for (int t = start; t <= end; t++) {
                                answerPositions.add(t);
                            }
                        }
                    }
                }
                assertThat(answerPositions).hasSize(answersSeen);
                for (int l = 0; l < memory.numLayers(); l++) {
                    for (int g = 0; g < model.language().config().numKvHeads(); g++) {
                        float[][] kept = rows(memory.keys(l).get(new NDIndex("0, {}", g)));
                        float[][] all = rows(full.keys(l).get(new NDIndex("0, {}", g)));
                        for (int position : answerPositions) {
                            // Keys of later chunks depend on the (pruned) memory below them; those of the first
                            // chunk, and every key of layer 0, are the same as in the full context.
                            if (l == 0 || position < report.chunks().get(0).tokens()) {
                                assertThat(containsRow(kept, all[position])).as("layer %d head %d token %d", l, g, position)
                                        .isTrue();
                            }
                        }
                    }
                }
            }
        }
    }

    private static float[][] rows(NDArray matrix) {
        int n = (int) matrix.getShape().get(0);
        int d = (int) matrix.getShape().get(1);
        float[] flat = matrix.toFloatArray();
        float[][] out = new float[n][d];
        for (int i = 0; i < n; i++) {
            System.arraycopy(flat, i * d, out[i], 0, d);
        }
        return out;
    }

    private static boolean containsRow(float[][] rows, float[] row) {
        for (float[] candidate : rows) {
            if (java.util.Arrays.equals(candidate, row)) {
                return true;
            }
        }
        return false;
    }

    @Test
    void jensenShannonMatchesHandComputedValues() {
        try (NDManager m = NDManager.newBaseManager()) {
            double[][][] cases = {
                {{1, 0}, {0, 1}},          // disjoint: ln 2
                {{0.5, 0.5}, {0.9, 0.1}},  // m = (0.7, 0.3)
                {{0.25, 0.75}, {0.25, 0.75}},
            };
            double[] expected = {Math.log(2), 0.10175, 0};
            for (int i = 0; i < cases.length; i++) {
                NDArray logP = m.create(toFloat(cases[i][0])).log();
                NDArray logQ = m.create(toFloat(cases[i][1])).log();
                assertThat(JensenShannon.divergence(logP, logQ).getFloat()).as("case %d", i)
                        .isCloseTo((float) expected[i], org.assertj.core.data.Offset.offset(2e-5f));
            }
            NDArray same = m.randomNormal(new ai.djl.ndarray.types.Shape(3, 50)).logSoftmax(-1);
            assertThat(JensenShannon.divergence(same, same).abs().max().getFloat()).isZero();
        }
    }

    private static float[] toFloat(double[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = (float) values[i];
        }
        return out;
    }

    @Test
    void appendingEqualsTeachingEverythingAtOnceWhenChunksAlign() {
        List<Demonstration> first = DEMOS.subList(0, 4);
        List<Demonstration> rest = DEMOS.subList(4, 6);
        CompressionSettings s = settings().build();
        try (TaskMemory atOnce = compressor.compress("t", DEMOS, s);
                TaskMemory part = compressor.compress("t", first, s);
                TaskMemory appended = compressor.append(part, rest, CompressionListener.NONE, () -> false)) {
            assertThat(appended.demonstrationsDigest()).isEqualTo(atOnce.demonstrationsDigest());
            assertThat(appended.demonstrationCount()).isEqualTo(6);
            assertThat(appended.positionOffset()).isEqualTo(atOnce.positionOffset());
            for (int l = 0; l < atOnce.numLayers(); l++) {
                assertThat(appended.length(l)).isEqualTo(atOnce.length(l));
                assertThat(appended.keys(l).sub(atOnce.keys(l)).abs().max().getFloat()).isLessThanOrEqualTo(1e-5f);
            }
            assertThat(appended.report().chunks()).hasSize(2);
            assertThat(part.length(0)).as("the base memory is unchanged").isLessThan(appended.length(0));
            assertThat(part.keys(0).isReleased()).isFalse();
        }
    }

    @Test
    void aCancelledCompressionLeavesNothingBehind() {
        CompressionSettings s = settings().demosPerChunk(2).build();
        try (TaskMemory base = compressor.compress("t", DEMOS.subList(0, 2), s)) {
            int before = model.language().liveArrayCount();
            AtomicInteger chunksDone = new AtomicInteger();
            assertThatThrownBy(() -> compressor.append(base, DEMOS.subList(2, 6), p -> {
                if (p.phase() == CompressionProgress.Phase.CHUNK_DONE) {
                    chunksDone.incrementAndGet();
                }
            }, () -> chunksDone.get() >= 1)).isInstanceOf(CompressionCancelledException.class)
                    .hasMessageContaining("chunk 2 of 2");
            assertThat(model.language().liveArrayCount()).isEqualTo(before);
            assertThat(base.keys(0).isReleased()).isFalse();
            AtomicInteger layers = new AtomicInteger();
            assertThatThrownBy(() -> compressor.compress("t", DEMOS, s, p -> layers.incrementAndGet(), () -> layers.get() > 2))
                    .isInstanceOf(CompressionCancelledException.class).hasMessageContaining("layer");
            assertThat(model.language().liveArrayCount()).isEqualTo(before);
        }
    }

    @Test
    void progressReportsEveryLayerOfEveryChunkFromTheTopDown() {
        List<CompressionProgress> events = new ArrayList<>();
        try (TaskMemory memory = compressor.compress("p", DEMOS, settings().build(), events::add, () -> false)) {
            int layers = memory.numLayers();
            assertThat(events).hasSize(2 * (layers + 2));
            assertThat(events.get(0).phase()).isEqualTo(CompressionProgress.Phase.CHUNK_STARTED);
            assertThat(events.subList(1, 1 + layers)).extracting(CompressionProgress::layer).containsExactly(2, 1, 0);
            assertThat(events.get(events.size() - 1).completion()).isEqualTo(1.0);
            assertThat(events.get(events.size() - 1).demonstrations()).isEqualTo(6);
        }
    }

    @Test
    void baselinesGoThroughTheSameApi() {
        try (TaskMemory zero = compressor.compress("z", List.of(), settings().strategy(Strategy.ZERO_SHOT).build());
                TaskMemory fixed = compressor.compress("f", DEMOS, settings().fixedRatio(Strategy.FIXED_RATIO, 0.5).build());
                TaskMemory random = compressor.compress("r", DEMOS, settings().fixedRatio(Strategy.RANDOM, 0.5).build());
                NDManager m = model.language().newRequestManager()) {
            int system = model.prepare(m, List.of(), RenderOptions.builder().addGenerationPrompt(false).build(), 0).length();
            assertThat(zero.length(0)).isEqualTo(system);
            assertThat(zero.report().seenByModality()).containsOnlyKeys(Modality.SYSTEM);
            assertThat(zero.demonstrationCount()).isZero();
            for (int l = 0; l < fixed.numLayers(); l++) {
                assertThat(fixed.length(l)).as("same fraction at every layer").isEqualTo(fixed.length(0)).isEqualTo(random.length(l));
            }
            assertThat(fixed.length(0)).isLessThan(fixed.report().tokensSeen());
            assertThat(fixed.keys(0).sub(random.keys(0)).abs().max().getFloat()).as("importance is not random").isGreaterThan(0f);
            // Zero-shot answers the query from the system turn alone.
            float[] zeroShot = memoryLogits(m, zero);
            PreparedPrompt alone = model.prepare(m, QUERY, RenderOptions.prompt(), 0);
            float[] plain = model.language().forward(ForwardRequest.embeddings(alone.embeddings()).positionIds(alone.positionIds())
                    .build()).logits().toFloatArray();
            assertThat(maxAbsDiff(zeroShot, plain)).isLessThanOrEqualTo(1e-4f);
        }
    }

    @Test
    void invalidInputsAreRefusedWithWhatToDo() {
        assertThatThrownBy(() -> compressor.compress("t", List.of(), settings().build())).hasMessageContaining("at least one demonstration");
        assertThatThrownBy(() -> settings().retentionCandidates(List.of(0.0, 0.5)).build()).hasMessageContaining("outside (0, 1]");
        assertThatThrownBy(() -> settings().retentionCandidates(List.of(1.5)).build()).hasMessageContaining("outside (0, 1]");
        assertThatThrownBy(() -> settings().jsThreshold(-0.1).build()).hasMessageContaining("jsThreshold");
        assertThatThrownBy(() -> settings().demosPerChunk(0).build()).hasMessageContaining("demosPerChunk");
        assertThatThrownBy(() -> settings().poolKernel(4).build()).hasMessageContaining("odd");
        assertThatThrownBy(() -> Demonstration.of("q", " ")).hasMessageContaining("non-blank answer");
    }

    @Test
    void poolingAndRankingFollowTheReference() {
        // avg_pool1d(kernel 5, stride 1, padding 2, count_include_pad): edges divide by 5
        assertThat(EmlocCompressor.averagePool(new float[] {5, 0, 0, 0, 0, 0, 10}, 5))
                .containsExactly(1f, 1f, 1f, 0f, 2f, 2f, 2f);
        int[][] order = EmlocCompressor.rankByScore(new float[][] {{0.1f, 0.9f, 0.5f, 0.9f}});
        assertThat(order[0]).containsExactly(1, 3, 2, 0);
        assertThat(EmlocCompressor.topK(order, 2)[0]).containsExactly(1, 3);
        assertThat(EmlocCompressor.keepCount(0.1, 40, 7)).as("never fewer than the answer tokens").isEqualTo(7);
        assertThat(EmlocCompressor.keepCount(0.5, 40, 7)).isEqualTo(20);
    }
}

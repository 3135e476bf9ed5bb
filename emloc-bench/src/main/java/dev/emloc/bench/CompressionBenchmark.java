package dev.emloc.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.emloc.compress.CompressionListener;
import dev.emloc.compress.CompressionProgress;
import dev.emloc.compress.Demonstration;
import dev.emloc.compress.EmlocCompressor;
import dev.emloc.generate.FinishReason;
import dev.emloc.generate.Generation;
import dev.emloc.generate.GenerationSettings;
import dev.emloc.memory.CompressionReport;
import dev.emloc.memory.CompressionSettings;
import dev.emloc.memory.Strategy;
import dev.emloc.memory.TaskMemory;
import dev.emloc.model.ForwardRequest;
import dev.emloc.model.GradMode;
import dev.emloc.model.KvCache;
import dev.emloc.model.Logits;
import dev.emloc.model.ModelConfig;
import dev.emloc.model.QwenModel;
import dev.emloc.text.ChatFormat;
import dev.emloc.text.ChatMessage;
import dev.emloc.text.QwenTokenizer;
import dev.emloc.text.RenderOptions;
import dev.emloc.text.TinyTokenizerJson;
import dev.emloc.vision.ImageProcessor;
import dev.emloc.vision.PreparedPrompt;
import dev.emloc.vision.VisionLanguageModel;
import tools.jackson.databind.json.JsonMapper;

/**
 * EMLoC compression on a Qwen2-0.5B-shaped model with random float32 weights (vocabulary 151,936) and the
 * tiny byte-level tokenizer, for each demonstration count (default 40 and 200 synthetic text
 * demonstrations, about 38 tokens each), every figure set against a bound measured in the same run:
 * <ul>
 *   <li>compression time / the time of one plain prefill of the same demonstrations (target &le; 10);</li>
 *   <li>peak native memory of compression for the largest count / that for the smallest (target &le; 1.5),
 *       each count measured in its own JVM;</li>
 *   <li>per-query latency (prefill of a 32-token query + 16 greedy tokens) with the EMLoC memory, the FULL
 *       prefix cache, the ZERO_SHOT memory, and recomputing the whole context: recompute / EMLoC
 *       (target &ge; 10) and EMLoC / ZERO_SHOT (target &le; 1.3);</li>
 *   <li>tokens kept / tokens seen and memory bytes / FULL bytes;</li>
 *   <li>end-to-end Jensen-Shannon divergence between the FULL and EMLoC next-token distributions on
 *       held-out queries (mean and max, nats).</li>
 * </ul>
 * Usage: {@code CompressionBenchmark [--out=FILE] [--demos=40,200] [--queries=20] [--latency-queries=5]
 * [--recompute-queries=3] [--latency-demos=40,200] [--fork=true] [--quick]}. Arguments may also come as one
 * space-separated string (as {@code -Demloc.bench.args} passes them). {@code --quick} uses a tiny model
 * (4 layers, hidden 128) and 12/24 demonstrations; {@code --fork=false} runs every count in this JVM (the
 * memory figures are then not isolated).
 */
public final class CompressionBenchmark {

    static final int QUERY_TOKENS = 32;
    static final int NEW_TOKENS = 16;
    static final double TARGET_COMPRESSION_OVER_PREFILL = 10;
    static final double TARGET_PEAK_MEMORY_RATIO = 1.5;
    static final double TARGET_RECOMPUTE_OVER_EMLOC = 10;
    static final double TARGET_EMLOC_OVER_ZERO_SHOT = 1.3;

    private static final String[] COLOURS = {"red", "blue", "green", "amber", "grey", "pink"};
    /** All demonstrations as one conversation, exactly as the compressor renders them: system turn, no generation prompt. */
    private static final RenderOptions WHOLE_CONTEXT = RenderOptions.builder().includeSystem(true).addGenerationPrompt(false)
            .build();
    private static final Set<String> NOT_FORWARDED = Set.of("mode", "demos", "out", "child-out", "fork");
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private CompressionBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> options = BenchOptions.parse(splitWords(args));
        if ("child".equals(options.get("mode"))) {
            Plan plan = Plan.of(options);
            int n = Integer.parseInt(options.get("demos"));
            Map<String, Object> result = runOne(plan, n, true);
            Files.writeString(Path.of(options.get("child-out")), JSON.writeValueAsString(result));
            return;
        }
        run(options);
    }

    /**
     * Splits arguments that arrive as one space-separated string and turns a bare {@code --flag} into
     * {@code --flag=true}.
     */
    public static String[] splitWords(String[] args) {
        List<String> words = new ArrayList<>();
        for (String arg : args) {
            for (String word : arg.trim().split("\\s+")) {
                if (word.isEmpty()) {
                    continue;
                }
                words.add(word.startsWith("--") && !word.contains("=") ? word + "=true" : word);
            }
        }
        return words.toArray(String[]::new);
    }

    /** What to measure. */
    record Plan(boolean quick, int[] demos, int queries, int latencyQueries, int recomputeQueries, Set<Integer> latencyDemos,
            boolean fork, long seed) {

        static Plan of(Map<String, String> options) {
            boolean quick = Boolean.parseBoolean(options.getOrDefault("quick", "false"));
            int[] demos = ints(options.getOrDefault("demos", quick ? "12,24" : "40,200"));
            Set<Integer> latencyDemos = new HashSet<>();
            for (int n : ints(options.getOrDefault("latency-demos", options.getOrDefault("demos", quick ? "12,24" : "40,200")))) {
                latencyDemos.add(n);
            }
            return new Plan(quick, demos,
                    Integer.parseInt(options.getOrDefault("queries", quick ? "6" : "20")),
                    Integer.parseInt(options.getOrDefault("latency-queries", quick ? "3" : "5")),
                    Integer.parseInt(options.getOrDefault("recompute-queries", quick ? "2" : "3")),
                    latencyDemos,
                    Boolean.parseBoolean(options.getOrDefault("fork", "true")),
                    Long.parseLong(options.getOrDefault("seed", "7")));
        }

        private static int[] ints(String list) {
            return Arrays.stream(list.split(",")).map(String::trim).filter(s -> !s.isEmpty()).mapToInt(Integer::parseInt)
                    .toArray();
        }
    }

    /** Runs every demonstration count (each in its own JVM unless {@code --fork=false}) and writes the JSON. */
    static Map<String, Object> run(Map<String, String> options) throws IOException, InterruptedException {
        Plan plan = Plan.of(options);
        Path out = Path.of(options.getOrDefault("out", "target/bench/compression.json"));
        log("%s mode, demonstrations %s, %d held-out queries, latency %d queries (recompute %d), %s",
                plan.quick() ? "quick" : "full", Arrays.toString(plan.demos()), plan.queries(), plan.latencyQueries(),
                plan.recomputeQueries(), plan.fork() ? "one JVM per count" : "all in this JVM");
        List<Map<String, Object>> runs = new ArrayList<>();
        for (int n : plan.demos()) {
            runs.add(plan.fork() ? forkChild(options, n) : runOne(plan, n, false));
        }
        Map<String, Object> result = assemble(plan, runs);
        Files.createDirectories(out.toAbsolutePath().getParent());
        Files.writeString(out, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(result));
        log("wrote %s", out.toAbsolutePath());
        return result;
    }

    /** Runs one demonstration count in a fresh JVM (same java binary, JVM options and classpath). */
    private static Map<String, Object> forkChild(Map<String, String> options, int n) throws IOException, InterruptedException {
        Path childOut = Files.createTempFile("emloc-compression-" + n + "-", ".json");
        try {
            List<String> command = new ArrayList<>();
            command.add(ProcessHandle.current().info().command()
                    .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
            for (String jvmArg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
                if (!jvmArg.startsWith("-agentlib") && !jvmArg.startsWith("-javaagent") && !jvmArg.startsWith("-Xrunjdwp")
                        && !jvmArg.startsWith("-Xdebug")) {
                    command.add(jvmArg);
                }
            }
            command.add("-cp");
            command.add(System.getProperty("java.class.path"));
            command.add(CompressionBenchmark.class.getName());
            options.forEach((key, value) -> {
                if (!NOT_FORWARDED.contains(key)) {
                    command.add("--" + key + "=" + value);
                }
            });
            command.add("--mode=child");
            command.add("--demos=" + n);
            command.add("--child-out=" + childOut);
            log("N=%d: starting a separate JVM for this count", n);
            int rc = new ProcessBuilder(command).inheritIO().start().waitFor();
            if (rc != 0) {
                throw new IllegalStateException("The benchmark JVM for " + n + " demonstrations exited with status " + rc);
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> result = JSON.readValue(Files.readString(childOut), LinkedHashMap.class);
            return result;
        } finally {
            Files.deleteIfExists(childOut);
        }
    }

    /** Every measurement for {@code n} demonstrations, in this JVM; memory is measured first, right after warm-up. */
    static Map<String, Object> runOne(Plan plan, int n, boolean isolated) throws IOException {
        GradMode.disableOnThisThread();
        Map<String, Object> run = new LinkedHashMap<>();
        run.put("demonstrations", n);
        long loadStart = System.nanoTime();
        ModelConfig config = modelConfig(plan.quick());
        Path tokenizerDir = Files.createTempDirectory("emloc-compression-bench-");
        try (VisionLanguageModel model = loadModel(config, tokenizerDir)) {
            QwenModel language = model.language();
            log("N=%d: model ready (%,d parameters, %d layers, hidden %d, vocabulary %,d) in %.1f s", n,
                    language.parameterCount(), config.numLayers(), config.hiddenSize(), config.vocabSize(),
                    (System.nanoTime() - loadStart) / 1e9);
            run.put("engine", Engine.getInstance().getEngineName() + " " + Engine.getInstance().getVersion());
            run.put("model", modelInfo(plan.quick(), config, language));

            List<Demonstration> demos = demonstrations(n, plan.seed());
            List<String> queries = heldOutQueries(model, plan.queries(), plan.seed());
            warmUp(model, demos);

            // 1. EMLoC compression: time, and native memory sampled every 10 ms against the warmed baseline.
            EmlocCompressor compressor = new EmlocCompressor(model);
            MemorySample baseline = MemorySample.afterGc();
            TaskMemory emloc;
            double compressSeconds;
            MemoryPeak peak;
            try (RssSampler sampler = new RssSampler(10)) {
                long t0 = System.nanoTime();
                emloc = compressor.compress("bench-emloc-" + n, demos, CompressionSettings.defaults(), progress(n, t0),
                        () -> false);
                compressSeconds = (System.nanoTime() - t0) / 1e9;
                peak = sampler.stop();
            }
            try (TaskMemory emlocMemory = emloc) {
                CompressionReport report = emlocMemory.report();
                log("N=%d: EMLoC compression %.1f s, %d tokens seen, %.1f%% kept, %,d bytes", n, compressSeconds,
                        report.tokensSeen(), 100 * report.keptFraction(), emlocMemory.sizeInBytes());
                run.put("peakMemory", peakMemory(baseline, peak, isolated));
                log("N=%d: compression peak RSS %.1f MB above the warmed baseline (native estimate %.1f MB)", n,
                        peak.rssKb() < 0 ? Double.NaN : (peak.rssKb() - baseline.rssKb()) / 1024.0,
                        peak.rssKb() < 0 ? Double.NaN : (peak.nativeKb() - baseline.nativeKb()) / 1024.0);

                // 2. One plain prefill of the same demonstrations.
                double[] prefill = plainPrefill(model, demos);
                log("N=%d: plain prefill of %d tokens %.1f s; compression / prefill = %.2f", n, (int) prefill[1], prefill[0],
                        compressSeconds / prefill[0]);

                // 3. Baselines built through the same API.
                long t1 = System.nanoTime();
                TaskMemory full = compressor.compress("bench-full-" + n, demos,
                        CompressionSettings.builder().strategy(Strategy.FULL).build(), CompressionListener.NONE, () -> false);
                double fullSeconds = (System.nanoTime() - t1) / 1e9;
                try (TaskMemory fullMemory = full;
                        TaskMemory zeroShot = compressor.compress("bench-zero-" + n, List.of(),
                                CompressionSettings.builder().strategy(Strategy.ZERO_SHOT).build(), CompressionListener.NONE,
                                () -> false)) {
                    log("N=%d: FULL memory %.1f s, %,d bytes; ZERO_SHOT memory %,d bytes", n, fullSeconds,
                            fullMemory.sizeInBytes(), zeroShot.sizeInBytes());
                    run.put("compression", compressionFigures(report, emlocMemory, fullMemory, compressSeconds, prefill));
                    run.put("baselines", Map.of(
                            "full", Map.of("buildSeconds", fullSeconds, "bytes", fullMemory.sizeInBytes(),
                                    "keptFraction", fullMemory.report().keptFraction(),
                                    "positionOffset", fullMemory.positionOffset()),
                            "zeroShot", Map.of("bytes", zeroShot.sizeInBytes(), "tokens", zeroShot.length(0))));

                    // 4. End-to-end divergence on held-out queries.
                    Map<String, Object> js = endToEndJs(model, fullMemory, emlocMemory, zeroShot, queries, n);
                    double check = jensenShannon(nextTokenLogProbs(model, fullMemory, queries.get(0)),
                            recomputedLogProbs(model, demos, queries.get(0)));
                    js.put("checkFullVsRecomputeNats", check);
                    js.put("checkNote", "JS between the FULL memory and recomputing the whole context from scratch on the"
                            + " first query: should be float noise (~0), showing FULL is the uncompressed long context");
                    log("N=%d: check: JS(FULL memory, whole context recomputed) on one query = %.2e nats", n, check);
                    run.put("endToEndJs", js);

                    // 5. Per-query latency.
                    if (plan.latencyDemos().contains(n)) {
                        run.put("latency", latency(plan, model, demos, queries, emlocMemory, fullMemory, zeroShot, n));
                    }
                }
            }
        } finally {
            Files.deleteIfExists(tokenizerDir.resolve("tokenizer.json"));
            Files.deleteIfExists(tokenizerDir);
        }
        return run;
    }

    // ------------------------------------------------------------------ model and data

    /**
     * The Qwen2-0.5B shape (or, in quick mode, 4 layers of hidden 128), vocabulary 151,936 (the LM head's cost
     * matters), special-token ids those of the tiny tokenizer (its ids 0..269 are valid rows).
     */
    static ModelConfig modelConfig(boolean quick) {
        Map<String, Integer> special = TinyTokenizerJson.specialTokenIds();
        ModelConfig shape = ModelConfig.qwen2HalfBillionShape();
        ModelConfig.Builder builder = ModelConfig.builder().modelType(shape.modelType()).vocabSize(shape.vocabSize())
                .tieWordEmbeddings(shape.tieWordEmbeddings()).ropeTheta(shape.ropeTheta())
                .bosTokenId(special.get(ChatFormat.END_OF_TEXT)).eosTokenId(special.get(ChatFormat.IM_END))
                .imageTokenId(special.get(ChatFormat.IMAGE_PAD)).videoTokenId(special.get(ChatFormat.VIDEO_PAD))
                .visionStartTokenId(special.get(ChatFormat.VISION_START)).visionEndTokenId(special.get(ChatFormat.VISION_END));
        if (quick) {
            builder.hiddenSize(128).intermediateSize(256).numLayers(4).numHeads(4).numKvHeads(2);
        } else {
            builder.hiddenSize(shape.hiddenSize()).intermediateSize(shape.intermediateSize()).numLayers(shape.numLayers())
                    .numHeads(shape.numHeads()).numKvHeads(shape.numKvHeads()).headDim(shape.headDim())
                    .mropeSection(shape.mropeSection());
        }
        return builder.build();
    }

    static VisionLanguageModel loadModel(ModelConfig config, Path tokenizerDir) {
        Path tokenizerJson = tokenizerDir.resolve("tokenizer.json");
        TinyTokenizerJson.write(tokenizerJson);
        QwenTokenizer tokenizer = QwenTokenizer.load(tokenizerJson);
        NDManager manager = NDManager.newBaseManager();
        Engine.getInstance().setRandomSeed(42);
        QwenModel language = QwenModel.fromWeights(config, manager, DataType.FLOAT32,
                "random-" + config.numLayers() + "x" + config.hiddenSize(), (name, shape) -> name.endsWith("norm.weight")
                        ? manager.ones(shape) : manager.randomNormal(0, 0.02f, shape, DataType.FLOAT32));
        return new VisionLanguageModel(language, null, ImageProcessor.qwen2VlDefaults(), tokenizer);
    }

    static Map<String, Object> modelInfo(boolean quick, ModelConfig config, QwenModel language) {
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("shape", quick ? "tiny (quick mode)" : "Qwen2-0.5B");
        model.put("layers", config.numLayers());
        model.put("hidden", config.hiddenSize());
        model.put("heads", config.numHeads());
        model.put("kvHeads", config.numKvHeads());
        model.put("intermediate", config.intermediateSize());
        model.put("vocab", config.vocabSize());
        model.put("parameters", language.parameterCount());
        model.put("dtype", "float32");
        model.put("weights", "random normal(0, 0.02), norms 1, seed 42");
        model.put("tokenizer", "tiny byte-level BPE (TinyTokenizerJson): one token per byte, Qwen special tokens at 256..269");
        return model;
    }

    /**
     * {@code n} seeded demonstrations "abc-4 colour?" -> a colour that follows from the name's first letter
     * and the digit (a learnable rule); the first {@code n} of any larger set are the same.
     */
    static List<Demonstration> demonstrations(int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        Set<String> used = new HashSet<>();
        List<Demonstration> demos = new ArrayList<>(n);
        while (demos.size() < n) {
            String key = key(random);
            if (used.add(key)) {
                demos.add(Demonstration.of(key + " colour?", colour(key)));
            }
        }
        return demos;
    }

    /**
     * Held-out query texts of the same form, none of them among the first 1000 demonstrations, each padded or
     * cut so that its rendering after a memory (no system turn, with the generation prompt) is exactly
     * {@value #QUERY_TOKENS} tokens.
     */
    static List<String> heldOutQueries(VisionLanguageModel model, int count, long seed) {
        Set<String> taught = new HashSet<>();
        for (Demonstration demo : demonstrations(1000, seed)) {
            taught.add(((dev.emloc.text.ContentPart.Text) demo.user().parts().get(0)).text());
        }
        SplittableRandom random = new SplittableRandom(seed * 31 + 1);
        List<String> queries = new ArrayList<>(count);
        while (queries.size() < count) {
            String text = key(random) + " colour?";
            if (!taught.contains(text) && !queries.contains(text)) {
                queries.add(fitQuery(model.chat(), text));
            }
        }
        return queries;
    }

    private static String fitQuery(ChatFormat chat, String text) {
        String fitted = text;
        for (int attempt = 0; attempt < 4 * QUERY_TOKENS; attempt++) {
            int length = chat.encode(List.of(ChatMessage.user(fitted)), VisionLanguageModel.QUERY_AFTER_MEMORY).length;
            if (length == QUERY_TOKENS) {
                return fitted;
            }
            fitted = length < QUERY_TOKENS ? fitted + "?" : fitted.substring(0, fitted.length() - 1);
        }
        throw new IllegalStateException("Cannot fit query '" + text + "' to " + QUERY_TOKENS + " tokens");
    }

    private static String key(SplittableRandom random) {
        StringBuilder key = new StringBuilder();
        for (int i = 0; i < 3; i++) {
            key.append((char) ('a' + random.nextInt(26)));
        }
        return key.append('-').append(random.nextInt(10)).toString();
    }

    private static String colour(String key) {
        return COLOURS[(key.charAt(0) - 'a' + key.charAt(key.length() - 1) - '0') % COLOURS.length];
    }

    private static List<ChatMessage> turns(List<Demonstration> demos) {
        List<ChatMessage> messages = new ArrayList<>();
        demos.forEach(d -> messages.addAll(d.messages()));
        return messages;
    }

    /** A short forward with logits, so that libtorch's threads and allocator are up before the baseline is taken. */
    static void warmUp(VisionLanguageModel model, List<Demonstration> demos) {
        QwenModel language = model.language();
        try (NDManager m = language.newRequestManager(); KvCache cache = language.newCache(m)) {
            PreparedPrompt prompt = model.prepare(m, demos.get(0).messages(), WHOLE_CONTEXT, 0);
            language.forward(ForwardRequest.embeddings(prompt.embeddings()).positionIds(prompt.positionIds()).cache(cache)
                    .logits(Logits.last()).build()).logits().getFloat(0, 0, 0);
        }
    }

    private static CompressionListener progress(int n, long start) {
        double[] fractionSum = new double[1];
        int[] layersDone = new int[1];
        return p -> {
            if (p.phase() == CompressionProgress.Phase.LAYER_DONE) {
                fractionSum[0] += p.fraction();
                layersDone[0]++;
            } else if (p.phase() == CompressionProgress.Phase.CHUNK_DONE) {
                int done = p.chunk() + 1;
                if (done <= 2 || done == p.chunks() || done % 5 == 0) {
                    double elapsed = (System.nanoTime() - start) / 1e9;
                    log("N=%d: chunk %d/%d compressed (mean kept fraction %.2f over its layers), %.1f s elapsed, ~%.0f s left",
                            n, done, p.chunks(), layersDone[0] == 0 ? Double.NaN : fractionSum[0] / layersDone[0], elapsed,
                            elapsed / done * (p.chunks() - done));
                }
                fractionSum[0] = 0;
                layersDone[0] = 0;
            }
        };
    }

    // ------------------------------------------------------------------ measurements

    /** {seconds, tokens} of one prefill of all demonstrations into a fresh cache, rendered as the compressor does. */
    static double[] plainPrefill(VisionLanguageModel model, List<Demonstration> demos) {
        QwenModel language = model.language();
        try (NDManager m = language.newRequestManager(); KvCache cache = language.newCache(m)) {
            long t0 = System.nanoTime();
            PreparedPrompt prompt = model.prepare(m, turns(demos), WHOLE_CONTEXT, 0);
            language.forward(ForwardRequest.embeddings(prompt.embeddings()).positionIds(prompt.positionIds()).cache(cache)
                    .logits(Logits.none()).build());
            return new double[] {(System.nanoTime() - t0) / 1e9, prompt.length()};
        }
    }

    private static Map<String, Object> compressionFigures(CompressionReport report, TaskMemory emloc, TaskMemory full,
            double seconds, double[] prefill) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("seconds", seconds);
        c.put("plainPrefillSeconds", prefill[0]);
        c.put("plainPrefillTokens", (int) prefill[1]);
        c.put("compressionOverPrefill", seconds / prefill[0]);
        c.put("target", "compressionOverPrefill <= " + TARGET_COMPRESSION_OVER_PREFILL);
        c.put("phaseMillis", new TreeMap<>(report.phaseMillis()));
        c.put("chunks", report.chunks().size());
        c.put("tokensSeen", report.tokensSeen());
        c.put("keptFraction", report.keptFraction());
        c.put("memoryBytes", emloc.sizeInBytes());
        c.put("fullBytes", full.sizeInBytes());
        c.put("bytesVsFull", emloc.sizeInBytes() / (double) full.sizeInBytes());
        c.put("positionOffset", emloc.positionOffset());
        c.put("positionOffsetEqualsFull", emloc.positionOffset() == full.positionOffset());
        int layers = report.layers().size();
        int[] kept = report.layers().stream().mapToInt(CompressionReport.LayerRetention::kept).toArray();
        Map<String, Object> perLayer = new LinkedHashMap<>();
        perLayer.put("min", Arrays.stream(kept).min().orElse(0));
        perLayer.put("max", Arrays.stream(kept).max().orElse(0));
        perLayer.put("mean", Arrays.stream(kept).average().orElse(0));
        perLayer.put("kept", kept);
        double[] meanFraction = new double[layers];
        double[] meanJs = new double[layers];
        int[] jsCount = new int[layers];
        for (CompressionReport.ChunkReport chunk : report.chunks()) {
            for (int l = 0; l < layers; l++) {
                meanFraction[l] += chunk.acceptedFractions().get(l) / report.chunks().size();
                double js = chunk.js().get(l);
                if (!Double.isNaN(js)) {
                    meanJs[l] += js;
                    jsCount[l]++;
                }
            }
        }
        for (int l = 0; l < layers; l++) {
            meanJs[l] = jsCount[l] == 0 ? Double.NaN : meanJs[l] / jsCount[l];
        }
        perLayer.put("meanAcceptedFraction", meanFraction);
        perLayer.put("meanJs", meanJs);
        c.put("perLayer", perLayer);
        Map<String, Object> modalities = new LinkedHashMap<>();
        report.seenByModality().forEach((m, count) -> modalities.put(m.name(), count));
        c.put("seenByModality", modalities);
        return c;
    }

    /** Log-probabilities (double) of the next token at the last query position, after {@code memory}. */
    static double[] nextTokenLogProbs(VisionLanguageModel model, TaskMemory memory, String query) {
        QwenModel language = model.language();
        try (NDManager m = language.newRequestManager(); KvCache cache = memory.newCache(m)) {
            PreparedPrompt prompt = model.prepare(m, List.of(ChatMessage.user(query)), VisionLanguageModel.QUERY_AFTER_MEMORY,
                    memory.positionOffset());
            NDArray logits = language.forward(ForwardRequest.embeddings(prompt.embeddings()).positionIds(prompt.positionIds())
                    .cache(cache).readOnlyCache().logits(Logits.last()).build()).logits();
            return logSoftmax(logits.toFloatArray());
        }
    }

    /** Log-probabilities of the next token with no memory: system turn, every demonstration, the query, generation prompt. */
    static double[] recomputedLogProbs(VisionLanguageModel model, List<Demonstration> demos, String query) {
        QwenModel language = model.language();
        try (NDManager m = language.newRequestManager(); KvCache cache = language.newCache(m)) {
            PreparedPrompt prompt = model.prepare(m, appendQuery(turns(demos), query), RenderOptions.prompt(), 0);
            NDArray logits = language.forward(ForwardRequest.embeddings(prompt.embeddings()).positionIds(prompt.positionIds())
                    .cache(cache).logits(Logits.last()).build()).logits();
            return logSoftmax(logits.toFloatArray());
        }
    }

    static double[] logSoftmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : logits) {
            sum += Math.exp(v - max);
        }
        double logZ = max + Math.log(sum);
        double[] out = new double[logits.length];
        for (int i = 0; i < logits.length; i++) {
            out[i] = logits[i] - logZ;
        }
        return out;
    }

    /** Jensen-Shannon divergence in nats between two distributions given as log-probabilities. */
    static double jensenShannon(double[] logP, double[] logQ) {
        double js = 0;
        for (int i = 0; i < logP.length; i++) {
            if (logP[i] == logQ[i]) {
                continue; // m = p = q: contributes exactly 0
            }
            double p = Math.exp(logP[i]);
            double q = Math.exp(logQ[i]);
            double m = 0.5 * (p + q);
            if (m <= 0) {
                continue;
            }
            double logM = Math.log(m);
            if (p > 0) {
                js += 0.5 * p * (logP[i] - logM);
            }
            if (q > 0) {
                js += 0.5 * q * (logQ[i] - logM);
            }
        }
        return Math.max(0, js);
    }

    private static int argmax(double[] values) {
        int best = 0;
        for (int i = 1; i < values.length; i++) {
            if (values[i] > values[best]) {
                best = i;
            }
        }
        return best;
    }

    private static Map<String, Object> endToEndJs(VisionLanguageModel model, TaskMemory full, TaskMemory emloc,
            TaskMemory zeroShot, List<String> queries, int n) {
        double[] js = new double[queries.size()];
        double[] reference = new double[queries.size()];
        int agree = 0;
        int agreeZero = 0;
        for (int i = 0; i < queries.size(); i++) {
            double[] pFull = nextTokenLogProbs(model, full, queries.get(i));
            double[] pEmloc = nextTokenLogProbs(model, emloc, queries.get(i));
            double[] pZero = nextTokenLogProbs(model, zeroShot, queries.get(i));
            js[i] = jensenShannon(pFull, pEmloc);
            reference[i] = jensenShannon(pFull, pZero);
            agree += argmax(pFull) == argmax(pEmloc) ? 1 : 0;
            agreeZero += argmax(pFull) == argmax(pZero) ? 1 : 0;
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("queries", queries.size());
        result.put("meanNats", mean(js));
        result.put("maxNats", max(js));
        result.put("top1Agreement", agree / (double) queries.size());
        result.put("perQueryNats", js);
        result.put("referenceFullVsZeroShot", Map.of("meanNats", mean(reference), "maxNats", max(reference),
                "top1Agreement", agreeZero / (double) queries.size(), "note", "JS between FULL and ZERO_SHOT on the same queries: how much the demonstrations move the prediction"
                        + " at all, the scale against which the EMLoC figure should be read"));
        log("N=%d: end-to-end JS(FULL, EMLoC) over %d held-out queries: mean %.2e, max %.2e nats (FULL vs ZERO_SHOT: mean"
                + " %.2e); top-1 agreement %.0f%%", n, queries.size(), mean(js), max(js), mean(reference),
                100.0 * agree / queries.size());
        return result;
    }

    private static Map<String, Object> latency(Plan plan, VisionLanguageModel model, List<Demonstration> demos,
            List<String> queries, TaskMemory emloc, TaskMemory full, TaskMemory zeroShot, int n) {
        GenerationSettings settings = GenerationSettings.builder().temperature(0).maxNewTokens(NEW_TOKENS)
                .stopTokenIds(Set.of()).stopStrings(List.of()).build();
        List<ChatMessage> context = turns(demos);
        generateSeconds(model, zeroShot, null, queries.get(0), settings); // warm-up of the decode path, not timed
        int rounds = Math.max(plan.latencyQueries(), plan.recomputeQueries());
        List<Double> emlocRuns = new ArrayList<>();
        List<Double> fullRuns = new ArrayList<>();
        List<Double> zeroRuns = new ArrayList<>();
        List<Double> recomputeRuns = new ArrayList<>();
        for (int i = 0; i < rounds; i++) { // modes interleaved, so drift on a shared machine hits all alike
            String query = queries.get(i % queries.size());
            if (i < plan.latencyQueries()) {
                emlocRuns.add(generateSeconds(model, emloc, null, query, settings));
                fullRuns.add(generateSeconds(model, full, null, query, settings));
                zeroRuns.add(generateSeconds(model, zeroShot, null, query, settings));
            }
            if (i < plan.recomputeQueries()) {
                recomputeRuns.add(generateSeconds(model, null, context, query, settings));
            }
            log("N=%d: latency round %d/%d: EMLoC %.2f s, FULL %.2f s, ZERO_SHOT %.2f s, recompute %.2f s", n, i + 1, rounds,
                    last(emlocRuns, i), last(fullRuns, i), last(zeroRuns, i), last(recomputeRuns, i));
        }
        double e = median(emlocRuns);
        double f = median(fullRuns);
        double z = median(zeroRuns);
        double r = median(recomputeRuns);
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("queryTokens", QUERY_TOKENS);
        result.put("newTokens", NEW_TOKENS);
        result.put("decoding", "greedy, no stop tokens: exactly " + NEW_TOKENS + " tokens");
        result.put("emloc", Map.of("medianSeconds", e, "runs", emlocRuns));
        result.put("full", Map.of("medianSeconds", f, "runs", fullRuns));
        result.put("zeroShot", Map.of("medianSeconds", z, "runs", zeroRuns));
        result.put("recompute", Map.of("medianSeconds", r, "runs", recomputeRuns,
                "promptTokens", model.chat().encode(appendQuery(context, queries.get(0)), RenderOptions.prompt()).length));
        result.put("recomputeOverEmloc", r / e);
        result.put("emlocOverZeroShot", e / z);
        result.put("fullOverEmloc", f / e);
        result.put("targets", Map.of("recomputeOverEmloc", ">= " + TARGET_RECOMPUTE_OVER_EMLOC, "emlocOverZeroShot",
                "<= " + TARGET_EMLOC_OVER_ZERO_SHOT));
        log("N=%d: per query: recompute / EMLoC = %.1fx, EMLoC / ZERO_SHOT = %.2f, FULL / EMLoC = %.2f", n, r / e, e / z, f / e);
        return result;
    }

    private static double last(List<Double> runs, int round) {
        return runs.size() > round ? runs.get(round) : Double.NaN;
    }

    private static List<ChatMessage> appendQuery(List<ChatMessage> context, String query) {
        List<ChatMessage> messages = new ArrayList<>(context);
        messages.add(ChatMessage.user(query));
        return messages;
    }

    /**
     * Wall time of one answer: after {@code memory} through {@link VisionLanguageModel#generate(TaskMemory, List,
     * GenerationSettings, dev.emloc.generate.TokenListener)}, or, when {@code memory} is null, from scratch over
     * {@code context} + the query (system turn, every demonstration, the query, the generation prompt).
     */
    private static double generateSeconds(VisionLanguageModel model, TaskMemory memory, List<ChatMessage> context, String query,
            GenerationSettings settings) {
        long t0 = System.nanoTime();
        Generation generation = memory != null
                ? model.generate(memory, List.of(ChatMessage.user(query)), settings, (id, delta) -> { })
                : model.generate(appendQuery(context, query), settings, (id, delta) -> { });
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (generation.completionTokens() != NEW_TOKENS || generation.finishReason() != FinishReason.LENGTH) {
            throw new IllegalStateException("Expected exactly " + NEW_TOKENS + " generated tokens, got "
                    + generation.completionTokens() + " (" + generation.finishReason() + ")");
        }
        return seconds;
    }

    // ------------------------------------------------------------------ native memory

    /** VmRSS and the JVM's committed heap at one moment, in kB; rss is -1 where /proc is unavailable. */
    record MemorySample(long rssKb, long heapCommittedKb) {

        long nativeKb() {
            return rssKb - heapCommittedKb;
        }

        static MemorySample now() {
            return new MemorySample(procStatusKb("VmRSS"), Runtime.getRuntime().totalMemory() / 1024);
        }

        static MemorySample afterGc() {
            System.gc();
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return now();
        }
    }

    /** Peaks seen by the sampler, in kB. */
    record MemoryPeak(long rssKb, long nativeKb, long vmHwmKb, int samples) {
    }

    /** Reads one {@code kB} field of {@code /proc/self/status}; -1 if it cannot. */
    static long procStatusKb(String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(field + ":")) {
                    return Long.parseLong(line.substring(field.length() + 1).trim().split("\\s+")[0]);
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    /** Samples VmRSS (and RSS minus the committed Java heap) every few milliseconds in a daemon thread. */
    static final class RssSampler implements AutoCloseable {

        private final Thread thread;
        private volatile boolean running = true;
        private long peakRssKb = -1;
        private long peakNativeKb = Long.MIN_VALUE;
        private int samples;

        RssSampler(int periodMillis) {
            sample();
            thread = new Thread(() -> {
                while (running) {
                    sample();
                    try {
                        Thread.sleep(periodMillis);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "emloc-rss-sampler");
            thread.setDaemon(true);
            thread.start();
        }

        private synchronized void sample() {
            MemorySample s = MemorySample.now();
            if (s.rssKb() < 0) {
                return;
            }
            peakRssKb = Math.max(peakRssKb, s.rssKb());
            peakNativeKb = Math.max(peakNativeKb, s.nativeKb());
            samples++;
        }

        MemoryPeak stop() {
            close();
            synchronized (this) {
                return new MemoryPeak(peakRssKb, peakRssKb < 0 ? -1 : peakNativeKb, procStatusKb("VmHWM"), samples);
            }
        }

        @Override
        public void close() {
            if (running) {
                running = false;
                thread.interrupt();
                try {
                    thread.join(1000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                sample();
            }
        }
    }

    private static Map<String, Object> peakMemory(MemorySample baseline, MemoryPeak peak, boolean isolated) {
        Map<String, Object> m = new LinkedHashMap<>();
        boolean available = baseline.rssKb() >= 0 && peak.rssKb() >= 0;
        m.put("available", available);
        m.put("isolated", isolated);
        if (available) {
            m.put("baselineRssMB", baseline.rssKb() / 1024.0);
            m.put("peakRssMB", peak.rssKb() / 1024.0);
            m.put("peakRssDeltaMB", (peak.rssKb() - baseline.rssKb()) / 1024.0);
            m.put("baselineNativeMB", baseline.nativeKb() / 1024.0);
            m.put("peakNativeDeltaMB", (peak.nativeKb() - baseline.nativeKb()) / 1024.0);
            m.put("vmHwmMB", peak.vmHwmKb() / 1024.0);
            m.put("samples", peak.samples());
        }
        return m;
    }

    // ------------------------------------------------------------------ summary

    static Map<String, Object> assemble(Plan plan, List<Map<String, Object>> runs) {
        Map<String, Object> first = runs.get(0);
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("benchmark", "compression");
        result.put("date", Instant.now().toString());
        result.put("mode", plan.quick() ? "quick: tiny model, figures not comparable with the full run" : "full");
        result.put("machine", Map.of("cores", Runtime.getRuntime().availableProcessors(), "os", System.getProperty("os.name"),
                "arch", System.getProperty("os.arch"), "java", System.getProperty("java.version"),
                "engine", String.valueOf(first.get("engine"))));
        result.put("model", first.get("model"));
        CompressionSettings defaults = CompressionSettings.defaults();
        result.put("settings", Map.of("strategy", defaults.strategy().name(), "demosPerChunk", defaults.demosPerChunk(),
                "retentionCandidates", defaults.retentionCandidates(), "jsThreshold", defaults.jsThreshold(),
                "poolKernel", defaults.poolKernel()));
        Map<String, Object> workload = new LinkedHashMap<>();
        workload.put("demonstrations", Arrays.stream(plan.demos()).boxed().toList());
        workload.put("demonstrationForm", "user 'abc-4 colour?' / assistant colour (rule: first letter + digit mod 6),"
                + " seeded; about 38 tokens each with the chat turns; the smaller set is a prefix of the larger");
        workload.put("example", "xkq-3 colour? -> " + colour("xkq-3"));
        workload.put("heldOutQueries", plan.queries());
        workload.put("queryTokens", QUERY_TOKENS + " (the rendered query after a memory: user turn + generation prompt)");
        workload.put("newTokens", NEW_TOKENS);
        workload.put("latencyQueries", plan.latencyQueries());
        workload.put("recomputeQueries", plan.recomputeQueries());
        workload.put("seed", plan.seed());
        result.put("workload", workload);
        result.put("method", Map.of(
                "compressionOverPrefill", "wall time of EmlocCompressor.compress (defaults) / wall time of one prepare + forward"
                        + " (no logits) of the same demonstrations rendered as one conversation (system turn, every turn, no"
                        + " generation prompt) into a fresh cache, in the same JVM",
                "peakMemory", "each demonstration count in its own JVM: model loaded and warmed by one short forward, GC, then"
                        + " the baseline VmRSS from /proc/self/status; VmRSS sampled every 10 ms during compression; peak minus"
                        + " baseline. 'native' subtracts the JVM's committed heap (Runtime.totalMemory) from each sample;"
                        + " the ratio is largest count / smallest count",
                "latency", "wall time of VisionLanguageModel.generate for one " + QUERY_TOKENS + "-token query + " + NEW_TOKENS
                        + " greedy tokens: after the EMLoC memory, after the FULL memory, after the ZERO_SHOT memory, or"
                        + " recomputing the whole context from scratch (system + demonstrations + query); modes interleaved"
                        + " per query, medians",
                "endToEndJs", "next-token distribution at the last prompt position (after the generation prompt) with the FULL"
                        + " vs the EMLoC memory as prefix, softmax and JS in double precision, nats"));
        result.put("runs", runs);
        result.put("summary", summary(runs));
        return result;
    }

    private static Map<String, Object> summary(List<Map<String, Object>> runs) {
        Map<String, Object> summary = new LinkedHashMap<>();
        Map<String, Object> compressionOverPrefill = new LinkedHashMap<>();
        Map<String, Object> kept = new LinkedHashMap<>();
        Map<String, Object> bytesVsFull = new LinkedHashMap<>();
        Map<String, Object> js = new LinkedHashMap<>();
        boolean compressionMet = true;
        for (Map<String, Object> run : runs) {
            String n = String.valueOf(run.get("demonstrations"));
            double ratio = number(run, "compression", "compressionOverPrefill");
            compressionOverPrefill.put(n, ratio);
            compressionMet &= ratio <= TARGET_COMPRESSION_OVER_PREFILL;
            kept.put(n, number(run, "compression", "keptFraction"));
            bytesVsFull.put(n, number(run, "compression", "bytesVsFull"));
            js.put(n, Map.of("meanNats", number(run, "endToEndJs", "meanNats"), "maxNats", number(run, "endToEndJs", "maxNats")));
        }
        summary.put("compressionOverPrefill", Map.of("byDemonstrations", compressionOverPrefill,
                "target", "<= " + TARGET_COMPRESSION_OVER_PREFILL, "met", compressionMet));

        Map<String, Object> smallest = runs.get(0);
        Map<String, Object> largest = runs.get(runs.size() - 1);
        Map<String, Object> memory = new LinkedHashMap<>();
        if (runs.size() > 1 && Boolean.TRUE.equals(sub(smallest, "peakMemory").get("available"))) {
            double nativeRatio = number(largest, "peakMemory", "peakNativeDeltaMB") / number(smallest, "peakMemory", "peakNativeDeltaMB");
            double rssRatio = number(largest, "peakMemory", "peakRssDeltaMB") / number(smallest, "peakMemory", "peakRssDeltaMB");
            memory.put("demonstrations", smallest.get("demonstrations") + " -> " + largest.get("demonstrations"));
            memory.put("nativeDeltaMB", List.of(number(smallest, "peakMemory", "peakNativeDeltaMB"),
                    number(largest, "peakMemory", "peakNativeDeltaMB")));
            memory.put("rssDeltaMB", List.of(number(smallest, "peakMemory", "peakRssDeltaMB"),
                    number(largest, "peakMemory", "peakRssDeltaMB")));
            memory.put("nativeRatio", nativeRatio);
            memory.put("rssRatio", rssRatio);
            memory.put("target", "nativeRatio <= " + TARGET_PEAK_MEMORY_RATIO);
            memory.put("met", nativeRatio <= TARGET_PEAK_MEMORY_RATIO);
            memory.put("isolated", sub(largest, "peakMemory").get("isolated"));
        } else {
            memory.put("available", false);
        }
        summary.put("peakMemoryRatio", memory);

        for (int i = runs.size() - 1; i >= 0; i--) {
            Map<String, Object> run = runs.get(i);
            if (run.get("latency") != null) {
                Map<String, Object> latency = new LinkedHashMap<>();
                double recompute = number(run, "latency", "recomputeOverEmloc");
                double zero = number(run, "latency", "emlocOverZeroShot");
                latency.put("demonstrations", run.get("demonstrations"));
                latency.put("emlocSeconds", number(sub(run, "latency"), "emloc", "medianSeconds"));
                latency.put("fullSeconds", number(sub(run, "latency"), "full", "medianSeconds"));
                latency.put("zeroShotSeconds", number(sub(run, "latency"), "zeroShot", "medianSeconds"));
                latency.put("recomputeSeconds", number(sub(run, "latency"), "recompute", "medianSeconds"));
                latency.put("recomputeOverEmloc", recompute);
                latency.put("recomputeTarget", ">= " + TARGET_RECOMPUTE_OVER_EMLOC);
                latency.put("recomputeMet", recompute >= TARGET_RECOMPUTE_OVER_EMLOC);
                latency.put("emlocOverZeroShot", zero);
                latency.put("zeroShotTarget", "<= " + TARGET_EMLOC_OVER_ZERO_SHOT);
                latency.put("zeroShotMet", zero <= TARGET_EMLOC_OVER_ZERO_SHOT);
                latency.put("fullOverEmloc", number(run, "latency", "fullOverEmloc"));
                summary.put("latency", latency);
                break;
            }
        }
        summary.put("keptFraction", kept);
        summary.put("bytesVsFull", bytesVsFull);
        summary.put("endToEndJs", js);
        return summary;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> sub(Map<String, Object> map, String key) {
        Object value = map.get(key);
        return value instanceof Map ? (Map<String, Object>) value : Map.of();
    }

    static double number(Map<String, Object> map, String key, String field) {
        Object value = sub(map, key).get(field);
        return value instanceof Number number ? number.doubleValue() : Double.NaN;
    }

    static double median(List<Double> values) {
        return values.isEmpty() ? Double.NaN : EngineBenchmark.median(values.stream().mapToDouble(Double::doubleValue).toArray());
    }

    private static double mean(double[] values) {
        return Arrays.stream(values).average().orElse(Double.NaN);
    }

    private static double max(double[] values) {
        return Arrays.stream(values).max().orElse(Double.NaN);
    }

    private static void log(String format, Object... args) {
        System.out.println("[compression-bench] " + String.format(format, args));
    }
}

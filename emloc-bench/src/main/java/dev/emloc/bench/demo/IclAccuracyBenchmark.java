package dev.emloc.bench.demo;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

import dev.emloc.bench.BenchOptions;
import dev.emloc.bench.CompressionBenchmark;
import dev.emloc.compress.CompressionListener;
import dev.emloc.compress.Demonstration;
import dev.emloc.compress.EmlocCompressor;
import dev.emloc.generate.Generation;
import dev.emloc.generate.GenerationSettings;
import dev.emloc.memory.CompressionSettings;
import dev.emloc.memory.Strategy;
import dev.emloc.memory.TaskMemory;
import dev.emloc.model.GradMode;
import dev.emloc.model.ModelOptions;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.emloc.model.ForwardRequest;
import dev.emloc.model.KvCache;
import dev.emloc.model.Logits;
import dev.emloc.text.ChatFormat;
import dev.emloc.text.ChatMessage;
import dev.emloc.text.RenderOptions;
import dev.emloc.vision.PreparedPrompt;
import dev.emloc.vision.VisionLanguageModel;
import tools.jackson.databind.json.JsonMapper;

/**
 * In-context accuracy of the demo model ({@code models/emloc-demo}) on held-out episodes of {@link IclEpisodes}
 * (seeded apart from the training data), for each demonstration count, with every memory strategy built through
 * the same {@link EmlocCompressor} API and every query answered by {@code VisionLanguageModel.generate(memory, ...)}
 * (greedy, up to 4 tokens, stop at {@code <|im_end|>}); an answer is correct when its text equals the label exactly.
 * <ul>
 *   <li>ZERO_SHOT: no demonstrations (chance is {@code 1 / ways});</li>
 *   <li>FULL: the whole long context as the prefix;</li>
 *   <li>EMLOC: default settings (4 demonstrations per chunk, candidates 0.1/0.2/0.5, delta 0.005), or those given by
 *   {@code --chunk}, {@code --candidates} and {@code --delta};</li>
 *   <li>FIXED_RATIO and RANDOM at the kept fraction EMLoC reached on the same episode, with EMLoC's chunks.</li>
 * </ul>
 * Usage: {@code IclAccuracyBenchmark [--model=models/emloc-demo] [--demos=20,50,100] [--episodes=20] [--queries=5]
 * [--ways=5] [--seed=20260101] [--code-letters=3] [--delta=0.005] [--chunk=4] [--candidates=0.1/0.2/0.5]
 * [--out=target/bench/icl-accuracy.json]}; {@code --code-letters} must be
 * what the text-only model was trained with.
 */
public final class IclAccuracyBenchmark {

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final List<String> STRATEGIES = List.of("ZERO_SHOT", "FULL", "EMLOC", "FIXED_RATIO", "RANDOM");

    private IclAccuracyBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> o = BenchOptions.parse(CompressionBenchmark.splitWords(args));
        Path modelDir = Path.of(o.getOrDefault("model", "models/emloc-demo"));
        int episodes = Integer.parseInt(o.getOrDefault("episodes", "20"));
        int queries = Integer.parseInt(o.getOrDefault("queries", "5"));
        int ways = Integer.parseInt(o.getOrDefault("ways", "5"));
        int codeLetters = Integer.parseInt(o.getOrDefault("code-letters", String.valueOf(IclEpisodes.CODE_LETTERS)));
        long seed = Long.parseLong(o.getOrDefault("seed", "20260101"));
        CompressionSettings emlocSettings = emlocSettings(o);
        Path out = Path.of(o.getOrDefault("out", "target/bench/icl-accuracy.json"));
        List<Integer> counts = new ArrayList<>();
        for (String n : o.getOrDefault("demos", "20,50,100").split(",")) {
            counts.add(Integer.parseInt(n.trim()));
        }
        GradMode.disableOnThisThread();
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("date", Instant.now().toString());
        result.put("model", modelDir.toString());
        result.put("ways", ways);
        result.put("chance", 1.0 / ways);
        result.put("episodesPerCount", episodes);
        result.put("queriesPerEpisode", queries);
        result.put("emlocSettings", Map.of("demosPerChunk", emlocSettings.demosPerChunk(), "retentionCandidates",
                emlocSettings.retentionCandidates(), "jsThreshold", emlocSettings.jsThreshold()));
        result.put("scoring", "accuracy: greedy generation after the memory, exact match of the label; accuracyAmongLabels:"
                + " the episode label with the highest log-likelihood (letters and <|im_end|>) after the memory, chance 1/ways");
        List<Map<String, Object>> rows = new ArrayList<>();
        try (VisionLanguageModel model = VisionLanguageModel.load(modelDir, ModelOptions.cpu(),
                dev.emloc.vision.VisionLimits.defaults())) {
            boolean textOnly = model.vision().isEmpty();
            result.put("variant", textOnly ? "text-only" : "multimodal");
            if (textOnly) {
                result.put("codeLetters", codeLetters);
            }
            EmlocCompressor compressor = new EmlocCompressor(model);
            GenerationSettings greedy = GenerationSettings.builder().temperature(0).maxNewTokens(4)
                    .stopTokenIds(Set.of((long) model.chat().imEndId())).build();
            for (int n : counts) {
                rows.add(measure(model, compressor, emlocSettings, greedy, n, episodes, queries, ways, seed, textOnly,
                        codeLetters));
            }
        }
        result.put("results", rows);
        Files.createDirectories(out.toAbsolutePath().getParent());
        Files.writeString(out, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(result));
        String table = markdown(rows);
        Files.writeString(Path.of(out.toString().replaceAll("\\.json$", "") + ".md"), table);
        System.out.println(table);
        log("wrote %s", out.toAbsolutePath());
    }

    /** EMLoC's settings: the defaults, or {@code --delta}, {@code --chunk} and {@code --candidates=0.1/0.2/0.5}. */
    static CompressionSettings emlocSettings(Map<String, String> o) {
        CompressionSettings.Builder settings = CompressionSettings.defaults().mutate();
        if (o.containsKey("delta")) {
            settings.jsThreshold(Double.parseDouble(o.get("delta")));
        }
        if (o.containsKey("chunk")) {
            settings.demosPerChunk(Integer.parseInt(o.get("chunk")));
        }
        if (o.containsKey("candidates")) {
            List<Double> candidates = new ArrayList<>();
            for (String r : o.get("candidates").split("/")) {
                candidates.add(Double.parseDouble(r.trim()));
            }
            settings.retentionCandidates(candidates);
        }
        return settings.build();
    }

    static Map<String, Object> measure(VisionLanguageModel model, EmlocCompressor compressor, CompressionSettings emlocSettings,
            GenerationSettings greedy, int n, int episodes, int queries, int ways, long seed, boolean textOnly, int codeLetters) {
        SplittableRandom random = new SplittableRandom(seed + 7919L * n);
        Map<String, int[]> correct = new LinkedHashMap<>();
        STRATEGIES.forEach(s -> correct.put(s, new int[3]));
        double keptSum = 0;
        double seconds = 0;
        long started = System.nanoTime();
        for (int e = 0; e < episodes; e++) {
            IclEpisodes.Episode episode = IclEpisodes.draw(random, ways, n, queries, textOnly, codeLetters);
            List<Demonstration> demos = episode.demonstrations();
            long t0 = System.nanoTime();
            try (TaskMemory emloc = compressor.compress("icl-emloc", demos, emlocSettings,
                    CompressionListener.NONE, () -> false)) {
                seconds += (System.nanoTime() - t0) / 1e9;
                double kept = emloc.report().keptFraction();
                keptSum += kept;
                Map<String, CompressionSettings> settings = new LinkedHashMap<>();
                settings.put("ZERO_SHOT", CompressionSettings.builder().strategy(Strategy.ZERO_SHOT).build());
                settings.put("FULL", CompressionSettings.builder().strategy(Strategy.FULL).build());
                // the baselines cut the demonstrations into the same chunks as EMLoC
                settings.put("FIXED_RATIO", emlocSettings.mutate().fixedRatio(Strategy.FIXED_RATIO, kept).build());
                settings.put("RANDOM", emlocSettings.mutate().fixedRatio(Strategy.RANDOM, kept).seed(seed + e).build());
                for (String strategy : STRATEGIES) {
                    if (strategy.equals("EMLOC")) {
                        score(model, emloc, episode, greedy, correct.get(strategy));
                        continue;
                    }
                    List<Demonstration> taught = strategy.equals("ZERO_SHOT") ? List.of() : demos;
                    try (TaskMemory memory = compressor.compress("icl-" + strategy, taught, settings.get(strategy),
                            CompressionListener.NONE, () -> false)) {
                        score(model, memory, episode, greedy, correct.get(strategy));
                    }
                }
            }
            log("N=%d episode %d/%d: %s", n, e + 1, episodes, summary(correct));
        }
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("demonstrations", n);
        row.put("queries", correct.get("FULL")[1]);
        Map<String, Object> accuracy = new LinkedHashMap<>();
        Map<String, Object> likelihood = new LinkedHashMap<>();
        correct.forEach((s, c) -> accuracy.put(s, c[1] == 0 ? 0.0 : (double) c[0] / c[1]));
        correct.forEach((s, c) -> likelihood.put(s, c[1] == 0 ? 0.0 : (double) c[2] / c[1]));
        row.put("accuracy", accuracy);
        row.put("accuracyAmongLabels", likelihood);
        row.put("emlocKeptFraction", keptSum / episodes);
        row.put("emlocCompressSecondsPerEpisode", seconds / episodes);
        row.put("wallSeconds", (System.nanoTime() - started) / 1e9);
        return row;
    }

    private static void score(VisionLanguageModel model, TaskMemory memory, IclEpisodes.Episode episode,
            GenerationSettings greedy, int[] tally) {
        for (IclEpisodes.Item query : episode.queries()) {
            Generation answer = model.generate(memory, List.of(query.user()), greedy, (id, delta) -> { });
            tally[0] += answer.text().trim().equals(query.label()) ? 1 : 0;
            tally[1]++;
            tally[2] += mostLikelyLabel(model, memory, query, episode.labels()).equals(query.label()) ? 1 : 0;
        }
    }

    private static final RenderOptions ANSWERED_AFTER_MEMORY = RenderOptions.builder().includeSystem(false)
            .addGenerationPrompt(false).build();

    /**
     * The episode label with the highest log-likelihood (its letters and the closing {@code <|im_end|>}) as the answer
     * to {@code query} after {@code memory}: accuracy among the K labels, whose chance level is 1/K.
     */
    static String mostLikelyLabel(VisionLanguageModel model, TaskMemory memory, IclEpisodes.Item query, List<String> labels) {
        long[] answerPrefix = model.tokenizer().encode(ChatFormat.IM_START + "assistant\n");
        String best = null;
        double bestScore = Double.NEGATIVE_INFINITY;
        try (NDManager manager = model.language().newRequestManager()) {
            for (String label : labels) {
                try (KvCache cache = memory.newCache(manager)) {
                    PreparedPrompt prompt = model.prepare(manager, List.of(query.user(), ChatMessage.assistant(label)),
                            ANSWERED_AFTER_MEMORY, memory.positionOffset());
                    long[] ids = prompt.tokenIds();
                    int start = lastIndexOf(ids, answerPrefix) + answerPrefix.length;
                    int[] rows = new int[IclEpisodes.LABEL_LETTERS + 1];
                    for (int j = 0; j < rows.length; j++) {
                        rows[j] = start - 1 + j;
                    }
                    NDArray logProbs = model.language().forward(ForwardRequest.embeddings(prompt.embeddings())
                            .positionIds(prompt.positionIds()).cache(cache).readOnlyCache().logits(Logits.at(rows))
                            .outputManager(manager).build()).logits().logSoftmax(-1);             // (1, rows, V)
                    float[] values = logProbs.toFloatArray();
                    long vocab = logProbs.getShape().get(2);
                    double score = 0;
                    for (int j = 0; j < rows.length; j++) {
                        score += values[(int) (j * vocab + ids[start + j])];
                    }
                    if (score > bestScore) {
                        bestScore = score;
                        best = label;
                    }
                }
            }
        }
        return best;
    }

    private static int lastIndexOf(long[] ids, long[] pattern) {
        for (int i = ids.length - pattern.length; i >= 0; i--) {
            if (java.util.Arrays.equals(ids, i, i + pattern.length, pattern, 0, pattern.length)) {
                return i;
            }
        }
        throw new IllegalStateException("No assistant turn in the rendered query");
    }

    private static String summary(Map<String, int[]> correct) {
        StringBuilder text = new StringBuilder();
        correct.forEach((s, c) -> text.append(String.format(Locale.ROOT, "%s %d/%d (%d)  ", s, c[0], c[1], c[2])));
        return text.toString().trim();
    }

    @SuppressWarnings("unchecked")
    static String markdown(List<Map<String, Object>> rows) {
        StringBuilder table = new StringBuilder();
        for (String kind : List.of("accuracy", "accuracyAmongLabels")) {
            table.append(kind.equals("accuracy") ? "Greedy generation, exact match:\n\n"
                    : "\nMost likely of the episode's labels (chance 1/K):\n\n");
            table.append(table(rows, kind));
        }
        return table.toString();
    }

    @SuppressWarnings("unchecked")
    private static String table(List<Map<String, Object>> rows, String kind) {
        StringBuilder table = new StringBuilder(
                "| demonstrations | queries | ZERO_SHOT | FULL | EMLOC | EMLoC kept | FIXED_RATIO | RANDOM |\n"
                        + "| --- | --- | --- | --- | --- | --- | --- | --- |\n");
        for (Map<String, Object> row : rows) {
            Map<String, Double> a = (Map<String, Double>) row.get(kind);
            table.append(String.format(Locale.ROOT, "| %d | %d | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %.1f%% |%n",
                    row.get("demonstrations"), row.get("queries"), 100 * a.get("ZERO_SHOT"), 100 * a.get("FULL"),
                    100 * a.get("EMLOC"), 100 * (double) row.get("emlocKeptFraction"), 100 * a.get("FIXED_RATIO"),
                    100 * a.get("RANDOM")));
        }
        return table.toString();
    }

    private static void log(String format, Object... args) {
        System.out.printf("[icl %s] %s%n", Instant.now().toString().substring(11, 19), String.format(format, args));
        System.out.flush();
    }
}

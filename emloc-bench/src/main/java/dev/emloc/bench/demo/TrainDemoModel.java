package dev.emloc.bench.demo;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.training.GradientCollector;
import ai.djl.training.optimizer.Adam;
import ai.djl.training.tracker.Tracker;
import dev.emloc.bench.BenchOptions;
import dev.emloc.bench.CompressionBenchmark;
import dev.emloc.model.GradMode;
import dev.emloc.model.ModelOptions;
import dev.emloc.model.OwnedArrays;
import dev.emloc.vision.VisionLanguageModel;
import dev.emloc.vision.VisionLimits;
import tools.jackson.databind.json.JsonMapper;

/**
 * Trains the demo model (a tiny Qwen2-VL, {@link DemoModel}) from seeded random weights on the in-context task of
 * {@link IclEpisodes}, on CPU with DJL, through the engine's own forward ({@code ForwardRequest.training()}) and
 * vision tower. Loss: the answers (label letters and {@code <|im_end|>}) of every demonstration whose class was
 * already shown earlier in its episode: the model must find the earlier picture of the same class and copy its
 * label. Optimiser: DJL's {@link Adam} applied to the engine's weight arrays by name, with global-norm clipping,
 * linear warm-up and cosine decay.
 *
 * <p>Every {@code --eval-every} steps it measures held-out accuracy (query answers, teacher-forced argmax) on fixed
 * episodes with 16 and 32 demonstrations and saves the checkpoint to {@code --out}, so a run stopped early still
 * leaves a usable model; {@code --minutes} bounds the wall time.
 *
 * <p>Usage: {@code TrainDemoModel [--out=models/emloc-demo] [--steps=3000] [--schedule-steps=STEPS] [--seed=1]
 * [--batch=8] [--min-ways=2] [--ways=5] [--min-demos=6] [--max-demos=16] [--lr=0.0005] [--warmup=100] [--clip=1.0]
 * [--eval-every=100] [--minutes=0] [--text-only=false] [--code-letters=3] [--init=DIR] [--lm-weight=0] [--describe=0]
 * [--describe-items=2] [--language-from=DIR] [--freeze-language=false] [--same-picture=0] [--prune=0]
 * [--prune-min-drop=0.3] [--prune-max-drop=1.0] [--prune-chunks=4,10,20] [--snap=0] [--image-pixels=0]}:
 * <ul>
 *   <li>{@code --schedule-steps}: length of the cosine schedule, when a run is meant to stop before its end;</li>
 *   <li>{@code --lm-weight}: adds that much of a language-modelling loss on every text token;</li>
 *   <li>{@code --describe}: the fraction of steps spent on the auxiliary task ({@link IclEpisodes#describe} with
 *       pictures, {@link IclEpisodes#spell} text-only), on sequences of 1 to {@code --describe-items} items;</li>
 *   <li>{@code --init}: start from a checkpoint (the optimiser's state starts afresh);
 *       {@code --language-from}: copy only the language model from one (e.g. a text-only demo model), optionally
 *       frozen;</li>
 *   <li>{@code --same-picture}: the fraction of in-context episodes whose pictures of a class are all one drawing
 *       (an exact-copy curriculum, {@link IclEpisodes#draw(java.util.SplittableRandom, int, int, int, boolean, int,
 *       boolean)}).</li>
 *   <li>{@code --prune}: the fraction of in-context episodes trained under a pruning drill
 *       ({@link EpisodeBatch.PruningDrill}): items cut into chunks of one of {@code --prune-chunks} demonstrations,
 *       and at every layer each non-answer token of an earlier chunk hidden from later ones with a probability drawn
 *       from {@code [--prune-min-drop, --prune-max-drop]}, so that the model learns to answer from what an EMLoC task
 *       memory keeps.</li>
 *   <li>{@code --snap}: adds that much of a loss pulling each picture's merged vision tokens towards the embeddings of
 *       its class's fixed letters ({@link IclEpisodes#visualCode}), so that pictures reach the language model as
 *       codes like the text-only task's.</li>
 *   <li>{@code --image-pixels}: sets the pixel budget of the run's preprocessor configuration (and so of the
 *       checkpoints it saves) to that many pixels: 784 (28 x 28) makes each picture one merged vision token
 *       ({@link DemoModel#setImagePixels}).</li>
 * </ul>
 * Learning rate matters most: with this model's initialisation (weights ~ N(0, 0.02)) Adam at 0.003 or 0.0015 kept
 * the model on the plateau for thousands of steps, 0.0005 left it within a few hundred (docs/benchmarks.md).
 */
public final class TrainDemoModel {

    private static final JsonMapper JSON = JsonMapper.builder().build();

    private TrainDemoModel() {
    }

    /** Options of a run. */
    record Plan(Path out, int steps, long seed, int batch, int ways, int minWays, int minDemos, int maxDemos, float lr, int warmup,
            int evalEvery, double minutes, boolean textOnly, Path init, float clip, float lmWeight, double describe,
            int describeItems, Path languageFrom, boolean freezeLanguage, int codeLetters,
            int scheduleSteps, double samePicture, EpisodeBatch.PruningDrill drill, float snap, int imagePixels) {

        static Plan of(Map<String, String> o) {
            return new Plan(Path.of(o.getOrDefault("out", "models/emloc-demo")),
                    Integer.parseInt(o.getOrDefault("steps", "3000")),
                    Long.parseLong(o.getOrDefault("seed", "1")),
                    Integer.parseInt(o.getOrDefault("batch", "8")),
                    Integer.parseInt(o.getOrDefault("ways", "5")),
                    Integer.parseInt(o.getOrDefault("min-ways", "2")),
                    Integer.parseInt(o.getOrDefault("min-demos", "6")),
                    Integer.parseInt(o.getOrDefault("max-demos", "16")),
                    Float.parseFloat(o.getOrDefault("lr", "0.0005")),
                    Integer.parseInt(o.getOrDefault("warmup", "100")),
                    Integer.parseInt(o.getOrDefault("eval-every", "100")),
                    Double.parseDouble(o.getOrDefault("minutes", "0")),
                    Boolean.parseBoolean(o.getOrDefault("text-only", "false")),
                    o.containsKey("init") ? Path.of(o.get("init")) : null,
                    Float.parseFloat(o.getOrDefault("clip", "1.0")),
                    Float.parseFloat(o.getOrDefault("lm-weight", "0")),
                    Double.parseDouble(o.getOrDefault("describe", "0")),
                    Integer.parseInt(o.getOrDefault("describe-items", "2")),
                    o.containsKey("language-from") ? Path.of(o.get("language-from")) : null,
                    Boolean.parseBoolean(o.getOrDefault("freeze-language", "false")),
                    Integer.parseInt(o.getOrDefault("code-letters", String.valueOf(IclEpisodes.CODE_LETTERS))),
                    Integer.parseInt(o.getOrDefault("schedule-steps", o.getOrDefault("steps", "3000"))),
                    Double.parseDouble(o.getOrDefault("same-picture", "0")),
                    new EpisodeBatch.PruningDrill(Double.parseDouble(o.getOrDefault("prune", "0")),
                            Double.parseDouble(o.getOrDefault("prune-min-drop", "0.3")),
                            Double.parseDouble(o.getOrDefault("prune-max-drop", "1.0")),
                            java.util.Arrays.stream(o.getOrDefault("prune-chunks", "4,10,20").split(","))
                                    .mapToInt(c -> Integer.parseInt(c.trim())).toArray()),
                    Float.parseFloat(o.getOrDefault("snap", "0")),
                    Integer.parseInt(o.getOrDefault("image-pixels", "0")));
        }
    }

    public static void main(String[] args) throws Exception {
        train(Plan.of(BenchOptions.parse(CompressionBenchmark.splitWords(args))));
    }

    /** Runs the training and returns its summary (also written to {@code out/training.json}). */
    static Map<String, Object> train(Plan plan) throws IOException {
        long started = System.nanoTime();
        Path template = plan.init();
        Path scratch = null;
        if (template == null) {
            scratch = Files.createTempDirectory("emloc-demo-init-");
            template = DemoModel.writeInitial(scratch, plan.seed(), plan.textOnly());
        }
        if (plan.imagePixels() > 0) {
            if (plan.textOnly()) {
                throw new IllegalArgumentException("--image-pixels needs pictures; remove it or --text-only=true");
            }
            if (scratch == null) {
                scratch = Files.createTempDirectory("emloc-demo-init-");
                DemoModel.copyFiles(template, scratch);
                template = scratch;
            }
            DemoModel.setImagePixels(template, plan.imagePixels());
        }
        List<Map<String, Object>> history = new ArrayList<>();
        Map<String, Object> summary = new LinkedHashMap<>();
        try (VisionLanguageModel model = VisionLanguageModel.load(template, ModelOptions.cpu(), VisionLimits.defaults())) {
            if (plan.languageFrom() != null) {
                copyLanguageModel(plan.languageFrom(), model);
            }
            Map<String, NDArray> weights = trainableWeights(model);
            if (plan.freezeLanguage()) {
                Map<String, NDArray> language = model.language().parameters();
                language.values().forEach(w -> w.setRequiresGradient(false));
                weights.keySet().removeAll(language.keySet());
            }
            long parameters = weights.values().stream().mapToLong(w -> w.getShape().size()).sum();
            log("%s model, %,d parameters; %d steps of %d episodes (%d ways, %d..%d demonstrations), lr %.4f", plan.textOnly()
                    ? "text-only" : "multimodal", parameters, plan.steps(), plan.batch(), plan.ways(), plan.minDemos(),
                    plan.maxDemos(), plan.lr());
            Adam adam = adam(plan.lr(), plan.warmup(), plan.scheduleSteps());
            SplittableRandom data = new SplittableRandom(plan.seed());
            double lossSum = 0;
            double correct = 0;
            double total = 0;
            double describeCorrect = 0;
            double describeTotal = 0;
            int window = 0;
            double hiddenSum = 0;
            double snapSum = 0;
            int snapSteps = 0;
            int step = 0;
            int skipped = 0;
            Engine.getInstance().setRandomSeed((int) plan.seed());
            while (step < plan.steps()) {
                if (plan.minutes() > 0 && (System.nanoTime() - started) / 60e9 >= plan.minutes()) {
                    log("time budget of %.1f minutes reached at step %d", plan.minutes(), step);
                    break;
                }
                int demos = plan.minDemos() + data.nextInt(plan.maxDemos() - plan.minDemos() + 1);
                boolean describing = data.nextDouble() < plan.describe();
                if (describing) {
                    demos = 1 + data.nextInt(plan.describeItems());
                }
                List<List<IclEpisodes.Item>> sequences = new ArrayList<>();
                for (int b = 0; b < plan.batch(); b++) {
                    int ways = plan.minWays() + data.nextInt(plan.ways() - plan.minWays() + 1);
                    boolean samePicture = !describing && plan.samePicture() > 0 && data.nextDouble() < plan.samePicture();
                    sequences.add(describing ? (plan.textOnly() ? IclEpisodes.spell(data, demos, plan.codeLetters())
                            : IclEpisodes.describe(data, demos))
                            : IclEpisodes.draw(data, ways, demos, 0, plan.textOnly(), plan.codeLetters(), samePicture).demos());
                }
                EpisodeBatch batch = EpisodeBatch.of(model, sequences, false);
                if (!describing && plan.drill().active()) {
                    batch.drill(data, model.language().config().numLayers(), plan.drill());
                }
                double[] result = step(model, weights, adam, batch, plan.clip(), plan.lmWeight(), plan.snap());
                if (Double.isNaN(result[0])) {
                    skipped++;
                    step++;
                    continue;
                }
                hiddenSum += batch.hiddenFraction(); // 0 without a drill; averaged over the window's in-context steps
                if (!Double.isNaN(result[3])) {
                    snapSum += result[3];
                    snapSteps++;
                }
                if (describing) {
                    describeCorrect += result[1];
                    describeTotal += result[2];
                } else {
                    lossSum += result[0];
                    correct += result[1];
                    total += result[2];
                    window++;
                }
                step++;
                if (step % plan.evalEvery() == 0 || step == plan.steps()) {
                    Map<String, Object> point = new LinkedHashMap<>();
                    point.put("step", step);
                    point.put("seconds", Math.round((System.nanoTime() - started) / 1e9));
                    point.put("trainLoss", lossSum / Math.max(1, window));
                    point.put("skippedSteps", skipped);
                    point.put("trainAccuracy", total == 0 ? 0 : correct / total);
                    if (plan.drill().active()) {
                        point.put("hiddenKeys", hiddenSum / Math.max(1, window));
                    }
                    if (snapSteps > 0) {
                        point.put("snapLoss", snapSum / snapSteps);
                    }
                    if (describeTotal > 0) {
                        point.put("describeAccuracy", describeCorrect / describeTotal);
                    }
                    for (int n : new int[] {16, 32}) {
                        point.put("heldOutAccuracy" + n, heldOutAccuracy(model, plan, n, 32));
                    }
                    history.add(point);
                    log("step %d (%.0f s): loss %.3f, train accuracy %.3f, held-out accuracy %.3f @16 demos, %.3f @32%s", step,
                            (System.nanoTime() - started) / 1e9, lossSum / Math.max(1, window), total == 0 ? 0 : correct / total,
                            point.get("heldOutAccuracy16"), point.get("heldOutAccuracy32"),
                            (describeTotal > 0 ? String.format(", description accuracy %.3f", describeCorrect / describeTotal) : "")
                            + (snapSteps > 0 ? String.format(", snap loss %.3f", snapSum / snapSteps) : ""));
                    lossSum = 0;
                    correct = 0;
                    total = 0;
                    describeCorrect = 0;
                    describeTotal = 0;
                    window = 0;
                    hiddenSum = 0;
                    snapSum = 0;
                    snapSteps = 0;
                    DemoModel.save(model, template, plan.out());
                    summary = summary(plan, step, started, parameters, history);
                    Files.writeString(plan.out().resolve("training.json"),
                            JSON.writerWithDefaultPrettyPrinter().writeValueAsString(summary));
                }
            }
            DemoModel.save(model, template, plan.out());
            summary = summary(plan, step, started, parameters, history);
            Files.writeString(plan.out().resolve("training.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(summary));
            log("saved %s after %d steps, %.1f min", plan.out().toAbsolutePath(), step, (System.nanoTime() - started) / 60e9);
        } finally {
            if (scratch != null) {
                try (var files = Files.list(scratch)) {
                    for (Path file : files.toList()) {
                        Files.deleteIfExists(file);
                    }
                }
                Files.deleteIfExists(scratch);
            }
        }
        return summary;
    }

    private static Map<String, Object> summary(Plan plan, int step, long started, long parameters,
            List<Map<String, Object>> history) {
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("finished", Instant.now().toString());
        summary.put("variant", plan.textOnly() ? "text-only" : "multimodal");
        summary.put("parameters", parameters);
        summary.put("steps", step);
        summary.put("seconds", Math.round((System.nanoTime() - started) / 1e9));
        summary.put("seed", plan.seed());
        summary.put("batch", plan.batch());
        summary.put("ways", plan.minWays() + ".." + plan.ways());
        summary.put("demonstrations", plan.minDemos() + ".." + plan.maxDemos());
        summary.put("learningRate", plan.lr());
        summary.put("warmup", plan.warmup());
        summary.put("scheduleSteps", plan.scheduleSteps());
        summary.put("samePicture", plan.samePicture());
        summary.put("clip", plan.clip());
        summary.put("lmWeight", plan.lmWeight());
        summary.put("describe", plan.describe());
        summary.put("describeItems", plan.describeItems());
        summary.put("languageFrom", plan.languageFrom() == null ? null : plan.languageFrom().toString());
        summary.put("freezeLanguage", plan.freezeLanguage());
        summary.put("snap", plan.snap());
        if (plan.drill().active()) {
            summary.put("pruningDrill", Map.of("episodes", plan.drill().episodes(), "minDrop", plan.drill().minDrop(),
                    "maxDrop", plan.drill().maxDrop(), "chunkSizes", plan.drill().chunkSizes()));
        }
        if (plan.textOnly()) {
            summary.put("codeLetters", plan.codeLetters());
        }
        summary.put("cpus", Runtime.getRuntime().availableProcessors());
        summary.put("history", history);
        return summary;
    }

    /**
     * One optimisation step on {@code batch}: forward with autograd, backward, Adam. The loss is the supervised answers'
     * negative log-likelihood, plus {@code lmWeight} times the language-modelling loss of every text token (repeated
     * codes and labels then give induction signal on many more tokens than the answers alone), plus {@code snap} times
     * the batch's snap loss ({@code --snap}). Returns the answers' loss before the step, the correct and total
     * supervised answers (teacher-forced argmax), and the snap loss (NaN when not used).
     */
    static double[] step(VisionLanguageModel model, Map<String, NDArray> weights, Adam adam, EpisodeBatch batch, float clip,
            float lmWeight, float snap) {
        try (NDManager manager = model.language().newRequestManager()) {
            float loss;
            double snapValue = Double.NaN;
            double[] c;
            try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                NDArray[] out = batch.logProbs(model, manager, true, lmWeight > 0);
                NDArray logProbs = out[0];
                NDArray lossArray = batch.loss(manager, logProbs);
                // weights as arrays, not mul(float): autograd keeps the factor, and DJL's own scalar is freed (OwnedArrays)
                NDArray total = lmWeight > 0 ? lossArray.add(out[1].mul(OwnedArrays.scalar(out[1], lmWeight))) : lossArray;
                NDArray snapLoss = snap > 0 ? batch.snapLoss(model, manager) : null;
                if (snapLoss != null) {
                    total = total.add(snapLoss.mul(OwnedArrays.scalar(snapLoss, snap)));
                    snapValue = snapLoss.getFloat();
                }
                collector.backward(total);
                loss = lossArray.getFloat();
                c = batch.correctAnswers(logProbs);
            }
            GradMode.disableOnThisThread();
            boolean applied = applyAdam(adam, weights, clip, Float.isFinite(loss));
            return new double[] {applied ? loss : Double.NaN, c[0], c[1], snapValue};
        }
    }

    /** The optimiser of a run: Adam with linear warm-up from lr/20 and cosine decay to lr/20 over {@code steps}. */
    static Adam adam(float lr, int warmup, int steps) {
        return Adam.builder().optLearningRateTracker(Tracker.warmUp().optWarmUpSteps(warmup)
                .optWarmUpBeginValue(lr / 20).setMainTracker(Tracker.cosine().setBaseValue(lr)
                        .optFinalValue(lr / 20).setMaxUpdates(Math.max(1, steps)).build()).build()).build();
    }

    /**
     * Overwrites the language model of {@code model} with that of the checkpoint {@code source} (e.g. a text-only demo
     * model that already learns in context): same names and shapes are required; the vision tower is kept. For text
     * tokens the multimodal rotary positions equal the text-only ones, so the copied model behaves the same on text.
     */
    static void copyLanguageModel(Path source, VisionLanguageModel model) {
        try (VisionLanguageModel donor = VisionLanguageModel.load(source, ModelOptions.cpu(), VisionLimits.defaults())) {
            Map<String, NDArray> from = donor.language().parameters();
            Map<String, NDArray> to = model.language().parameters();
            if (!from.keySet().equals(to.keySet())) {
                throw new IllegalArgumentException("The language model of " + source + " has other weights than the model trained: "
                        + from.keySet() + " vs " + to.keySet());
            }
            for (Map.Entry<String, NDArray> entry : to.entrySet()) {
                NDArray value = from.get(entry.getKey());
                if (!value.getShape().equals(entry.getValue().getShape())) {
                    throw new IllegalArgumentException("Weight " + entry.getKey() + " of " + source + " has shape " + value.getShape()
                            + ", the model trained has " + entry.getValue().getShape());
                }
                entry.getValue().set(new NDIndex(":"), value);
            }
            log("language model copied from %s", source);
        }
    }

    /** Every weight of the model (language model, then vision tower) by name, switched to require gradients. */
    static Map<String, NDArray> trainableWeights(VisionLanguageModel model) {
        Map<String, NDArray> weights = new LinkedHashMap<>(model.language().parameters());
        model.vision().ifPresent(tower -> weights.putAll(tower.parameters()));
        weights.values().forEach(w -> w.setRequiresGradient(true));
        return weights;
    }

    /**
     * Clips the global gradient norm, applies one Adam step to every weight and zeroes the gradients; a step whose loss or
     * gradient norm is not finite is skipped (counted in the log) rather than poisoning the weights.
     */
    private static boolean applyAdam(Adam adam, Map<String, NDArray> weights, float clip, boolean finiteLoss) {
        double squares = 0;
        List<NDArray> gradients = new ArrayList<>(weights.size());
        for (NDArray weight : weights.values()) {
            NDArray gradient = weight.getGradient();
            gradients.add(gradient);
            try (NDArray square = gradient.square(); NDArray sum = square.sum()) { // else they live as long as the weight's manager
                squares += sum.getFloat();
            }
        }
        double norm = Math.sqrt(squares);
        boolean apply = finiteLoss && Double.isFinite(norm);
        float scale = clip > 0 && norm > clip ? (float) (clip / norm) : 1f;
        int i = 0;
        for (Map.Entry<String, NDArray> entry : weights.entrySet()) {
            NDArray gradient = gradients.get(i++);
            if (scale != 1f) {
                gradient.muli(scale);
            }
            if (apply) {
                adam.update(entry.getKey(), entry.getValue(), gradient);
            }
            gradient.set(new NDIndex(":"), 0); // in place, and unlike gradient * 0 it also clears NaN
            gradient.close();
        }
        return apply;
    }

    /** Teacher-forced accuracy of the query answers of fixed held-out episodes (seeded apart from training data). */
    static double heldOutAccuracy(VisionLanguageModel model, Plan plan, int demos, int episodes) {
        SplittableRandom random = new SplittableRandom(plan.seed() * 1_000_003L + 77 + demos);
        double correct = 0;
        double total = 0;
        for (int done = 0; done < episodes; done += plan.batch()) {
            List<List<IclEpisodes.Item>> sequences = new ArrayList<>();
            for (int b = 0; b < Math.min(plan.batch(), episodes - done); b++) {
                IclEpisodes.Episode episode = IclEpisodes.draw(random, plan.ways(), demos, 1, plan.textOnly(), plan.codeLetters());
                List<IclEpisodes.Item> items = new ArrayList<>(episode.demos());
                items.add(episode.queries().get(0));
                sequences.add(items);
            }
            EpisodeBatch batch = EpisodeBatch.of(model, sequences, true);
            try (NDManager manager = model.language().newRequestManager()) {
                double[] c = batch.correctAnswers(batch.logProbs(model, manager, false));
                correct += c[0];
                total += c[1];
            }
        }
        return correct / total;
    }

    private static void log(String format, Object... args) {
        System.out.printf("[train %s] %s%n", Instant.now().toString().substring(11, 19), String.format(format, args));
        System.out.flush();
    }
}

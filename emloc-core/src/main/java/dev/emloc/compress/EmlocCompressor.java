package dev.emloc.compress;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.function.BooleanSupplier;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.emloc.memory.CompressionReport;
import dev.emloc.memory.CompressionSettings;
import dev.emloc.memory.Modality;
import dev.emloc.memory.Strategy;
import dev.emloc.memory.TaskMemory;
import dev.emloc.model.AttentionProbe;
import dev.emloc.model.ForwardRequest;
import dev.emloc.model.ForwardResult;
import dev.emloc.model.GradMode;
import dev.emloc.model.KeyRange;
import dev.emloc.model.KvCache;
import dev.emloc.model.Logits;
import dev.emloc.model.ModelConfig;
import dev.emloc.model.QwenModel;
import dev.emloc.text.ChatFormat;
import dev.emloc.text.ChatMessage;
import dev.emloc.text.ContentPart;
import dev.emloc.text.RenderOptions;
import dev.emloc.vision.PreparedPrompt;
import dev.emloc.vision.VisionLanguageModel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Compresses demonstrations into a {@link TaskMemory} with EMLoC (docs/algorithm.md): chunk-wise
 * encoding with the memory so far as prefix, a teacher pass that re-encodes each demonstration of the
 * chunk after [memory ; chunk], importance from the answer tokens' attention, and layer-wise pruning
 * from the top layer down, each layer keeping the smallest candidate fraction whose Jensen-Shannon
 * divergence from the teacher on the answer tokens stays within the threshold.
 *
 * <p>Peak memory is one chunk's work plus the memory itself: everything recorded for a chunk lives in
 * that chunk's manager, and a layer's recorded hidden state is released as soon as the layer is decided.
 * Thread-safe: each call works on its own arrays; the model is shared.
 */
public final class EmlocCompressor {

    private static final Logger log = LoggerFactory.getLogger(EmlocCompressor.class);
    /** Added to the pooled score of the chunk's answer tokens so that top-k always keeps them. */
    private static final float ANSWER_BONUS = 1e4f;
    private static final RenderOptions DEMONSTRATION_TURNS = RenderOptions.builder().includeSystem(false)
            .addGenerationPrompt(false).build();
    private static final RenderOptions FIRST_CHUNK = RenderOptions.builder().includeSystem(true).addGenerationPrompt(false).build();
    private static final String[] PHASES = {"encode", "teacher", "importance", "search", "assemble"};

    private final VisionLanguageModel model;
    private final QwenModel language;
    private final ModelConfig config;
    private final long imStart;
    private final long imEnd;
    private final long[] visionTokens;
    private final long[] assistantHeader;

    public EmlocCompressor(VisionLanguageModel model) {
        this.model = Objects.requireNonNull(model, "model");
        this.language = model.language();
        this.config = language.config();
        ChatFormat chat = model.chat();
        this.imStart = chat.imStartId();
        this.imEnd = chat.imEndId();
        this.visionTokens = java.util.stream.Stream.of(ChatFormat.IMAGE_PAD, ChatFormat.VIDEO_PAD, ChatFormat.VISION_START,
                ChatFormat.VISION_END).map(t -> model.tokenizer().findTokenId(t)).filter(java.util.OptionalInt::isPresent)
                .mapToLong(java.util.OptionalInt::getAsInt).toArray();
        this.assistantHeader = model.tokenizer().encode(ChatFormat.IM_START + "assistant\n");
    }

    /** Compresses {@code demonstrations} for {@code taskId}, without progress or cancellation. */
    public TaskMemory compress(String taskId, List<Demonstration> demonstrations, CompressionSettings settings) {
        return compress(taskId, demonstrations, settings, CompressionListener.NONE, () -> false);
    }

    /**
     * Compresses {@code demonstrations} into a new task memory.
     *
     * @throws IllegalArgumentException       for an empty list (except {@link Strategy#ZERO_SHOT})
     * @throws CompressionCancelledException when {@code cancelled} answers true; nothing is left behind
     */
    public TaskMemory compress(String taskId, List<Demonstration> demonstrations, CompressionSettings settings,
            CompressionListener listener, BooleanSupplier cancelled) {
        Objects.requireNonNull(settings, "settings");
        List<Demonstration> demos = List.copyOf(demonstrations);
        if (demos.isEmpty() && settings.strategy() != Strategy.ZERO_SHOT) {
            throw new IllegalArgumentException("Task '" + taskId + "' needs at least one demonstration to compress");
        }
        GradMode.disableOnThisThread();
        Building building = new Building(settings, null);
        try {
            if (settings.strategy() == Strategy.ZERO_SHOT) {
                building.addSystemTurnOnly();
            } else {
                building.addChunks(demos, true, listener, cancelled);
            }
            return building.finish(taskId);
        } catch (RuntimeException e) {
            building.discard();
            throw e;
        }
    }

    /**
     * Compresses more demonstrations on top of an existing memory: new chunks with the memory as their
     * prefix, exactly as if they had been taught with the rest when the chunk boundaries fall the same
     * way (the memory's demonstration count a multiple of demosPerChunk). The existing memory is left
     * unchanged and stays usable; the caller closes it when the new one replaces it.
     */
    public TaskMemory append(TaskMemory memory, List<Demonstration> more, CompressionListener listener,
            BooleanSupplier cancelled) {
        Objects.requireNonNull(memory, "memory");
        if (!memory.modelFingerprint().equals(language.fingerprint())) {
            throw new IllegalArgumentException("Task memory '" + memory.taskId() + "' was built for model "
                    + memory.modelFingerprint() + " but the running model is " + language.fingerprint()
                    + "; teach the task again on this model");
        }
        if (memory.settings().strategy() == Strategy.ZERO_SHOT) {
            throw new IllegalArgumentException("Task memory '" + memory.taskId() + "' is a ZERO_SHOT baseline; it holds no"
                    + " demonstrations to append to");
        }
        List<Demonstration> demos = List.copyOf(more);
        if (demos.isEmpty()) {
            throw new IllegalArgumentException("Nothing to append to task '" + memory.taskId() + "': no demonstrations given");
        }
        GradMode.disableOnThisThread();
        Building building = new Building(memory.settings(), memory);
        try {
            building.addChunks(demos, false, listener, cancelled);
            return building.finish(memory.taskId());
        } catch (RuntimeException e) {
            building.discard();
            throw e;
        }
    }

    /**
     * The digest a memory taught from {@code demonstrations} carries ({@link TaskMemory#demonstrationsDigest()}),
     * computed without the model: callers compare it with a stored memory's to know whether teaching again would
     * change anything.
     */
    public static String demonstrationsDigest(List<Demonstration> demonstrations) {
        String digest = emptyDigest();
        for (Demonstration demo : demonstrations) {
            digest = chainDigest(digest, demo);
        }
        return digest;
    }

    /** The digest of no demonstrations; each one is chained onto it with {@link #chainDigest}. */
    static String emptyDigest() {
        return sha256("emloc-demonstrations-v1".getBytes(StandardCharsets.UTF_8));
    }

    /** {@code sha256(previous || sha256(demonstration))}: equal for equal demonstrations however they were taught. */
    static String chainDigest(String previous, Demonstration demo) {
        try {
            MessageDigest one = MessageDigest.getInstance("SHA-256");
            for (ContentPart part : demo.user().parts()) {
                if (part instanceof ContentPart.Text t) {
                    one.update((byte) 'T');
                    one.update(t.text().getBytes(StandardCharsets.UTF_8));
                } else if (part instanceof ContentPart.Image i) {
                    one.update((byte) 'I');
                    one.update(MessageDigest.getInstance("SHA-256").digest(i.bytes()));
                } else if (part instanceof ContentPart.Video v) {
                    one.update((byte) 'V');
                    for (byte[] frame : v.frames()) {
                        one.update(MessageDigest.getInstance("SHA-256").digest(frame));
                    }
                }
                one.update((byte) 0);
            }
            one.update((byte) 'A');
            one.update(demo.answer().getBytes(StandardCharsets.UTF_8));
            return sha256((previous + HexFormat.of().formatHex(one.digest())).getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    /** Modalities of every token of a rendering, and the answer span of every demonstration in it. */
    private record Annotation(Modality[] modality, List<int[]> answers) {

        int answerTokens() {
            int n = 0;
            for (int[] span : answers) {
                n += span[1] - span[0];
            }
            return n;
        }
    }

    /**
     * Finds the turns of a rendering by their {@code <|im_start|>}: the system turn (if any), then user and
     * assistant turns in pairs. An answer is the assistant turn's text and its {@code <|im_end|>}.
     */
    private Annotation annotate(long[] ids, boolean hasSystem) {
        Modality[] modality = new Modality[ids.length];
        Arrays.fill(modality, Modality.QUESTION);
        List<Integer> starts = new ArrayList<>();
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] == imStart) {
                starts.add(i);
            }
        }
        List<int[]> answers = new ArrayList<>();
        for (int turn = 0; turn < starts.size(); turn++) {
            int start = starts.get(turn);
            int end = turn + 1 < starts.size() ? starts.get(turn + 1) : ids.length;
            int demoTurn = turn - (hasSystem ? 1 : 0);
            if (demoTurn < 0) {
                Arrays.fill(modality, start, end, Modality.SYSTEM);
            } else if (demoTurn % 2 == 0) {
                for (int i = start; i < end; i++) {
                    if (isVision(ids[i])) {
                        modality[i] = Modality.IMAGE;
                    }
                }
            } else {
                int answerStart = start + assistantHeader.length;
                if (answerStart > end || !Arrays.equals(ids, start, answerStart, assistantHeader, 0, assistantHeader.length)) {
                    throw new IllegalStateException("Assistant turn at token " + start + " does not start with the expected"
                            + " header " + Arrays.toString(assistantHeader));
                }
                int answerEnd = answerStart;
                while (answerEnd < end && ids[answerEnd] != imEnd) {
                    answerEnd++;
                }
                answerEnd = Math.min(end, answerEnd + 1); // the closing <|im_end|> is part of the answer
                Arrays.fill(modality, answerStart, answerEnd, Modality.ANSWER);
                answers.add(new int[] {answerStart, answerEnd});
            }
        }
        return new Annotation(modality, answers);
    }

    private boolean isVision(long id) {
        for (long v : visionTokens) {
            if (v == id) {
                return true;
            }
        }
        return false;
    }

    /** The memory under construction: its layers, offset and report so far. */
    private final class Building {

        private final CompressionSettings settings;
        private final TaskMemory base;
        private final int layers = config.numLayers();
        private NDManager manager;             // owns keys/values unless they still belong to base
        private List<NDArray> keys;            // per layer (1, G, n_l, D), null while empty
        private List<NDArray> values;
        private int offset;
        private int tokensSeen;
        private final EnumMap<Modality, Integer> seen = new EnumMap<>(Modality.class);
        private final double[][] keptByModality;
        private final List<CompressionReport.ChunkReport> chunkReports = new ArrayList<>();
        private final long[] phaseNanos = new long[PHASES.length];
        private String digest;
        private int demonstrations;

        Building(CompressionSettings settings, TaskMemory base) {
            this.settings = settings;
            this.base = base;
            this.keptByModality = new double[layers][Modality.values().length];
            if (base == null) {
                digest = emptyDigest();
                return;
            }
            keys = new ArrayList<>();
            values = new ArrayList<>();
            for (int l = 0; l < base.numLayers(); l++) {
                keys.add(base.keys(l));
                values.add(base.values(l));
            }
            offset = base.positionOffset();
            CompressionReport report = base.report();
            tokensSeen = report.tokensSeen();
            seen.putAll(report.seenByModality());
            for (CompressionReport.LayerRetention layer : report.layers()) {
                layer.keptByModality().forEach((m, n) -> keptByModality[layer.layer()][m.ordinal()] = n);
            }
            chunkReports.addAll(report.chunks());
            for (int p = 0; p < PHASES.length; p++) {
                phaseNanos[p] = report.phaseMillis().getOrDefault(PHASES[p], 0L) * 1_000_000L;
            }
            digest = base.demonstrationsDigest();
            demonstrations = base.demonstrationCount();
        }

        void addSystemTurnOnly() {
            try (NDManager chunk = language.newRequestManager()) {
                PreparedPrompt prompt = model.prepare(chunk, List.of(), FIRST_CHUNK, 0);
                Annotation annotation = annotate(prompt.tokenIds(), true);
                try (KvCache cache = language.newCache(chunk)) {
                    language.forward(ForwardRequest.embeddings(prompt.embeddings()).positionIds(prompt.positionIds())
                            .cache(cache).logits(Logits.none()).build());
                    List<NDArray[]> kept = new ArrayList<>();
                    for (int l = 0; l < layers; l++) {
                        kept.add(cache.appended(l));
                    }
                    int[][] all = allTokens(prompt.length());
                    assemble(kept, annotation, all, prompt.nextOffset(), prompt.length());
                }
            }
        }

        void addChunks(List<Demonstration> demos, boolean startsTask, CompressionListener listener, BooleanSupplier cancelled) {
            int perChunk = settings.demosPerChunk();
            int chunks = (demos.size() + perChunk - 1) / perChunk;
            for (int c = 0; c < chunks; c++) {
                if (cancelled.getAsBoolean()) {
                    throw new CompressionCancelledException("Compression cancelled before chunk " + (c + 1) + " of " + chunks);
                }
                List<Demonstration> chunk = demos.subList(c * perChunk, Math.min(demos.size(), (c + 1) * perChunk));
                listener.onProgress(new CompressionProgress(CompressionProgress.Phase.CHUNK_STARTED, c, chunks, -1, layers,
                        Double.NaN, Double.NaN, c * perChunk));
                addChunk(chunk, startsTask && c == 0, c, chunks, listener, cancelled);
                for (Demonstration demo : chunk) {
                    digest = chainDigest(digest, demo);
                }
                demonstrations += chunk.size();
                listener.onProgress(new CompressionProgress(CompressionProgress.Phase.CHUNK_DONE, c, chunks, -1, layers,
                        Double.NaN, Double.NaN, Math.min(demos.size(), (c + 1) * perChunk)));
            }
        }

        private void addChunk(List<Demonstration> demos, boolean first, int chunkIndex, int chunks, CompressionListener listener,
                BooleanSupplier cancelled) {
            try (NDManager work = language.newRequestManager()) {
                // 1. Encode the chunk after the memory, positions continuing from its offset.
                long t0 = System.nanoTime();
                List<ChatMessage> messages = new ArrayList<>();
                demos.forEach(d -> messages.addAll(d.messages()));
                PreparedPrompt chunk = model.prepare(work, messages, first ? FIRST_CHUNK : DEMONSTRATION_TURNS, offset);
                Annotation annotation = annotate(chunk.tokenIds(), first);
                int size = chunk.length();
                KvCache cache = keys == null ? language.newCache(work) : KvCache.withPrefix(work, keys, values, offset);
                language.forward(ForwardRequest.embeddings(chunk.embeddings()).positionIds(chunk.positionIds()).cache(cache)
                        .logits(Logits.none()).build());
                List<NDArray[]> full = new ArrayList<>();
                for (int l = 0; l < layers; l++) {
                    full.add(cache.appended(l)); // (1, G, |C|, D)
                }
                phaseNanos[0] += System.nanoTime() - t0;

                double[] fractions = new double[layers];
                double[] js = new double[layers];
                int[][][] kept; // [layer][head] -> kept token indices of the chunk, ascending
                NDArray[][] accepted = new NDArray[layers][]; // kept keys/values the search already gathered
                Strategy strategy = settings.strategy();
                if (strategy == Strategy.FULL) {
                    kept = new int[layers][][];
                    for (int l = 0; l < layers; l++) {
                        kept[l] = allTokens(size);
                        fractions[l] = 1;
                    }
                } else if (strategy == Strategy.RANDOM) {
                    kept = randomChoice(annotation, size, chunkIndex, fractions, js);
                } else {
                    kept = searchChunk(work, chunk, demos, annotation, cache, full, accepted, chunkIndex, chunks, fractions, js,
                            listener, cancelled);
                }
                long t4 = System.nanoTime();
                List<NDArray[]> chosen = new ArrayList<>();
                for (int l = 0; l < layers; l++) {
                    chosen.add(accepted[l] != null ? accepted[l] : gather(full.get(l), kept[l]));
                }
                assemble(chosen, annotation, null, chunk.nextOffset(), size);
                for (int l = 0; l < layers; l++) {
                    countModalities(l, kept[l], annotation);
                }
                chunkReports.add(new CompressionReport.ChunkReport(size, demos.size(), toList(fractions), toList(js)));
                phaseNanos[4] += System.nanoTime() - t4;
                cache.close();
            }
        }

        /** Steps 2-4 of the algorithm for one chunk; returns the kept token indices per layer and head. */
        private int[][][] searchChunk(NDManager work, PreparedPrompt chunk, List<Demonstration> demos, Annotation annotation,
                KvCache cache, List<NDArray[]> full, NDArray[][] accepted, int chunkIndex, int chunks, double[] fractions,
                double[] js,
                CompressionListener listener, BooleanSupplier cancelled) {
            boolean measure = settings.strategy() == Strategy.EMLOC;
            int size = chunk.length();
            // 2. Teacher pass: each demonstration re-encoded alone after [memory ; chunk], one padded batch.
            long t1 = System.nanoTime();
            Teacher teacher = teacherBatch(work, demos, chunk.nextOffset());
            AttentionProbe probe = AttentionProbe.of(teacher.rows, KeyRange.afterPrefix());
            ForwardRequest.Builder request = ForwardRequest.embeddings(teacher.embeddings).positionIds(teacher.positions)
                    .cache(cache).readOnlyCache().probe(probe);
            if (measure) {
                request.recordHiddenStates().logits(teacher.answerLogits());
            } else {
                request.logits(Logits.none());
            }
            ForwardResult result = language.forward(request.build());
            NDArray teacherLogP = measure ? logSoftmax(result.logits()) : null; // (1, answer tokens, V)
            phaseNanos[1] += System.nanoTime() - t1;

            // 3. Importance per layer and KV head.
            long t2 = System.nanoTime();
            int answerTokens = annotation.answerTokens();
            float[][][] scores = new float[layers][][];
            for (int l = 0; l < layers; l++) {
                scores[l] = importance(result.attention().get(l), teacher.valid, size, annotation);
                result.attention().get(l).close();
            }
            phaseNanos[2] += System.nanoTime() - t2;

            // 4. Layer-wise adaptive pruning, top layer first.
            long t3 = System.nanoTime();
            int[][][] kept = new int[layers][][];
            double above = 0; // JS of the configuration decided so far (layers above pruned, the rest whole)
            for (int l = layers - 1; l >= 0; l--) {
                if (cancelled.getAsBoolean()) {
                    throw new CompressionCancelledException("Compression cancelled at layer " + l + " of chunk " + (chunkIndex + 1));
                }
                int[][] order = rankByScore(scores[l]);
                if (!measure) {
                    kept[l] = topK(order, keepCount(settings.fixedRatio(), size, answerTokens));
                    fractions[l] = kept[l][0].length / (double) size;
                    js[l] = Double.NaN;
                } else {
                    kept[l] = null;
                    for (double candidate : settings.retentionCandidates()) {
                        int[][] choice = topK(order, keepCount(candidate, size, answerTokens));
                        NDArray[] candidateKv = gather(full.get(l), choice);
                        double divergence = evaluate(work, result.hiddenStates().get(l), teacher, teacherLogP, accepted, l,
                                candidateKv);
                        if (divergence <= settings.jsThreshold()) {
                            kept[l] = choice;
                            accepted[l] = candidateKv;
                            fractions[l] = choice[0].length / (double) size;
                            js[l] = divergence;
                            above = divergence;
                            break;
                        }
                        candidateKv[0].close();
                        candidateKv[1].close();
                    }
                    if (kept[l] == null) {
                        kept[l] = allTokens(size);
                        accepted[l] = full.get(l);
                        fractions[l] = 1;
                        js[l] = above; // keeping this layer whole leaves the configuration measured above unchanged
                    }
                    result.hiddenStates().get(l).close(); // this layer is decided: free what was recorded for it
                }
                listener.onProgress(new CompressionProgress(CompressionProgress.Phase.LAYER_DONE, chunkIndex, chunks, l, layers,
                        fractions[l], js[l], chunkIndex * settings.demosPerChunk()));
            }
            phaseNanos[3] += System.nanoTime() - t3;
            return kept;
        }

        /** Mean JS over the answer tokens when layer {@code l} keeps {@code candidate} and the layers above keep theirs. */
        private double evaluate(NDManager work, NDArray hidden, Teacher teacher, NDArray teacherLogP, NDArray[][] accepted,
                int l, NDArray[] candidate) {
            try (NDManager eval = work.newSubManager();
                    KvCache trial = keys == null ? language.newCache(eval) : KvCache.withPrefix(eval, keys, values, offset)) {
                for (int j = l; j < layers; j++) {
                    NDArray[] kv = j == l ? candidate : accepted[j];
                    trial.append(j, kv[0], kv[1]);
                }
                NDArray logits = language.forward(ForwardRequest.fromLayer(l, hidden).positionIds(teacher.positions).cache(trial)
                        .readOnlyCache().logits(teacher.answerLogits()).outputManager(eval).build()).logits();
                // The student's arrays come first so every result belongs to this evaluation's manager.
                return JensenShannon.divergence(logSoftmax(logits), teacherLogP).mean().getFloat();
            }
        }

    private NDArray logSoftmax(NDArray logits) {
            return logits.toType(DataType.FLOAT32, false).logSoftmax(-1);
        }

        /**
         * Attention of the answer tokens onto the chunk, renormalised over [chunk ; own tokens] (not the
         * memory), summed over answer tokens and over the query heads of each KV head, average-pooled, with
         * the chunk's own answer tokens protected.
         *
         * @param probs (B, H, R, |C| + T)
         * @return [G][|C|]
         */
        private float[][] importance(NDArray probs, NDArray valid, int size, Annotation annotation) {
            Shape shape = probs.getShape();
            long batch = shape.get(0);
            long rows = shape.get(2);
            int groups = config.numKvHeads();
            float[] summed;
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                NDArray normalised = probs.div(probs.sum(new int[] {-1}, true).maximum(1e-30f));
                NDArray onChunk = normalised.get(new NDIndex("..., :{}", size)).mul(valid.reshape(batch, 1, rows, 1));
                NDArray perHead = onChunk.sum(new int[] {0, 2}); // (H, |C|)
                summed = perHead.reshape(groups, config.groupSize(), size).sum(new int[] {1}).toFloatArray();
            }
            float[][] scores = new float[groups][];
            for (int g = 0; g < groups; g++) {
                scores[g] = averagePool(Arrays.copyOfRange(summed, g * size, (g + 1) * size), settings.poolKernel());
                for (int t = 0; t < size; t++) {
                    if (annotation.modality()[t] == Modality.ANSWER) {
                        scores[g][t] += ANSWER_BONUS;
                    }
                }
            }
            return scores;
        }

        private int[][][] randomChoice(Annotation annotation, int size, int chunkIndex, double[] fractions, double[] js) {
            SplittableRandom random = new SplittableRandom(settings.seed() * 1_000_003L + demonstrations * 31L + chunkIndex);
            int k = keepCount(settings.fixedRatio(), size, annotation.answerTokens());
            int[][][] kept = new int[layers][config.numKvHeads()][];
            for (int l = 0; l < layers; l++) {
                for (int g = 0; g < config.numKvHeads(); g++) {
                    float[] noise = new float[size];
                    for (int t = 0; t < size; t++) {
                        noise[t] = (float) random.nextDouble() + (annotation.modality()[t] == Modality.ANSWER ? ANSWER_BONUS : 0);
                    }
                    kept[l][g] = topK(rankByScore(new float[][] {noise}), k)[0];
                }
                fractions[l] = k / (double) size;
                js[l] = Double.NaN;
            }
            return kept;
        }

        /** Appends the chosen tokens of every layer to the memory, in a new manager that replaces the old one. */
        private void assemble(List<NDArray[]> chosen, Annotation annotation, int[][] keptAll, int nextOffset, int chunkTokens) {
            NDManager next = language.newRequestManager();
            List<NDArray> newKeys = new ArrayList<>(layers);
            List<NDArray> newValues = new ArrayList<>(layers);
            for (int l = 0; l < layers; l++) {
                NDArray[] kv = chosen.get(l);
                newKeys.add(join(keys == null ? null : keys.get(l), kv[0], next));
                newValues.add(join(values == null ? null : values.get(l), kv[1], next));
                if (keptAll != null) {
                    countModalities(l, keptAll, annotation);
                }
            }
            if (manager != null) {
                manager.close();
            }
            manager = next;
            keys = newKeys;
            values = newValues;
            offset = nextOffset;
            tokensSeen += chunkTokens;
            for (Modality m : annotation.modality()) {
                seen.merge(m, 1, Integer::sum);
            }
        }

        private NDArray join(NDArray memory, NDArray added, NDManager owner) {
            NDArray joined = memory == null ? added.duplicate() : NDArrays.concat(new NDList(memory, added), 2);
            joined.attach(owner);
            return joined;
        }

        private void countModalities(int layer, int[][] keptPerHead, Annotation annotation) {
            for (int[] head : keptPerHead) {
                for (int t : head) {
                    keptByModality[layer][annotation.modality()[t].ordinal()] += 1.0 / keptPerHead.length;
                }
            }
        }

        TaskMemory finish(String taskId) {
            List<CompressionReport.LayerRetention> retention = new ArrayList<>();
            for (int l = 0; l < layers; l++) {
                Map<Modality, Double> byModality = new EnumMap<>(Modality.class);
                for (Modality m : Modality.values()) {
                    if (keptByModality[l][m.ordinal()] > 0) {
                        byModality.put(m, keptByModality[l][m.ordinal()]);
                    }
                }
                retention.add(new CompressionReport.LayerRetention(l, (int) keys.get(l).getShape().get(2), byModality));
            }
            Map<String, Long> millis = new LinkedHashMap<>();
            for (int p = 0; p < PHASES.length; p++) {
                millis.put(PHASES[p], phaseNanos[p] / 1_000_000L);
            }
            CompressionReport report = new CompressionReport(demonstrations, tokensSeen, seen, retention, chunkReports, millis);
            TaskMemory memory = TaskMemory.builder(taskId, manager).modelFingerprint(language.fingerprint()).settings(settings)
                    .demonstrations(digest, demonstrations).layers(keys, values).positionOffset(offset).report(report).build();
            log.info("Task memory '{}': {} demonstrations, {} tokens seen, {}% kept, {} bytes", taskId, demonstrations,
                    tokensSeen, String.format("%.1f", 100 * report.keptFraction()), memory.sizeInBytes());
            return memory;
        }

        /** Releases what was built; an existing base memory is untouched. */
        void discard() {
            if (manager != null) {
                manager.close();
                manager = null;
            }
        }
    }

    /**
     * The teacher batch: demonstrations one per row, right-padded. {@code rows} is the union of the rows'
     * answer positions (probed for attention, {@code valid} marking which (row, position) pairs are
     * answers); {@code pairRows}/{@code pairPositions} list exactly the answer tokens, where logits are taken.
     */
    private record Teacher(NDArray embeddings, NDArray positions, int[] rows, NDArray valid, int[] pairRows,
            int[] pairPositions) {

        Logits answerLogits() {
            return Logits.pairs(pairRows, pairPositions);
        }
    }

    private Teacher teacherBatch(NDManager work, List<Demonstration> demos, int offset) {
        List<PreparedPrompt> prompts = new ArrayList<>();
        List<Annotation> annotations = new ArrayList<>();
        int longest = 0;
        for (Demonstration demo : demos) {
            PreparedPrompt prompt = model.prepare(work, demo.messages(), DEMONSTRATION_TURNS, offset);
            prompts.add(prompt);
            annotations.add(annotate(prompt.tokenIds(), false));
            longest = Math.max(longest, prompt.length());
        }
        TreeSet<Integer> union = new TreeSet<>();
        for (Annotation a : annotations) {
            for (int[] span : a.answers()) {
                for (int t = span[0]; t < span[1]; t++) {
                    union.add(t);
                }
            }
        }
        int[] rows = union.stream().mapToInt(Integer::intValue).toArray();
        NDList embeddings = new NDList();
        NDList positions = new NDList();
        float[] valid = new float[demos.size() * rows.length];
        List<int[]> pairs = new ArrayList<>();
        for (int b = 0; b < prompts.size(); b++) {
            PreparedPrompt prompt = prompts.get(b);
            int pad = longest - prompt.length();
            NDArray e = prompt.embeddings();
            NDArray p = prompt.positionIds();
            if (pad > 0) {
                e = NDArrays.concat(new NDList(e, work.zeros(new Shape(1, pad, e.getShape().get(2)), e.getDataType(), e.getDevice())), 1);
                NDArray tail = work.arange(prompt.nextOffset(), prompt.nextOffset() + pad, 1, DataType.INT64, p.getDevice())
                        .reshape(1, 1, pad).broadcast(3, 1, pad);
                p = NDArrays.concat(new NDList(p, tail), 2);
            }
            embeddings.add(e);
            positions.add(p);
            for (int[] span : annotations.get(b).answers()) {
                for (int t = span[0]; t < span[1]; t++) {
                    valid[b * rows.length + Arrays.binarySearch(rows, t)] = 1;
                    pairs.add(new int[] {b, t});
                }
            }
        }
        return new Teacher(NDArrays.concat(embeddings, 0), NDArrays.concat(positions, 1), rows,
                work.create(valid, new Shape(demos.size(), rows.length)).toDevice(language.device(), false),
                pairs.stream().mapToInt(p -> p[0]).toArray(), pairs.stream().mapToInt(p -> p[1]).toArray());
    }

    /** Every token index, for every KV head. */
    private int[][] allTokens(int size) {
        int[][] all = new int[config.numKvHeads()][size];
        for (int[] head : all) {
            for (int t = 0; t < size; t++) {
                head[t] = t;
            }
        }
        return all;
    }

    /** Tokens to keep for fraction {@code r}: at least every answer token, at most the whole chunk. */
    static int keepCount(double r, int size, int answerTokens) {
        return Math.min(size, Math.max(answerTokens, Math.max(1, (int) Math.round(r * size))));
    }

    /** Per head, token indices by descending score (ties by position). */
    static int[][] rankByScore(float[][] scores) {
        int[][] order = new int[scores.length][];
        for (int g = 0; g < scores.length; g++) {
            float[] s = scores[g];
            order[g] = java.util.stream.IntStream.range(0, s.length).boxed()
                    .sorted((a, b) -> s[a] != s[b] ? Float.compare(s[b], s[a]) : Integer.compare(a, b))
                    .mapToInt(Integer::intValue).toArray();
        }
        return order;
    }

    /** The first {@code k} of each head's ranking, in ascending token order. */
    static int[][] topK(int[][] order, int k) {
        int[][] kept = new int[order.length][];
        for (int g = 0; g < order.length; g++) {
            kept[g] = Arrays.copyOf(order[g], k);
            Arrays.sort(kept[g]);
        }
        return kept;
    }

    /** Average pooling with stride 1 and zero padding (kernel - 1) / 2, counting the padding (PyTorch's default). */
    static float[] averagePool(float[] values, int kernel) {
        int half = kernel / 2;
        float[] out = new float[values.length];
        for (int t = 0; t < values.length; t++) {
            double sum = 0;
            for (int j = t - half; j <= t + half; j++) {
                if (j >= 0 && j < values.length) {
                    sum += values[j];
                }
            }
            out[t] = (float) (sum / kernel);
        }
        return out;
    }

    /** The chosen tokens of one layer: {@code [keys, values]} each {@code (1, G, k, D)}. */
    private NDArray[] gather(NDArray[] layer, int[][] keptPerHead) {
        int groups = keptPerHead.length;
        int k = keptPerHead[0].length;
        long headDim = layer[0].getShape().get(3);
        long[] flat = new long[groups * k];
        for (int g = 0; g < groups; g++) {
            for (int i = 0; i < k; i++) {
                flat[g * k + i] = keptPerHead[g][i];
            }
        }
        try (NDManager scratch = layer[0].getManager().newSubManager()) {
            NDArray index = scratch.create(flat, new Shape(1, groups, k, 1)).toDevice(layer[0].getDevice(), false)
                    .broadcast(1, groups, k, headDim);
            return new NDArray[] {layer[0].gather(index, 2), layer[1].gather(index, 2)}; // owned by the layer's manager
        }
    }

    private static List<Double> toList(double[] values) {
        List<Double> out = new ArrayList<>(values.length);
        for (double v : values) {
            out.add(v);
        }
        return out;
    }
}

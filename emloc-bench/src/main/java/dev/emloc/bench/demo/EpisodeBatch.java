package dev.emloc.bench.demo;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.emloc.model.ForwardRequest;
import dev.emloc.model.Logits;
import dev.emloc.model.MultimodalPositions;
import dev.emloc.model.OwnedArrays;
import dev.emloc.model.QwenModel;
import dev.emloc.text.ChatFormat;
import dev.emloc.text.ChatMessage;
import dev.emloc.text.RenderOptions;
import dev.emloc.vision.ProcessedVision;
import dev.emloc.vision.VisionLanguageModel;

/**
 * A batch of episodes rendered as the compressor renders demonstrations (system turn, every item a user turn and
 * an assistant answer, no generation prompt), with the rows that predict each answer's label tokens and closing
 * {@code <|im_end|>}. Episodes of one batch have the same number of items and label length, so their token layouts
 * (and multimodal positions) are identical and they stack into one {@code (B, T)} forward.
 *
 * <p>Supervised answers: in training, every item whose class already appeared earlier in its episode (the first
 * sight of a class carries no information about its label); in evaluation, the last item only (the query).
 */
final class EpisodeBatch {

    static final RenderOptions WHOLE_CONTEXT = RenderOptions.builder().includeSystem(true).addGenerationPrompt(false).build();

    private final long[][] ids;        // (B, T)
    private final long[] layout;       // episode 0's ids: where the image pads are
    private final List<ProcessedVision> vision; // B * items, episode-major
    private final List<int[]> grids;   // of episode 0
    private final int[] rows;          // (R): predicting rows, 3 per item (2 label letters + <|im_end|>)
    private final long[][] targets;    // (B, R)
    private final float[][] mask;      // (B, R): 1 where supervised
    private final int items;
    private final int[][] itemStarts;  // (B, items + 1): each item's user turn (item 0 at 0, with the system turn), then T
    private final int[] answerStarts;  // (items): each answer's first token
    private final int[] imageClasses;  // (B * items with pictures): each picture's class, episode-major
    private int[] visibleBefore;       // (L, B, T) flat, or null: simulated pruning of earlier chunks
    private NDArray visual;            // merged vision tokens of the last forward with pictures (B * M, hidden)

    private EpisodeBatch(long[][] ids, List<ProcessedVision> vision, List<int[]> grids, int[] rows, long[][] targets,
            float[][] mask, int items, int[][] itemStarts, int[] answerStarts, int[] imageClasses) {
        this.ids = ids;
        this.layout = ids[0];
        this.vision = vision;
        this.grids = grids;
        this.rows = rows;
        this.targets = targets;
        this.mask = mask;
        this.items = items;
        this.itemStarts = itemStarts;
        this.answerStarts = answerStarts;
        this.imageClasses = imageClasses;
    }

    /**
     * @param sequences   each episode's items in order (demonstrations, then a query when evaluating)
     * @param queryOnly   supervise the last item only (evaluation) instead of every repeated class (training)
     */
    static EpisodeBatch of(VisionLanguageModel model, List<List<IclEpisodes.Item>> sequences, boolean queryOnly) {
        ChatFormat chat = model.chat();
        int batch = sequences.size();
        int items = sequences.get(0).size();
        long[][] ids = new long[batch][];
        List<ProcessedVision> vision = new ArrayList<>();
        List<int[]> grids = new ArrayList<>();
        long[] answerPrefix = chat.tokenizer().encode(ChatFormat.IM_START + "assistant\n");
        long[] userPrefix = chat.tokenizer().encode(ChatFormat.IM_START + "user\n");
        int[] rows = null;
        int[] answerStarts = null;
        int[][] itemStarts = new int[batch][];
        List<Integer> imageClasses = new ArrayList<>();
        long[][] targets = new long[batch][];
        float[][] mask = new float[batch][];
        for (int b = 0; b < batch; b++) {
            List<IclEpisodes.Item> sequence = sequences.get(b);
            if (sequence.size() != items) {
                throw new IllegalArgumentException("Episodes of one batch need the same number of items");
            }
            List<ChatMessage> messages = new ArrayList<>();
            List<Integer> counts = new ArrayList<>();
            for (IclEpisodes.Item item : sequence) {
                messages.add(item.user());
                messages.add(ChatMessage.assistant(item.label()));
                if (item.image() != null) {
                    ProcessedVision processed = model.processor().processImage(item.image());
                    vision.add(processed);
                    imageClasses.add(item.visualClass());
                    counts.add(processed.mergedTokenCount());
                    if (b == 0) {
                        grids.add(new int[] {processed.gridT(), processed.gridH(), processed.gridW()});
                    }
                }
            }
            ids[b] = chat.encode(messages, WHOLE_CONTEXT, counts);
            if (b > 0 && ids[b].length != ids[0].length) {
                throw new IllegalArgumentException("Episodes of one batch must render to the same length: " + ids[b].length
                        + " vs " + ids[0].length);
            }
            int[] starts = after(ids[b], answerPrefix, items);
            int[] users = after(ids[b], userPrefix, items);
            itemStarts[b] = new int[items + 1];
            for (int i = 1; i < items; i++) {
                itemStarts[b][i] = users[i] - userPrefix.length;
            }
            itemStarts[b][items] = ids[b].length;
            int perItem = IclEpisodes.LABEL_LETTERS + 1;
            int[] episodeRows = new int[items * perItem];
            targets[b] = new long[episodeRows.length];
            mask[b] = new float[episodeRows.length];
            Set<Integer> seen = new HashSet<>();
            for (int i = 0; i < items; i++) {
                boolean supervised = queryOnly ? i == items - 1
                        : sequence.get(i).description() || !seen.add(sequence.get(i).visualClass());
                for (int j = 0; j < perItem; j++) {
                    int r = i * perItem + j;
                    episodeRows[r] = starts[i] - 1 + j;
                    targets[b][r] = ids[b][starts[i] + j];
                    mask[b][r] = supervised ? 1 : 0;
                }
            }
            if (rows == null) {
                rows = episodeRows;
                answerStarts = starts;
            } else if (!Arrays.equals(rows, episodeRows)) {
                throw new IllegalArgumentException("Episodes of one batch must have the same answer positions");
            }
        }
        return new EpisodeBatch(ids, vision, grids, rows, targets, mask, items, itemStarts, answerStarts,
                imageClasses.stream().mapToInt(Integer::intValue).toArray());
    }

    /**
     * Pruning drill: hides tokens of earlier chunks from later ones, as an EMLoC task memory does, so that training sees
     * the incomplete contexts compression leaves. For a fraction {@code episodes} of the batch's episodes: the items
     * are cut into chunks of a size drawn from {@code chunkSizes}; at every layer independently, each token that is
     * not an answer (answers are never pruned) is hidden from every later chunk with probability {@code drop}, drawn
     * per episode from {@code [minDrop, maxDrop]}. Within its own chunk every token stays visible.
     */
    record PruningDrill(double episodes, double minDrop, double maxDrop, int[] chunkSizes) {

        PruningDrill {
            if (episodes < 0 || episodes > 1 || minDrop < 0 || maxDrop > 1 || minDrop > maxDrop) {
                throw new IllegalArgumentException("Pruning drill needs 0 <= episodes <= 1 and 0 <= min drop <= max drop <= 1,"
                        + " got " + episodes + ", " + minDrop + ".." + maxDrop);
            }
            if (chunkSizes.length == 0 || Arrays.stream(chunkSizes).anyMatch(c -> c < 1)) {
                throw new IllegalArgumentException("Pruning drill needs chunk sizes of at least 1, got "
                        + Arrays.toString(chunkSizes));
            }
        }

        boolean active() {
            return episodes > 0;
        }
    }

    /** Draws a pruning drill for this batch (see {@link PruningDrill}); the next training forward uses it. */
    void drill(SplittableRandom random, int numLayers, PruningDrill drill) {
        int batch = ids.length;
        int length = layout.length;
        int[] visible = new int[numLayers * batch * length];
        Arrays.fill(visible, length);
        int perItem = IclEpisodes.LABEL_LETTERS + 1;
        for (int b = 0; b < batch; b++) {
            if (random.nextDouble() >= drill.episodes()) {
                continue;
            }
            int chunk = drill.chunkSizes()[random.nextInt(drill.chunkSizes().length)];
            double drop = drill.minDrop() + random.nextDouble() * (drill.maxDrop() - drill.minDrop());
            for (int first = 0; first + chunk < items; first += chunk) { // every chunk but the last
                int end = itemStarts[b][first + chunk];
                boolean[] answer = new boolean[end];
                for (int i = first; i < first + chunk; i++) {
                    Arrays.fill(answer, answerStarts[i], answerStarts[i] + perItem, true);
                }
                for (int l = 0; l < numLayers; l++) {
                    int base = (l * batch + b) * length;
                    for (int j = itemStarts[b][first]; j < end; j++) {
                        if (!answer[j] && random.nextDouble() < drop) {
                            visible[base + j] = end;
                        }
                    }
                }
            }
        }
        this.visibleBefore = visible;
    }

    /** The drawn drill, {@code (L, B, T)} flattened, or null. */
    int[] visibleBefore() {
        return visibleBefore;
    }

    /** Token ids of episode {@code b}. */
    long[] ids(int b) {
        return ids[b];
    }

    /** Fraction of (layer, key) pairs the drawn drill hides from some later query; 0 without a drill. */
    double hiddenFraction() {
        if (visibleBefore == null) {
            return 0;
        }
        long hidden = Arrays.stream(visibleBefore).filter(v -> v < layout.length).count();
        return (double) hidden / visibleBefore.length;
    }

    /** Index just after each occurrence of {@code prefix} (a turn header): there must be exactly {@code expected}. */
    private static int[] after(long[] ids, long[] prefix, int expected) {
        int[] starts = new int[expected];
        int found = 0;
        for (int i = 0; i + prefix.length <= ids.length; i++) {
            if (Arrays.equals(ids, i, i + prefix.length, prefix, 0, prefix.length)) {
                if (found == expected) {
                    throw new IllegalStateException("More turns than the " + expected + " items");
                }
                starts[found++] = i + prefix.length;
            }
        }
        if (found != expected) {
            throw new IllegalStateException("Found " + found + " turns for " + expected + " items");
        }
        return starts;
    }

    int batchSize() {
        return ids.length;
    }

    int length() {
        return layout.length;
    }

    /**
     * Log-probabilities {@code (B, R, V)} at the answer rows, computed with autograd on when {@code training}.
     */
    NDArray logProbs(VisionLanguageModel model, NDManager manager, boolean training) {
        return logProbs(model, manager, training, false)[0];
    }

    /**
     * Log-probabilities at the answer rows {@code (B, R, V)} and, with {@code everyToken}, the language-modelling loss
     * over every next token that is text (image pads excluded) as a second, scalar array.
     */
    NDArray[] logProbs(VisionLanguageModel model, NDManager manager, boolean training, boolean everyToken) {
        QwenModel language = model.language();
        int batch = ids.length;
        int length = layout.length;
        long[] flat = new long[batch * length];
        for (int b = 0; b < batch; b++) {
            System.arraycopy(ids[b], 0, flat, b * length, length);
        }
        NDArray embeddings = language.embed(manager.create(flat, new Shape(batch, length)));   // (B, T, hidden)
        NDArray positions;
        if (vision.isEmpty()) {
            positions = MultimodalPositions.text(length, 0).toArray(manager);
        } else {
            embeddings = splice(model, manager, embeddings, training);
            long imagePad = language.config().imageTokenId();
            long videoPad = language.config().videoTokenId();
            positions = MultimodalPositions.compute(layout, imagePad, videoPad, grids, model.processor().config().mergeSize(), 0)
                    .toArray(manager);                                                            // (3, 1, T)
        }
        positions = positions.repeat(1, batch);                                                   // (3, B, T)
        ForwardRequest.Builder request = ForwardRequest.embeddings(embeddings).positionIds(positions)
                .logits(everyToken ? Logits.all() : Logits.at(rows)).outputManager(manager);
        if (training) {
            request.training();
        }
        if (visibleBefore != null) {
            int layers = visibleBefore.length / (batch * length);
            request.keyVisibleBefore(manager.create(visibleBefore, new Shape(layers, batch, length)));
        }
        NDArray logProbs = language.forward(request.build()).logits().logSoftmax(-1);           // (B, R or T, V)
        if (!everyToken) {
            return new NDArray[] {logProbs};
        }
        long imagePad = language.config().imageTokenId();
        long[] next = new long[batch * (length - 1)];
        float[] weight = new float[next.length];
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t + 1 < length; t++) {
                next[b * (length - 1) + t] = ids[b][t + 1];
                weight[b * (length - 1) + t] = ids[b][t + 1] == imagePad ? 0 : 1;
            }
        }
        NDArray predicting = logProbs.get(new NDIndex(":, :-1"));                                 // (B, T-1, V)
        NDArray picked = predicting.mul(manager.create(next, new Shape(batch, length - 1))
                .oneHot((int) logProbs.getShape().get(2))).sum(new int[] {2});                      // (B, T-1)
        NDArray weights = manager.create(weight, new Shape(batch, length - 1));
        NDArray lmLoss = negativeMean(picked, weights, sum(weight));
        NDArray index = manager.create(java.util.Arrays.stream(rows).asLongStream().toArray());
        return new NDArray[] {logProbs.get(new NDIndex(":, {}", index)), lmLoss};
    }

    private static float sum(float[] values) {
        float total = 0;
        for (float v : values) {
            total += v;
        }
        return total;
    }

    /** Replaces the image-pad rows of every episode by the vision tower's output, by concatenation. */
    private NDArray splice(VisionLanguageModel model, NDManager manager, NDArray text, boolean training) {
        int patchDim = vision.get(0).patchDim();
        int patches = vision.stream().mapToInt(ProcessedVision::patchCount).sum();
        float[] pixels = new float[patches * patchDim];
        List<int[]> allGrids = new ArrayList<>(vision.size());
        int offset = 0;
        for (ProcessedVision p : vision) {
            System.arraycopy(p.pixelValues(), 0, pixels, offset, p.pixelValues().length);
            offset += p.pixelValues().length;
            allGrids.add(new int[] {p.gridT(), p.gridH(), p.gridW()});
        }
        NDArray visual = model.vision().orElseThrow().encode(manager.create(pixels, new Shape(patches, patchDim)), allGrids,
                training);                                                                         // (B*M, hidden)
        this.visual = visual;
        int batch = ids.length;
        long hidden = text.getShape().get(2);
        visual = visual.reshape(batch, -1, hidden);                                                // (B, M, hidden)
        long imagePad = model.language().config().imageTokenId();
        NDList pieces = new NDList();
        int visualRow = 0;
        int start = 0;
        for (int i = 1; i <= layout.length; i++) {
            boolean runEnds = i == layout.length || (layout[i] == imagePad) != (layout[start] == imagePad);
            if (runEnds) {
                if (layout[start] == imagePad) {
                    pieces.add(visual.get(new NDIndex(":, {}:{}", visualRow, visualRow + i - start)));
                    visualRow += i - start;
                } else {
                    pieces.add(text.get(new NDIndex(":, {}:{}", start, i)));
                }
                start = i;
            }
        }
        return NDArrays.concat(pieces, 1);
    }

    /**
     * Snap loss of the last forward with pictures, or null without one: how far its merged vision tokens are from the
     * embeddings of their class's {@link IclEpisodes#visualCode} letters (targets detached), as squared distance over
     * squared target norm, summed over tokens. Computed only when asked for, in the arrays of {@code manager}.
     */
    NDArray snapLoss(VisionLanguageModel model, NDManager manager) {
        if (visual == null) {
            return null;
        }
        long[] letters = new long[(int) visual.getShape().get(0)];
        int perImage = letters.length / imageClasses.length;
        for (int i = 0; i < imageClasses.length; i++) {
            long[] code = model.chat().tokenizer().encode(IclEpisodes.visualCode(imageClasses[i], perImage));
            if (code.length != perImage) {
                throw new IllegalStateException("A visual code must be one token per letter, got " + code.length + " tokens for "
                        + perImage + " letters");
            }
            System.arraycopy(code, 0, letters, i * perImage, perImage);
        }
        NDArray target = model.language().embed(manager.create(letters, new Shape(1, letters.length)))
                .reshape(visual.getShape()).stopGradient();
        return visual.sub(target).square().sum().div(target.square().sum());
    }

    /** Mean negative log-likelihood of the supervised answer tokens. */
    NDArray loss(NDManager manager, NDArray logProbs) {
        long vocab = logProbs.getShape().get(2);
        NDArray picked = logProbs.mul(manager.create(targets).oneHot((int) vocab)).sum(new int[] {2});  // (B, R)
        NDArray weights = manager.create(mask);
        return negativeMean(picked, weights, sumOf(mask));
    }

    /** {@code -sum(picked * weights) / max(1, count)}: the mean negative log-likelihood of the weighted entries. */
    private static NDArray negativeMean(NDArray picked, NDArray weights, float count) {
        NDArray total = picked.mul(weights).sum().neg();
        return total.div(OwnedArrays.scalar(total, Math.max(1f, count))); // not div(float): see OwnedArrays
    }

    /** Fraction of supervised answers whose every token (letters and {@code <|im_end|>}) is the argmax. */
    double[] correctAnswers(NDArray logProbs) {
        long[] predicted = logProbs.argMax(-1).toType(DataType.INT64, false).toLongArray();         // (B, R) flat
        int perItem = IclEpisodes.LABEL_LETTERS + 1;
        int correct = 0;
        int total = 0;
        for (int b = 0; b < ids.length; b++) {
            for (int i = 0; i < items; i++) {
                if (mask[b][i * perItem] == 0) {
                    continue;
                }
                boolean all = true;
                for (int j = 0; j < perItem; j++) {
                    int r = i * perItem + j;
                    all &= predicted[b * rows.length + r] == targets[b][r];
                }
                correct += all ? 1 : 0;
                total++;
            }
        }
        return new double[] {correct, total};
    }

    private static float sumOf(float[][] values) {
        float sum = 0;
        for (float[] row : values) {
            for (float v : row) {
                sum += v;
            }
        }
        return sum;
    }
}

package dev.emloc.vision;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.BooleanSupplier;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import dev.emloc.generate.Generation;
import dev.emloc.generate.GenerationRequest;
import dev.emloc.generate.GenerationSettings;
import dev.emloc.generate.Generator;
import dev.emloc.generate.TokenListener;
import dev.emloc.memory.IncompatibleTaskMemoryException;
import dev.emloc.memory.TaskMemory;
import dev.emloc.model.Checkpoint;
import dev.emloc.model.CheckpointException;
import dev.emloc.model.KvCache;
import dev.emloc.model.ModelConfig;
import dev.emloc.model.ModelOptions;
import dev.emloc.model.MultimodalPositions;
import dev.emloc.model.QwenModel;
import dev.emloc.text.ChatFormat;
import dev.emloc.text.ChatMessage;
import dev.emloc.text.ContentPart;
import dev.emloc.text.QwenTokenizer;
import dev.emloc.text.RenderOptions;

/**
 * A whole Qwen2-VL: tokenizer and chat format, image preprocessing, vision tower and language model.
 * It turns a conversation with pictures into model input ({@link #prepare}) and answers it
 * ({@link #generate}). A plain {@code qwen2} checkpoint loads too, without the vision parts.
 *
 * <p>Thread-safe: the weights are shared and read-only; every call works in its caller's manager.
 */
public final class VisionLanguageModel implements AutoCloseable {

    private final QwenModel language;
    private final VisionTower vision;
    private final ImageProcessor processor;
    private final ImageDecoder decoder;
    private final QwenTokenizer tokenizer;
    private final ChatFormat chat;
    private final long imagePadId;
    private final long videoPadId;

    /** Assembles the parts; they are closed with this model. {@code vision} is null for a text-only model. */
    public VisionLanguageModel(QwenModel language, VisionTower vision, ImageProcessor processor, QwenTokenizer tokenizer) {
        this.language = Objects.requireNonNull(language, "language");
        this.vision = vision;
        this.processor = Objects.requireNonNull(processor, "processor");
        this.decoder = new ImageDecoder(processor.limits());
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.chat = new ChatFormat(tokenizer);
        ModelConfig config = language.config();
        this.imagePadId = padId(config.imageTokenId(), ChatFormat.IMAGE_PAD, "image_token_id");
        this.videoPadId = padId(config.videoTokenId(), ChatFormat.VIDEO_PAD, "video_token_id");
        if (vision != null && vision.config().hiddenSize() != config.hiddenSize()) {
            throw new CheckpointException("vision_config.hidden_size " + vision.config().hiddenSize()
                    + " must equal the language model's hidden_size " + config.hiddenSize());
        }
    }

    /** The pad id from config.json, checked against the tokenizer's; -1 when neither defines it. */
    private long padId(int fromConfig, String token, String key) {
        var fromTokenizer = tokenizer.findTokenId(token);
        if (fromConfig >= 0 && fromTokenizer.isPresent() && fromTokenizer.getAsInt() != fromConfig) {
            throw new CheckpointException("config.json " + key + " is " + fromConfig + " but the tokenizer's " + token + " is "
                    + fromTokenizer.getAsInt() + "; the checkpoint's tokenizer.json does not belong to its config.json");
        }
        return fromConfig >= 0 ? fromConfig : fromTokenizer.isPresent() ? fromTokenizer.getAsInt() : -1;
    }

    /**
     * Loads a checkpoint directory: language model, tokenizer and, for {@code qwen2_vl}, the vision tower and
     * {@code preprocessor_config.json}.
     */
    public static VisionLanguageModel load(Path directory, ModelOptions options, VisionLimits limits) {
        try (Checkpoint checkpoint = Checkpoint.open(directory)) {
            QwenTokenizer tokenizer = QwenTokenizer.load(checkpoint.tokenizerPath());
            QwenModel language = null;
            VisionTower tower = null;
            try {
                language = QwenModel.load(checkpoint, options);
                Optional<VisionConfig> visionConfig = checkpoint.config().isVisionLanguage()
                        ? VisionConfig.read(directory.resolve(Checkpoint.CONFIG_FILE)) : Optional.empty();
                PreprocessorConfig preprocessing = PreprocessorConfig.qwen2VlDefaults();
                if (visionConfig.isPresent()) {
                    Path file = directory.resolve(PreprocessorConfig.FILE_NAME);
                    if (!Files.isRegularFile(file)) {
                        throw new CheckpointException("Missing " + PreprocessorConfig.FILE_NAME + " in " + directory
                                + "; a qwen2_vl checkpoint needs it for image preprocessing (copy it from the model's release)");
                    }
                    preprocessing = PreprocessorConfig.read(file);
                    tower = VisionTower.load(checkpoint, visionConfig.get(), options);
                }
                return new VisionLanguageModel(language, tower, new ImageProcessor(preprocessing, limits), tokenizer);
            } catch (RuntimeException e) {
                closeQuietly(tower, e);
                closeQuietly(language, e);
                closeQuietly(tokenizer, e);
                throw e;
            }
        }
    }

    private static void closeQuietly(AutoCloseable closeable, RuntimeException failure) {
        if (closeable != null) {
            try {
                closeable.close();
            } catch (Exception e) {
                failure.addSuppressed(e);
            }
        }
    }

    public QwenModel language() {
        return language;
    }

    /** The vision tower, empty for a text-only model. */
    public Optional<VisionTower> vision() {
        return Optional.ofNullable(vision);
    }

    public ImageProcessor processor() {
        return processor;
    }

    public QwenTokenizer tokenizer() {
        return tokenizer;
    }

    public ChatFormat chat() {
        return chat;
    }

    /**
     * Turns a conversation into model input: decodes and preprocesses every image and video, renders the
     * chat with one pad token per merged vision token, embeds the text, runs the vision tower once over
     * all images (never mixing them) and splices its output over the pad tokens, and computes the
     * multimodal positions starting at {@code positionOffset}.
     *
     * @throws ImageInputException for undecodable, empty or oversized images, or too many of them
     */
    public PreparedPrompt prepare(NDManager manager, List<ChatMessage> messages, RenderOptions options, int positionOffset) {
        List<ContentPart> parts = ChatFormat.visionParts(messages);
        if (!parts.isEmpty() && vision == null) {
            throw new ImageInputException("This checkpoint (model_type " + language.config().modelType()
                    + ") has no vision tower; send text only or load a qwen2_vl checkpoint");
        }
        processor.limits().checkImageCount(parts.size());
        List<ProcessedVision> processed = new ArrayList<>(parts.size());
        for (ContentPart part : parts) {
            processed.add(part instanceof ContentPart.Image image ? processor.processImage(decoder.decode(image.bytes()))
                    : processor.processVideo(decoder.decodeAll(((ContentPart.Video) part).frames())));
        }
        List<Integer> counts = processed.stream().map(ProcessedVision::mergedTokenCount).toList();
        long[] ids = chat.encode(messages, options, counts);
        List<int[]> grids = processed.stream().map(p -> new int[] {p.gridT(), p.gridH(), p.gridW()}).toList();
        MultimodalPositions positions = MultimodalPositions.compute(ids, imagePadId, videoPadId, grids,
                processor.config().mergeSize(), positionOffset);
        NDArray embeddings = embed(manager, ids, processed);
        return new PreparedPrompt(ids, embeddings, positions.toArray(manager), positions.nextOffset(), grids);
    }

    /**
     * Embeddings {@code (1, T, hidden)} of expanded ids, the pad-token runs replaced in order by the vision
     * tower's output for {@code processed}. Built by concatenation, so it also works under autograd.
     */
    public NDArray embed(NDManager manager, long[] ids, List<ProcessedVision> processed) {
        NDArray text = language.embed(manager.create(ids, new Shape(1, ids.length)));
        if (processed.isEmpty()) {
            return text;
        }
        NDArray visual = encodeVision(manager, processed); // (M, hidden)
        NDList pieces = new NDList();
        int visualRow = 0;
        int start = 0;
        for (int i = 0; i <= ids.length; i++) {
            boolean pad = i < ids.length && (ids[i] == imagePadId || ids[i] == videoPadId);
            boolean runEnds = i == ids.length || pad != (ids[start] == imagePadId || ids[start] == videoPadId);
            if (i > start && runEnds) {
                if (ids[start] == imagePadId || ids[start] == videoPadId) {
                    int length = i - start;
                    pieces.add(visual.get(new NDIndex("{}:{}", visualRow, visualRow + length)).expandDims(0));
                    visualRow += length;
                } else {
                    pieces.add(text.get(new NDIndex(":, {}:{}", start, i)));
                }
                start = i;
            }
        }
        if (visualRow != visual.getShape().get(0)) {
            throw new IllegalStateException("The prompt has " + visualRow + " vision pad tokens but the vision tower produced "
                    + visual.getShape().get(0) + " embeddings");
        }
        return pieces.size() == 1 ? pieces.singletonOrThrow() : NDArrays.concat(pieces, 1);
    }

    /** Runs the vision tower once over every image and video: {@code (sum of merged tokens, hidden)}. */
    private NDArray encodeVision(NDManager manager, List<ProcessedVision> processed) {
        int patches = 0;
        int patchDim = processed.get(0).patchDim();
        for (ProcessedVision p : processed) {
            patches += p.patchCount();
        }
        float[] pixels = new float[Math.multiplyExact(patches, patchDim)];
        int offset = 0;
        List<int[]> grids = new ArrayList<>(processed.size());
        for (ProcessedVision p : processed) {
            System.arraycopy(p.pixelValues(), 0, pixels, offset, p.pixelValues().length);
            offset += p.pixelValues().length;
            grids.add(new int[] {p.gridT(), p.gridH(), p.gridW()});
        }
        NDArray input = manager.create(pixels, new Shape(patches, patchDim)).toDevice(language.device(), false);
        return vision.encode(input, grids);
    }

    /** Answers a conversation (images allowed) with a fresh cache. */
    public Generation generate(List<ChatMessage> messages, GenerationSettings settings, TokenListener listener) {
        return generate(messages, settings, listener, () -> false);
    }

    /** Answers a conversation with a fresh cache; stops with {@code CANCELLED} once {@code cancelled} says so. */
    public Generation generate(List<ChatMessage> messages, GenerationSettings settings, TokenListener listener,
            BooleanSupplier cancelled) {
        try (NDManager manager = language.newRequestManager()) {
            PreparedPrompt prompt = prepare(manager, messages, RenderOptions.prompt(), 0);
            return new Generator(language, tokenizer).generate(GenerationRequest.builder(prompt.tokenIds(), settings)
                    .multimodalPrompt(prompt.embeddings(), prompt.positionIds()).listener(listener).cancelled(cancelled)
                    .build());
        }
    }

    /** How a query after a task memory is rendered: no system turn (the memory holds it), generation prompt on. */
    public static final RenderOptions QUERY_AFTER_MEMORY = RenderOptions.builder().includeSystem(false)
            .addGenerationPrompt(true).build();

    /**
     * Answers a query with a task memory as its prefix: the query is rendered without the system turn, its
     * positions start at the memory's offset, and every layer attends to [memory ; query].
     *
     * @throws IllegalArgumentException if the memory was built for another model
     */
    public Generation generate(TaskMemory memory, List<ChatMessage> messages, GenerationSettings settings,
            TokenListener listener) {
        return generate(memory, messages, settings, listener, () -> false);
    }

    /** As {@link #generate(TaskMemory, List, GenerationSettings, TokenListener)}, stopping once {@code cancelled} says so. */
    public Generation generate(TaskMemory memory, List<ChatMessage> messages, GenerationSettings settings,
            TokenListener listener, BooleanSupplier cancelled) {
        requireCompatible(memory);
        try (NDManager manager = language.newRequestManager(); KvCache cache = memory.newCache(manager)) {
            PreparedPrompt prompt = prepare(manager, messages, QUERY_AFTER_MEMORY, memory.positionOffset());
            return new Generator(language, tokenizer).generate(GenerationRequest.builder(prompt.tokenIds(), settings)
                    .cache(cache).multimodalPrompt(prompt.embeddings(), prompt.positionIds()).listener(listener)
                    .cancelled(cancelled).build());
        }
    }

    /** Refuses a task memory built for another model, naming both fingerprints. */
    public void requireCompatible(TaskMemory memory) {
        if (!memory.modelFingerprint().equals(language.fingerprint())) {
            throw new IncompatibleTaskMemoryException(memory.taskId(), memory.modelFingerprint(), language.fingerprint());
        }
        if (memory.numLayers() != language.config().numLayers()) {
            throw new IncompatibleTaskMemoryException(memory.taskId(), "Task memory '" + memory.taskId() + "' has "
                    + memory.numLayers() + " layers but the model has " + language.config().numLayers());
        }
    }

    @Override
    public void close() {
        if (vision != null) {
            vision.close();
        }
        language.close();
        tokenizer.close();
    }
}

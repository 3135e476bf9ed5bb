package dev.emloc.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.stream.Stream;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * A Hugging Face checkpoint directory, opened read-only: {@code config.json}, the weights as one
 * {@code model.safetensors} or as shards listed by {@code model.safetensors.index.json}, {@code tokenizer.json} and,
 * when present, {@code generation_config.json}.
 *
 * <p>Opening reads only the JSON files and the safetensors headers. {@link #load} maps one tensor's bytes and
 * copies them, in chunks of 2M elements, into a new NDArray of the requested float type whose
 * memory libtorch owns (it is freed when the array or its manager is closed; nothing stays tied to the file).
 * float32 and float16 data are converted by libtorch; bfloat16 data is widened to float32 in Java first, because
 * DJL 0.36 aborts the JVM on a {@code BFLOAT16} NDArray and has no bit-reinterpreting view (see
 * {@link FloatFormats#bfloat16ToFloat32}).
 *
 * <p><b>Names.</b> {@link #load} and {@link #info} take the canonical names of {@link WeightNames}
 * ({@code model.layers.0...}); Qwen2-VL checkpoints saved by newer {@code transformers} store the text model under
 * {@code model.language_model.} and the vision tower under {@code model.visual.} instead of {@code visual.}. When
 * the exact name is absent, {@link #resolve} tries the other layout, in both directions. {@code lm_head.weight} is
 * top-level in every layout.
 *
 * <p>Thread-safe: tensors may be loaded concurrently.
 */
public final class Checkpoint implements AutoCloseable {

    public static final String CONFIG_FILE = "config.json";
    public static final String WEIGHTS_FILE = "model.safetensors";
    public static final String WEIGHTS_INDEX_FILE = "model.safetensors.index.json";
    public static final String TOKENIZER_FILE = "tokenizer.json";
    public static final String GENERATION_CONFIG_FILE = "generation_config.json";

    /** Elements copied per step of a load; bounds the scratch memory of a bfloat16 load to 4 bytes times this. */
    static final int CHUNK_ELEMENTS = 1 << 21;

    private static final Logger log = LoggerFactory.getLogger(Checkpoint.class);
    private static final ObjectMapper JSON = JsonMapper.builder().build();

    private final Path directory;
    private final ModelConfig config;
    private final JsonNode configTree;
    private final Path tokenizerPath;
    private final GenerationDefaults generationDefaults;
    private final Map<Path, Safetensors> files;
    private final SortedMap<String, TensorInfo> tensors;
    private final ConcurrentLinkedDeque<ByteBuffer> scratchBuffers = new ConcurrentLinkedDeque<>();
    private volatile String fingerprint;
    private volatile boolean closed;

    private Checkpoint(Path directory, ModelConfig config, JsonNode configTree, Path tokenizerPath,
            GenerationDefaults generationDefaults, Map<Path, Safetensors> files, SortedMap<String, TensorInfo> tensors) {
        this.directory = directory;
        this.config = config;
        this.configTree = configTree;
        this.tokenizerPath = tokenizerPath;
        this.generationDefaults = generationDefaults;
        this.files = files;
        this.tensors = tensors;
    }

    /** Opens the checkpoint in {@code directory}; the caller closes it. */
    public static Checkpoint open(Path directory) {
        if (!Files.exists(directory)) {
            throw new CheckpointException("Checkpoint directory " + directory.toAbsolutePath()
                    + " does not exist; point at a Hugging Face checkpoint directory (config.json, model.safetensors, tokenizer.json)");
        }
        if (!Files.isDirectory(directory)) {
            throw new CheckpointException("Checkpoint path " + directory.toAbsolutePath()
                    + " is a file, not a directory; point at the directory that holds config.json, model.safetensors and tokenizer.json");
        }
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new CheckpointException("This engine loads safetensors (little-endian) only on little-endian machines, but this one is "
                    + ByteOrder.nativeOrder());
        }
        Path dir = directory.toAbsolutePath().normalize();
        Path configFile = dir.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(configFile)) {
            throw new CheckpointException("Checkpoint " + dir + " has no " + CONFIG_FILE
                    + "; copy the config.json of the model into it (a Hugging Face checkpoint directory has one)");
        }
        ModelConfig config;
        JsonNode configTree;
        try {
            config = ModelConfig.read(configFile);
            configTree = JSON.readTree(Files.readString(configFile));
        } catch (CheckpointException e) {
            throw new CheckpointException("Cannot open checkpoint " + dir + ": " + e.getMessage(), e);
        } catch (IOException | JacksonException e) {
            throw new CheckpointException("Cannot read " + configFile + ": " + e.getMessage(), e);
        }
        WeightLayout weights = weightLayout(dir);
        Path tokenizer = dir.resolve(TOKENIZER_FILE);
        if (!Files.isRegularFile(tokenizer)) {
            throw new CheckpointException("Checkpoint " + dir + " has no " + TOKENIZER_FILE
                    + "; copy the tokenizer.json of the base model into it");
        }
        Path generationFile = dir.resolve(GENERATION_CONFIG_FILE);
        GenerationDefaults generation = Files.isRegularFile(generationFile)
                ? GenerationDefaults.read(generationFile) : GenerationDefaults.empty();

        Map<Path, Safetensors> files = new LinkedHashMap<>();
        try {
            SortedMap<String, TensorInfo> tensors = new TreeMap<>();
            for (Path file : weights.files()) {
                Safetensors safetensors = Safetensors.open(file);
                files.put(file, safetensors);
                for (TensorInfo tensor : safetensors.tensors()) {
                    TensorInfo previous = tensors.put(tensor.name(), tensor);
                    if (previous != null) {
                        throw new CheckpointException("Tensor '" + tensor.name() + "' is stored twice, in " + previous.file().getFileName()
                                + " and " + file.getFileName() + " of " + dir + "; keep one copy (re-save the checkpoint)");
                    }
                }
            }
            checkIndexAgainstShards(dir, weights.weightMap(), tensors);
            Checkpoint checkpoint = new Checkpoint(dir, config, configTree, tokenizer, generation,
                    Collections.unmodifiableMap(files), Collections.unmodifiableSortedMap(tensors));
            log.info("Opened checkpoint {} ({}, {} tensors in {} file(s))", dir, config.modelType(), tensors.size(), files.size());
            return checkpoint;
        } catch (RuntimeException e) {
            files.values().forEach(file -> closeQuietly(file, e));
            throw e;
        }
    }

    /** The absolute, normalised checkpoint directory. */
    public Path directory() {
        return directory;
    }

    /** The language-model configuration from {@code config.json}. */
    public ModelConfig config() {
        return config;
    }

    /** The {@code tokenizer.json} of this checkpoint (its existence is checked, its content is not). */
    public Path tokenizerPath() {
        return tokenizerPath;
    }

    /** The defaults of {@code generation_config.json}; {@link GenerationDefaults#empty()} when the file is absent. */
    public GenerationDefaults generationDefaults() {
        return generationDefaults;
    }

    /** The stored names of all tensors, sorted. */
    public Set<String> tensorNames() {
        return tensors.keySet();
    }

    /**
     * The stored name for {@code name}: itself when present, otherwise its spelling in the other Qwen2-VL layout
     * ({@code model.X} and {@code model.language_model.X}; {@code visual.X} and {@code model.visual.X}).
     */
    public Optional<String> resolve(String name) {
        if (tensors.containsKey(name)) {
            return Optional.of(name);
        }
        return alternativeNames(name).stream().filter(tensors::containsKey).findFirst();
    }

    /** Whether {@link #resolve} finds {@code name}. */
    public boolean contains(String name) {
        return resolve(name).isPresent();
    }

    /** The header entry of {@code name} (resolved as by {@link #resolve}). */
    public TensorInfo info(String name) {
        return tensors.get(resolve(name).orElseThrow(() -> missingTensor(name)));
    }

    /**
     * Loads tensor {@code name} (resolved as by {@link #resolve}) as a new array of {@code target} type,
     * {@link DataType#FLOAT32} or {@link DataType#FLOAT16}, on {@code manager}'s device and owned by it.
     */
    public NDArray load(NDManager manager, String name, DataType target) {
        if (target != DataType.FLOAT32 && target != DataType.FLOAT16) {
            throw new IllegalArgumentException("Cannot load tensor '" + name + "' as " + target
                    + "; load as FLOAT32 or FLOAT16 (DJL 0.36 aborts on BFLOAT16 arrays)");
        }
        requireOpen();
        TensorInfo info = info(name);
        StorageType stored = info.dtype().storageType().orElseThrow(() -> new CheckpointException("Unsupported dtype "
                + info.dtype() + " of tensor '" + info.name() + "' in " + info.file()
                + "; convert the checkpoint to float32/float16/bfloat16"));
        return copyIntoArray(manager, info, stored, target);
    }

    /** Like {@link #load(NDManager, String, DataType)}, after checking that the tensor has the {@code expected} shape. */
    public NDArray load(NDManager manager, String name, DataType target, Shape expected) {
        TensorInfo info = info(name);
        if (!info.ndShape().equals(expected)) {
            throw new CheckpointException("Tensor '" + info.name() + "' in " + directory + " has shape " + info.ndShape()
                    + " but the model built from config.json expects " + expected
                    + "; config.json and the weights are from different models");
        }
        return load(manager, name, target);
    }

    /**
     * A stable hex SHA-256 that identifies this model: the canonical {@code config.json} (keys sorted, bookkeeping
     * keys such as {@code transformers_version} and {@code torch_dtype} left out), and for every tensor, by stored
     * name, its name, dtype, shape and 8 evenly spaced 64-byte samples of its data (all of it when smaller).
     * <ul>
     * <li>The file layout does not count: one file or any sharding of the same tensors give the same fingerprint.</li>
     * <li>The storage does: the same weights as float32 and as bfloat16 differ (their bytes differ), and so do the
     * older and newer Qwen2-VL name layouts.</li>
     * <li>It reads at most 512 bytes per tensor (milliseconds for a 0.5B model), so an edit confined to unsampled bytes
     * of a large tensor goes unnoticed; training, fine-tuning or re-quantising changes sampled bytes.</li>
     * </ul>
     * Computed once per open checkpoint.
     */
    public String fingerprint() {
        String value = fingerprint;
        if (value == null) {
            requireOpen();
            value = CheckpointFingerprint.compute(configTree, tensors.values(), tensor -> files.get(tensor.file()));
            fingerprint = value;
        }
        return value;
    }

    /** Closes the weight files; arrays already loaded stay valid. */
    @Override
    public void close() {
        closed = true;
        scratchBuffers.clear();
        CheckpointException failure = null;
        for (Safetensors file : files.values()) {
            try {
                file.close();
            } catch (CheckpointException e) {
                failure = e;
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public String toString() {
        return "Checkpoint[" + directory + ", " + config.modelType() + ", " + tensors.size() + " tensors]";
    }

    private NDArray copyIntoArray(NDManager manager, TensorInfo info, StorageType stored, DataType target) {
        Safetensors file = files.get(info.file());
        long count = info.elementCount();
        NDArray result = manager.create(info.ndShape(), target);   // uninitialised, owned by libtorch
        ByteBuffer scratch = stored == StorageType.BF16 ? takeScratch() : null;
        try (NDArray flat = result.reshape(-1)) {                     // (count), a view of result's storage
            for (long start = 0; start < count; start += CHUNK_ELEMENTS) {
                int length = (int) Math.min(CHUNK_ELEMENTS, count - start);
                ByteBuffer bytes = file.map(info, start * stored.byteSize(), length * stored.byteSize());
                try (NDArray chunk = chunkArray(manager, bytes, length, stored, scratch)) {
                    flat.set(new NDIndex().addSliceDim(start, start + length), chunk);
                }
            }
        } catch (RuntimeException e) {
            result.close();
            throw e;
        } finally {
            if (scratch != null && !closed) {
                scratchBuffers.push(scratch);
            }
        }
        result.setName(info.name());
        return result;
    }

    /**
     * An array over one chunk's bytes. On the CPU DJL does not copy a direct buffer but wraps its memory (and reads
     * it from address 0, ignoring the position), so the buffer must be exact-sized and live until the chunk has been
     * copied into the result; on a GPU the bytes are copied to the device here.
     */
    private static NDArray chunkArray(NDManager manager, ByteBuffer bytes, int length, StorageType stored, ByteBuffer scratch) {
        Shape shape = new Shape(length);
        return switch (stored) {
            case F32 -> manager.create(bytes, shape, DataType.FLOAT32);
            case F16 -> manager.create(bytes, shape, DataType.FLOAT16);
            case BF16 -> {
                ByteBuffer widened = scratch.slice(0, length * 4).order(ByteOrder.LITTLE_ENDIAN);
                FloatFormats.bfloat16ToFloat32(bytes, widened, length);
                yield manager.create(widened, shape, DataType.FLOAT32);
            }
        };
    }

    private ByteBuffer takeScratch() {
        ByteBuffer buffer = scratchBuffers.poll();
        return buffer != null ? buffer : ByteBuffer.allocateDirect(CHUNK_ELEMENTS * 4).order(ByteOrder.LITTLE_ENDIAN);
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("Checkpoint " + directory + " is closed; open it again to load tensors");
        }
    }

    private CheckpointException missingTensor(String name) {
        List<String> alternatives = alternativeNames(name);
        return new CheckpointException("Tensor '" + name + "'" + (alternatives.isEmpty() ? "" : " (or " + alternatives + ")")
                + " is not in checkpoint " + directory + ", which has " + tensors.size() + " tensors"
                + (tensors.isEmpty() ? "" : " from '" + tensors.firstKey() + "' to '" + tensors.lastKey() + "'")
                + "; is this checkpoint of the model that config.json describes?");
    }

    static List<String> alternativeNames(String name) {
        String languageModel = "model.language_model.";
        String modelVisual = "model.visual.";
        if (name.startsWith(languageModel)) {
            return List.of("model." + name.substring(languageModel.length()));
        }
        if (name.startsWith(modelVisual)) {
            return List.of("visual." + name.substring(modelVisual.length()));
        }
        if (name.startsWith("model.")) {
            return List.of(languageModel + name.substring("model.".length()));
        }
        if (name.startsWith("visual.")) {
            return List.of(modelVisual + name.substring("visual.".length()));
        }
        return List.of();
    }

    /** The safetensors files to open and, for a sharded checkpoint, the index's tensor-to-file map (else empty). */
    private record WeightLayout(List<Path> files, Map<String, String> weightMap) {
    }

    private static WeightLayout weightLayout(Path dir) {
        Path single = dir.resolve(WEIGHTS_FILE);
        if (Files.isRegularFile(single)) {
            return new WeightLayout(List.of(single), Map.of());
        }
        Path index = dir.resolve(WEIGHTS_INDEX_FILE);
        if (Files.isRegularFile(index)) {
            Map<String, String> weightMap = readWeightMap(index);
            Set<Path> shards = new TreeSet<>();
            for (String shard : weightMap.values()) {
                Path file = dir.resolve(shard).normalize();
                if (!file.startsWith(dir)) {
                    throw new CheckpointException(WEIGHTS_INDEX_FILE + " in " + dir + " names shard '" + shard
                            + "' outside the directory; shards must lie in the checkpoint directory");
                }
                if (!Files.isRegularFile(file)) {
                    throw new CheckpointException("Shard " + shard + " listed in " + WEIGHTS_INDEX_FILE + " is missing from " + dir
                            + "; download or copy every shard the index names");
                }
                shards.add(file);
            }
            return new WeightLayout(List.copyOf(shards), weightMap);
        }
        List<String> present = new ArrayList<>();
        try (Stream<Path> listing = Files.list(dir)) {
            listing.map(path -> path.getFileName().toString()).sorted().forEach(present::add);
        } catch (IOException e) {
            throw new CheckpointException("Cannot list " + dir + ": " + e.getMessage(), e);
        }
        boolean pytorchBins = present.stream().anyMatch(file -> file.endsWith(".bin") || file.endsWith(".pt"));
        throw new CheckpointException("Checkpoint " + dir + " has no weights: expected " + WEIGHTS_FILE + " or "
                + WEIGHTS_INDEX_FILE + " with its shards, found " + present
                + (pytorchBins ? "; PyTorch .bin weights are not read, re-save the model with safe_serialization=True"
                        : "; copy the model's safetensors weights into it"));
    }

    private static Map<String, String> readWeightMap(Path index) {
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(index));
        } catch (IOException e) {
            throw new CheckpointException("Cannot read " + index + ": " + e.getMessage(), e);
        } catch (JacksonException e) {
            throw new CheckpointException(index + " is not valid JSON: " + e.getOriginalMessage() + "; re-download it", e);
        }
        JsonNode weightMap = root == null ? null : root.get("weight_map");
        if (weightMap == null || !weightMap.isObject() || weightMap.isEmpty()) {
            throw new CheckpointException(index + " has no weight_map object naming tensors and their shard files; re-download it");
        }
        Map<String, String> map = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> entry : weightMap.properties()) {
            if (!entry.getValue().isString()) {
                throw new CheckpointException(index + " maps tensor '" + entry.getKey() + "' to " + entry.getValue()
                        + ", not a file name; re-download it");
            }
            map.put(entry.getKey(), entry.getValue().stringValue());
        }
        return map;
    }

    private static void checkIndexAgainstShards(Path dir, Map<String, String> weightMap, Map<String, TensorInfo> tensors) {
        for (Map.Entry<String, String> entry : weightMap.entrySet()) {
            TensorInfo tensor = tensors.get(entry.getKey());
            Path expected = dir.resolve(entry.getValue()).normalize();
            if (tensor == null || !tensor.file().equals(expected)) {
                throw new CheckpointException(WEIGHTS_INDEX_FILE + " in " + dir + " puts tensor '" + entry.getKey() + "' in "
                        + entry.getValue() + (tensor == null ? " but no shard holds it" : " but it is in " + tensor.file().getFileName())
                        + "; the index and the shards do not match, re-download them");
            }
        }
    }

    private static void closeQuietly(Safetensors file, RuntimeException failure) {
        try {
            file.close();
        } catch (RuntimeException e) {
            failure.addSuppressed(e);
        }
    }
}

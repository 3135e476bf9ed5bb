package dev.emloc.model;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.stream.Stream;

import ai.djl.ndarray.types.Shape;
import dev.emloc.vision.PreprocessorConfig;
import dev.emloc.vision.VisionConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * Writes a complete checkpoint directory with seeded random language-model weights, for tests, benchmarks and as
 * the starting point of training: {@code config.json}, the weights of {@link WeightNames#languageModelShapes},
 * {@code generation_config.json} (greedy, with the eos ids) and {@code tokenizer.json}.
 *
 * <p>Every tensor draws from its own generator, seeded from the builder's seed and the tensor's name, so a value
 * depends only on (seed, name, index): the same seed gives the same float32 values whatever the dtype (up to its
 * rounding) or the number of shards. Matrices and biases are {@code N(0, initStd)}, RMSNorm weights
 * {@code 1 + N(0, normStd)}. With {@link Builder#vision} the checkpoint also holds a Qwen2-VL vision tower
 * ({@link WeightNames#visionShapes}, drawn the same way: LayerNorm scales {@code 1 + N(0, normStd)}, everything else
 * {@code N(0, initStd)}) and {@code config.json} its {@code vision_config}. Tensors are generated and written in
 * chunks, so a Qwen2-0.5B shape needs a few MB of heap.
 *
 * <pre>{@code
 * RandomCheckpoint.builder(config).seed(7).dtype(StorageType.BF16).shards(3)
 *         .tokenizer(existingTokenizerJson).writeTo(dir);
 * }</pre>
 */
public final class RandomCheckpoint {

    private static final Logger log = LoggerFactory.getLogger(RandomCheckpoint.class);
    private static final ObjectMapper JSON = JsonMapper.builder().build();
    private static final int CHUNK_ELEMENTS = 1 << 20;

    private RandomCheckpoint() {
    }

    /** Produces the {@code tokenizer.json} of a generated checkpoint at the path it is given. */
    @FunctionalInterface
    public interface TokenizerWriter {
        void write(Path tokenizerJson) throws IOException;
    }

    /** A builder for a checkpoint of {@code config}'s shape. */
    public static Builder builder(ModelConfig config) {
        return new Builder(config);
    }

    /** Options of a generated checkpoint; defaults: seed 0, F32, one file, initStd 0.02, normStd 0.05. */
    public static final class Builder {
        private final ModelConfig config;
        private long seed;
        private StorageType dtype = StorageType.F32;
        private int shards = 1;
        private double initStd = 0.02;
        private double normStd = 0.05;
        private List<Integer> eosTokenIds;
        private TokenizerWriter tokenizer;
        private VisionConfig vision;
        private PreprocessorConfig preprocessor;

        private Builder(ModelConfig config) {
            this.config = Objects.requireNonNull(config, "config");
        }

        /** Seed of all weights. */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** Storage format of every tensor. */
        public Builder dtype(StorageType dtype) {
            this.dtype = Objects.requireNonNull(dtype, "dtype");
            return this;
        }

        /** 1 writes {@code model.safetensors}; more writes {@code model-0000i-of-0000n.safetensors} plus the index. */
        public Builder shards(int shards) {
            if (shards < 1) {
                throw new IllegalArgumentException("shards must be at least 1, got " + shards);
            }
            this.shards = shards;
            return this;
        }

        /** Standard deviation of matrix and bias entries (0.02 as in Qwen2's initializer_range). */
        public Builder initStd(double initStd) {
            if (!(initStd >= 0) || Double.isInfinite(initStd)) {
                throw new IllegalArgumentException("initStd must be a finite non-negative number, got " + initStd);
            }
            this.initStd = initStd;
            return this;
        }

        /** Standard deviation of RMSNorm weights around 1. */
        public Builder normStd(double normStd) {
            if (!(normStd >= 0) || Double.isInfinite(normStd)) {
                throw new IllegalArgumentException("normStd must be a finite non-negative number, got " + normStd);
            }
            this.normStd = normStd;
            return this;
        }

        /** End-of-sequence ids for {@code generation_config.json}; default the config's {@code eos_token_id}, if any. */
        public Builder eosTokenIds(List<Integer> eosTokenIds) {
            this.eosTokenIds = List.copyOf(eosTokenIds);
            return this;
        }

        /**
         * Adds a vision tower of this shape: its weights, {@code vision_config} in {@code config.json}, and a
         * {@code preprocessor_config.json} (Qwen2-VL defaults with the tower's patch, merge and temporal sizes,
         * unless {@link #preprocessor} gives another).
         */
        public Builder vision(VisionConfig vision) {
            this.vision = Objects.requireNonNull(vision, "vision");
            return this;
        }

        /** Copies an existing {@code tokenizer.json} into the checkpoint. */
        public Builder tokenizer(Path tokenizerJson) {
            Objects.requireNonNull(tokenizerJson, "tokenizerJson");
            this.tokenizer = target -> Files.copy(tokenizerJson, target);
            return this;
        }

        /** Lets {@code writer} create the checkpoint's {@code tokenizer.json}. */
        public Builder tokenizer(TokenizerWriter writer) {
            this.tokenizer = Objects.requireNonNull(writer, "writer");
            return this;
        }

        /** The {@code preprocessor_config.json} written with a vision tower. */
        public Builder preprocessor(PreprocessorConfig preprocessor) {
            this.preprocessor = Objects.requireNonNull(preprocessor, "preprocessor");
            return this;
        }

        private PreprocessorConfig preprocessorConfig() {
            if (preprocessor != null) {
                return preprocessor;
            }
            return PreprocessorConfig.qwen2VlDefaults().mutate().patchSize(vision.patchSize())
                    .mergeSize(vision.spatialMergeSize()).temporalPatchSize(vision.temporalPatchSize()).build();
        }

        /**
         * Writes the checkpoint into {@code directory} (created when missing) and returns it. Refuses a directory
         * that already holds weights, so that a stale file can never shadow the new ones.
         */
        public Path writeTo(Path directory) {
            if (tokenizer == null) {
                throw new IllegalStateException("A checkpoint needs a tokenizer.json: call tokenizer(Path) or tokenizer(TokenizerWriter)");
            }
            long started = System.nanoTime();
            Map<String, Shape> shapes = new LinkedHashMap<>(WeightNames.languageModelShapes(config));
            if (vision != null) {
                shapes.putAll(WeightNames.visionShapes(vision));
            }
            if (shards > shapes.size()) {
                throw new IllegalArgumentException("Cannot split " + shapes.size() + " tensors into " + shards + " shards");
            }
            try {
                Files.createDirectories(directory);
                refuseExistingWeights(directory);
                writeConfig(directory);
                writeWeights(directory, shapes);
                if (vision != null) {
                    Files.writeString(directory.resolve(PreprocessorConfig.FILE_NAME), preprocessorConfig().toJson());
                }
                List<Integer> eos = eosTokenIds != null ? eosTokenIds
                        : config.eosTokenId() >= 0 ? List.of(config.eosTokenId()) : List.of();
                Files.writeString(directory.resolve(Checkpoint.GENERATION_CONFIG_FILE), GenerationDefaults.greedy(eos).toJson());
                Path tokenizerJson = directory.resolve(Checkpoint.TOKENIZER_FILE);
                tokenizer.write(tokenizerJson);
                if (!Files.isRegularFile(tokenizerJson)) {
                    throw new CheckpointException("The tokenizer writer did not create " + tokenizerJson);
                }
            } catch (IOException e) {
                throw new CheckpointException("Cannot write a random checkpoint to " + directory + ": " + e.getMessage(), e);
            }
            long parameters = shapes.values().stream().mapToLong(Shape::size).sum();
            log.info("Wrote random checkpoint {} ({} parameters, {}, {} file(s)) in {} ms", directory, parameters, dtype, shards,
                    (System.nanoTime() - started) / 1_000_000);
            return directory;
        }

        private void writeConfig(Path directory) throws IOException {
            ObjectNode tree = (ObjectNode) JSON.readTree(config.toJson());
            tree.put("torch_dtype", dtype.torchName());
            if (vision != null) {
                tree.set("vision_config", JSON.valueToTree(vision.toMap()));
            }
            Files.writeString(directory.resolve(Checkpoint.CONFIG_FILE),
                    JSON.writerWithDefaultPrettyPrinter().writeValueAsString(tree), StandardCharsets.UTF_8);
        }

        private void writeWeights(Path directory, Map<String, Shape> shapes) throws IOException {
            List<Map<String, Shape>> groups = splitIntoShards(shapes);
            Map<String, String> weightMap = new TreeMap<>();
            long totalBytes = 0;
            for (int shard = 0; shard < groups.size(); shard++) {
                String fileName = groups.size() == 1 ? Checkpoint.WEIGHTS_FILE
                        : String.format("model-%05d-of-%05d.safetensors", shard + 1, groups.size());
                Map<String, Shape> group = groups.get(shard);
                try (SafetensorsWriter writer = SafetensorsWriter.create(directory.resolve(fileName), dtype, group)) {
                    for (Map.Entry<String, Shape> tensor : group.entrySet()) {
                        writeTensor(writer, tensor.getKey(), tensor.getValue());
                        weightMap.put(tensor.getKey(), fileName);
                        totalBytes += tensor.getValue().size() * dtype.byteSize();
                    }
                }
            }
            if (groups.size() > 1) {
                Map<String, Object> index = new LinkedHashMap<>();
                index.put("metadata", Map.of("total_size", totalBytes));
                index.put("weight_map", weightMap);
                Files.writeString(directory.resolve(Checkpoint.WEIGHTS_INDEX_FILE),
                        JSON.writerWithDefaultPrettyPrinter().writeValueAsString(index), StandardCharsets.UTF_8);
            }
        }

        private void writeTensor(SafetensorsWriter writer, String name, Shape shape) {
            boolean norm = shape.dimension() == 1 && WeightNames.isNormWeight(name);
            double mean = norm ? 1.0 : 0.0;
            double std = norm ? normStd : initStd;
            SplittableRandom random = new SplittableRandom(tensorSeed(seed, name));
            long count = shape.size();
            float[] chunk = new float[(int) Math.min(CHUNK_ELEMENTS, count)];
            for (long done = 0; done < count; ) {
                int length = (int) Math.min(chunk.length, count - done);
                for (int i = 0; i < length; i++) {
                    chunk[i] = (float) (mean + std * random.nextGaussian());
                }
                writer.append(name, chunk, 0, length);
                done += length;
            }
        }

        /**
         * Splits the tensors, in order, into {@code shards} consecutive non-empty groups of about equal bytes: a tensor
         * goes to the shard its starting byte falls in, never skipping a shard, and the last tensors are spread so that
         * no shard stays empty.
         */
        private List<Map<String, Shape>> splitIntoShards(Map<String, Shape> shapes) {
            long total = shapes.values().stream().mapToLong(Shape::size).sum();
            List<Map<String, Shape>> groups = new ArrayList<>();
            int remaining = shapes.size();
            long before = 0;
            int current = -1;
            for (Map.Entry<String, Shape> tensor : shapes.entrySet()) {
                int wanted = total == 0 ? 0 : (int) Math.min(shards - 1, Math.floorDiv(before * shards, total));
                int shard = Math.max(current, Math.min(wanted, current + 1));
                if (shard < 0 || remaining <= shards - 1 - current) {
                    shard = current + 1;
                }
                if (shard > current) {
                    groups.add(new LinkedHashMap<>());
                    current = shard;
                }
                groups.get(current).put(tensor.getKey(), tensor.getValue());
                before += tensor.getValue().size();
                remaining--;
            }
            return groups;
        }
    }

    /** A generator seed that depends on the run's seed and the tensor's name only (FNV-1a, then SplitMix64 finalizer). */
    static long tensorSeed(long seed, String name) {
        long hash = 0xcbf29ce484222325L;
        for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
            hash ^= b & 0xff;
            hash *= 0x100000001b3L;
        }
        return mix64(seed * 0x9e3779b97f4a7c15L + mix64(hash));
    }

    private static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    private static void refuseExistingWeights(Path directory) throws IOException {
        List<String> existing = new ArrayList<>();
        try (Stream<Path> listing = Files.list(directory)) {
            listing.map(path -> path.getFileName().toString())
                    .filter(file -> file.equals(Checkpoint.WEIGHTS_FILE) || file.equals(Checkpoint.WEIGHTS_INDEX_FILE)
                            || file.matches("model-\\d+-of-\\d+\\.safetensors"))
                    .sorted()
                    .forEach(existing::add);
        }
        if (!existing.isEmpty()) {
            throw new CheckpointException(directory + " already holds weights " + existing
                    + "; write the random checkpoint to an empty directory, or delete them first");
        }
    }
}

package dev.emloc.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

class CheckpointTest {

    private static final ObjectMapper JSON = JsonMapper.builder().build();

    @TempDir
    Path tmp;

    @Test
    void float32ShardedAndBfloat16CheckpointsLoadTheSameWeights() throws IOException {
        Path f32 = CheckpointFixtures.randomTiny(tmp.resolve("f32"), 42, StorageType.F32, 1);
        Path sharded = CheckpointFixtures.randomTiny(tmp.resolve("sharded"), 42, StorageType.F32, 3);
        Path bf16 = CheckpointFixtures.randomTiny(tmp.resolve("bf16"), 42, StorageType.BF16, 1);

        Map<String, float[]> reference = loadAll(f32, DataType.FLOAT32);
        assertThat(reference.keySet()).containsExactlyInAnyOrderElementsOf(
                WeightNames.languageModelTensorNames(CheckpointFixtures.tinyConfig()));
        assertThat(reference.get(WeightNames.embedTokens())).hasSize(300 * 32);

        Map<String, float[]> fromShards = loadAll(sharded, DataType.FLOAT32);
        assertThat(fromShards.keySet()).isEqualTo(reference.keySet());
        reference.forEach((name, values) -> assertThat(fromShards.get(name)).as(name).containsExactly(values));

        Map<String, float[]> fromBf16 = loadAll(bf16, DataType.FLOAT32);
        reference.forEach((name, values) -> {
            float[] loaded = fromBf16.get(name);
            for (int i = 0; i < values.length; i++) {
                // 0 ulp: the bits must be exactly those of the float32 value rounded to bfloat16.
                assertThat(Float.floatToRawIntBits(loaded[i])).as("%s[%d] = %s", name, i, values[i])
                        .isEqualTo(Float.floatToRawIntBits(CheckpointFixtures.referenceBfloat16(values[i])));
            }
        });
        assertThat(fromBf16.get(WeightNames.finalNorm())).isNotEqualTo(reference.get(WeightNames.finalNorm()));

        assertThat(sharded.resolve(Checkpoint.WEIGHTS_INDEX_FILE)).isRegularFile();
        assertThat(sharded.resolve("model-00003-of-00003.safetensors")).isRegularFile();
        assertThat(sharded.resolve(Checkpoint.WEIGHTS_FILE)).doesNotExist();
    }

    @Test
    void loadsAsFloat16() {
        Path f32 = CheckpointFixtures.randomTiny(tmp.resolve("f32"), 3, StorageType.F32, 1);
        Path bf16 = CheckpointFixtures.randomTiny(tmp.resolve("bf16"), 3, StorageType.BF16, 2);
        Path f16 = CheckpointFixtures.randomTiny(tmp.resolve("f16"), 3, StorageType.F16, 1);
        String name = WeightNames.layer(1, WeightNames.GATE_PROJ_WEIGHT);
        try (NDManager manager = NDManager.newBaseManager();
                Checkpoint f32Checkpoint = Checkpoint.open(f32);
                Checkpoint bf16Checkpoint = Checkpoint.open(bf16);
                Checkpoint f16Checkpoint = Checkpoint.open(f16)) {
            NDArray exact = f32Checkpoint.load(manager, name, DataType.FLOAT32);
            NDArray half = f32Checkpoint.load(manager, name, DataType.FLOAT16);
            assertThat(half.getDataType()).isEqualTo(DataType.FLOAT16);
            assertThat(half.getShape()).isEqualTo(new Shape(64, 32));
            assertThat(half.getName()).isEqualTo(name);
            float[] expectedHalf = exact.toType(DataType.FLOAT16, false).toType(DataType.FLOAT32, false).toFloatArray();
            assertThat(half.toType(DataType.FLOAT32, false).toFloatArray()).containsExactly(expectedHalf);

            // float16 storage: our Java encoder must round exactly as libtorch does.
            assertThat(f16Checkpoint.load(manager, name, DataType.FLOAT32).toFloatArray()).containsExactly(expectedHalf);
            assertThat(f16Checkpoint.load(manager, name, DataType.FLOAT16).toType(DataType.FLOAT32, false).toFloatArray())
                    .containsExactly(expectedHalf);

            NDArray widenedThenHalved = bf16Checkpoint.load(manager, name, DataType.FLOAT32).toType(DataType.FLOAT16, false);
            assertThat(bf16Checkpoint.load(manager, name, DataType.FLOAT16).toType(DataType.FLOAT32, false).toFloatArray())
                    .containsExactly(widenedThenHalved.toType(DataType.FLOAT32, false).toFloatArray());

            assertThatThrownBy(() -> f32Checkpoint.load(manager, name, DataType.BFLOAT16))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("load as FLOAT32 or FLOAT16");
        }
    }

    @Test
    void loadsTensorsLargerThanOneChunk() throws IOException {
        int rows = 3 * Checkpoint.CHUNK_ELEMENTS / 1000 + 7;                // a bit over three chunks
        float[] values = new float[rows * 1000];
        for (int i = 0; i < values.length; i++) {
            values[i] = (i % 65_536) - 30_000.5f;                           // exact in float32, rounded in bfloat16
        }
        for (StorageType storage : List.of(StorageType.F32, StorageType.BF16)) {
            Path dir = CheckpointFixtures.emptyCheckpoint(tmp.resolve(storage.name()), CheckpointFixtures.tinyConfig());
            SafetensorsWriter.write(dir.resolve(Checkpoint.WEIGHTS_FILE), storage,
                    Map.of("big", SafetensorsWriter.FloatTensor.of(values, rows, 1000)));
            try (NDManager manager = NDManager.newBaseManager(); Checkpoint checkpoint = Checkpoint.open(dir)) {
                NDArray big = checkpoint.load(manager, "big", DataType.FLOAT32, new Shape(rows, 1000));
                assertThat(manager.getManagedArrays()).as("chunk temporaries are closed").containsExactly(big);
                float[] loaded = big.toFloatArray();
                for (int i = 0; i < values.length; i++) {
                    float expected = storage == StorageType.F32 ? values[i] : CheckpointFixtures.referenceBfloat16(values[i]);
                    if (loaded[i] != expected) {
                        assertThat(loaded[i]).as("%s element %d", storage, i).isEqualTo(expected);
                    }
                }
            }
        }
    }

    @Test
    void exposesConfigTokenizerAndGenerationDefaults() throws IOException {
        Path dir = CheckpointFixtures.randomTiny(tmp.resolve("c"), 1, StorageType.F32, 1);
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            assertThat(checkpoint.config()).isEqualTo(CheckpointFixtures.tinyConfig());
            assertThat(checkpoint.directory()).isEqualTo(dir.toAbsolutePath().normalize());
            assertThat(checkpoint.tokenizerPath()).isEqualTo(checkpoint.directory().resolve("tokenizer.json")).isRegularFile();
            assertThat(checkpoint.generationDefaults().eosTokenIds()).containsExactly(7);
            assertThat(checkpoint.generationDefaults().doSample()).contains(false);
            assertThat(checkpoint.generationDefaults().temperature()).isEmpty();
            TensorInfo q = checkpoint.info(WeightNames.layer(0, WeightNames.Q_PROJ_WEIGHT));
            assertThat(q.dtype()).isEqualTo(TensorDtype.F32);
            assertThat(q.shape()).containsExactly(32L, 32L);
            assertThat(q.file()).isEqualTo(checkpoint.directory().resolve("model.safetensors"));
        }

        Files.writeString(dir.resolve(Checkpoint.GENERATION_CONFIG_FILE), """
                {"bos_token_id": 1, "eos_token_id": [151645, 151643], "pad_token_id": 151643, "do_sample": true,
                 "temperature": 0.01, "top_p": 0.001, "top_k": 1, "repetition_penalty": 1.05, "transformers_version": "4.45.0"}
                """);
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            GenerationDefaults defaults = checkpoint.generationDefaults();
            assertThat(defaults.eosTokenIds()).containsExactly(151645, 151643);
            assertThat(defaults.bosTokenId()).hasValue(1);
            assertThat(defaults.padTokenId()).hasValue(151643);
            assertThat(defaults.doSample()).contains(true);
            assertThat(defaults.temperature()).hasValue(0.01);
            assertThat(defaults.topP()).hasValue(0.001);
            assertThat(defaults.topK()).hasValue(1);
            assertThat(defaults.repetitionPenalty()).hasValue(1.05);
            assertThat(defaults.maxNewTokens()).isEmpty();
        }

        Files.writeString(dir.resolve(Checkpoint.GENERATION_CONFIG_FILE), "{\"top_p\": 1.5}");
        assertThatThrownBy(() -> Checkpoint.open(dir)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("generation_config.json").hasMessageContaining("top_p 1.5 must lie in (0, 1]");

        Files.delete(dir.resolve(Checkpoint.GENERATION_CONFIG_FILE));
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            assertThat(checkpoint.generationDefaults()).isEqualTo(GenerationDefaults.empty());
        }
    }

    @Test
    void resolvesTheNewerQwen2VlLayout() throws IOException {
        Path dir = CheckpointFixtures.emptyCheckpoint(tmp.resolve("nested"), CheckpointFixtures.tinyConfig());
        Map<String, SafetensorsWriter.FloatTensor> tensors = new LinkedHashMap<>();
        tensors.put("model.language_model.layers.0.input_layernorm.weight", SafetensorsWriter.FloatTensor.of(new float[] {1, 2}, 2));
        tensors.put("model.visual.patch_embed.proj.weight", SafetensorsWriter.FloatTensor.of(new float[] {3}, 1));
        tensors.put("lm_head.weight", SafetensorsWriter.FloatTensor.of(new float[] {4}, 1, 1));
        SafetensorsWriter.write(dir.resolve(Checkpoint.WEIGHTS_FILE), StorageType.F32, tensors);

        try (NDManager manager = NDManager.newBaseManager(); Checkpoint checkpoint = Checkpoint.open(dir)) {
            String canonical = WeightNames.layer(0, WeightNames.INPUT_LAYERNORM);
            assertThat(checkpoint.resolve(canonical)).contains("model.language_model.layers.0.input_layernorm.weight");
            assertThat(checkpoint.load(manager, canonical, DataType.FLOAT32).toFloatArray()).containsExactly(1, 2);
            assertThat(checkpoint.info(canonical).name()).isEqualTo("model.language_model.layers.0.input_layernorm.weight");
            assertThat(checkpoint.load(manager, "visual.patch_embed.proj.weight", DataType.FLOAT32).toFloatArray()).containsExactly(3);
            assertThat(checkpoint.load(manager, WeightNames.lmHead(), DataType.FLOAT32).toFloatArray()).containsExactly(4);
            assertThat(checkpoint.resolve("model.norm.weight")).isEmpty();
            assertThat(checkpoint.contains("model.language_model.layers.0.input_layernorm.weight")).isTrue();
        }
        assertThat(Checkpoint.alternativeNames("model.language_model.norm.weight")).containsExactly("model.norm.weight");
        assertThat(Checkpoint.alternativeNames("lm_head.weight")).isEmpty();
    }

    @Test
    void reportsMissingDirectoriesAndFiles() throws IOException {
        Path absent = tmp.resolve("absent");
        assertThatThrownBy(() -> Checkpoint.open(absent)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining(absent.toString()).hasMessageContaining("does not exist");

        Path file = Files.writeString(tmp.resolve("config.json"), "{}");
        assertThatThrownBy(() -> Checkpoint.open(file)).hasMessageContaining("is a file, not a directory");

        Path dir = CheckpointFixtures.randomTiny(tmp.resolve("ok"), 1, StorageType.F32, 1);
        Files.move(dir.resolve("tokenizer.json"), tmp.resolve("tokenizer.json"));
        assertThatThrownBy(() -> Checkpoint.open(dir)).hasMessageContaining("has no tokenizer.json")
                .hasMessageContaining(dir.toAbsolutePath().toString());
        Files.move(tmp.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));

        Files.move(dir.resolve("model.safetensors"), tmp.resolve("weights.bin"));
        assertThatThrownBy(() -> Checkpoint.open(dir)).hasMessageContaining("has no weights: expected model.safetensors or "
                + "model.safetensors.index.json").hasMessageContaining("found [config.json, generation_config.json, tokenizer.json]");
        Files.move(tmp.resolve("weights.bin"), dir.resolve("model.safetensors"));

        Files.delete(dir.resolve("config.json"));
        assertThatThrownBy(() -> Checkpoint.open(dir)).isInstanceOf(CheckpointException.class).hasMessageContaining("has no config.json");
    }

    @Test
    void reportsAnUnknownModelType() throws IOException {
        Path dir = CheckpointFixtures.randomTiny(tmp.resolve("llama"), 1, StorageType.F32, 1);
        Path config = dir.resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("\"qwen2_vl\"", "\"llama\""));

        assertThatThrownBy(() -> Checkpoint.open(dir)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("Unsupported model_type 'llama'").hasMessageContaining(dir.toAbsolutePath().toString());
    }

    @Test
    void reportsAMissingShard() throws IOException {
        Path dir = CheckpointFixtures.randomTiny(tmp.resolve("shards"), 1, StorageType.BF16, 3);
        Files.delete(dir.resolve("model-00002-of-00003.safetensors"));

        assertThatThrownBy(() -> Checkpoint.open(dir)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("Shard model-00002-of-00003.safetensors listed in model.safetensors.index.json is missing");
    }

    @Test
    void reportsMissingTensorsAndShapeMismatches() {
        Path dir = CheckpointFixtures.randomTiny(tmp.resolve("t"), 1, StorageType.F32, 1);
        try (NDManager manager = NDManager.newBaseManager(); Checkpoint checkpoint = Checkpoint.open(dir)) {
            String missing = WeightNames.layer(9, WeightNames.Q_PROJ_WEIGHT);
            assertThatThrownBy(() -> checkpoint.load(manager, missing, DataType.FLOAT32)).isInstanceOf(CheckpointException.class)
                    .hasMessageContaining("Tensor '" + missing + "'").hasMessageContaining(checkpoint.directory().toString());

            String q = WeightNames.layer(0, WeightNames.Q_PROJ_WEIGHT);
            assertThatThrownBy(() -> checkpoint.load(manager, q, DataType.FLOAT32, new Shape(64, 32)))
                    .isInstanceOf(CheckpointException.class).hasMessageContaining("'" + q + "'")
                    .hasMessageContaining("has shape (32, 32)").hasMessageContaining("expects (64, 32)");
            try (NDArray ok = checkpoint.load(manager, q, DataType.FLOAT32, new Shape(32, 32))) {
                assertThat(ok.getShape()).isEqualTo(new Shape(32, 32));
            }
        }
    }

    @Test
    void reportsUnsupportedDtypesWhenLoading() throws IOException {
        Path dir = CheckpointFixtures.emptyCheckpoint(tmp.resolve("ints"), CheckpointFixtures.tinyConfig());
        ByteBuffer data = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN).putLong(3).putLong(4).putFloat(0.5f);
        CheckpointFixtures.writeRawSafetensors(dir.resolve(Checkpoint.WEIGHTS_FILE), "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"position_ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                + "\"scale\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[16,20]}}", data.array());

        try (NDManager manager = NDManager.newBaseManager(); Checkpoint checkpoint = Checkpoint.open(dir)) {
            assertThat(checkpoint.info("position_ids").dtype()).isEqualTo(TensorDtype.I64);
            assertThatThrownBy(() -> checkpoint.load(manager, "position_ids", DataType.FLOAT32))
                    .isInstanceOf(CheckpointException.class)
                    .hasMessageContaining("Unsupported dtype I64 of tensor 'position_ids'")
                    .hasMessageContaining("convert the checkpoint to float32/float16/bfloat16");
            NDArray scalar = checkpoint.load(manager, "scale", DataType.FLOAT32);
            assertThat(scalar.getShape()).isEqualTo(new Shape());
            assertThat(scalar.getFloat()).isEqualTo(0.5f);
        }
    }

    @Test
    void reportsCorruptWeightFiles() throws IOException {
        Path dir = CheckpointFixtures.randomTiny(tmp.resolve("corrupt"), 1, StorageType.F32, 1);
        Path weights = dir.resolve(Checkpoint.WEIGHTS_FILE);
        try (FileChannel channel = FileChannel.open(weights, StandardOpenOption.WRITE)) {
            channel.truncate(channel.size() - 1);
        }
        assertThatThrownBy(() -> Checkpoint.open(dir)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining(weights.toAbsolutePath().toString()).hasMessageContaining("truncated or corrupt");

        try (FileChannel channel = FileChannel.open(weights, StandardOpenOption.WRITE)) {
            channel.write(ByteBuffer.wrap("{{{{".getBytes()), 8);
        }
        assertThatThrownBy(() -> Checkpoint.open(dir)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("corrupt JSON header");
    }

    @Test
    void refusesToLoadAfterClose() {
        Path dir = CheckpointFixtures.randomTiny(tmp.resolve("closed"), 1, StorageType.F32, 1);
        Checkpoint checkpoint = Checkpoint.open(dir);
        checkpoint.close();
        try (NDManager manager = NDManager.newBaseManager()) {
            assertThatThrownBy(() -> checkpoint.load(manager, WeightNames.finalNorm(), DataType.FLOAT32))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("is closed");
        }
    }

    @Test
    void fingerprintIdentifiesConfigAndWeightsButNotTheFileLayout() throws IOException {
        Path f32 = CheckpointFixtures.randomTiny(tmp.resolve("f32"), 9, StorageType.F32, 1);
        Path sharded = CheckpointFixtures.randomTiny(tmp.resolve("sharded"), 9, StorageType.F32, 4);
        Path bf16 = CheckpointFixtures.randomTiny(tmp.resolve("bf16"), 9, StorageType.BF16, 1);
        Path otherSeed = CheckpointFixtures.randomTiny(tmp.resolve("seed10"), 10, StorageType.F32, 1);

        String fingerprint = fingerprint(f32);
        assertThat(fingerprint).hasSize(64).matches("[0-9a-f]+");
        assertThat(fingerprint(f32)).as("stable across opens").isEqualTo(fingerprint);
        assertThat(fingerprint(sharded)).as("sharding does not count").isEqualTo(fingerprint);
        assertThat(fingerprint(bf16)).as("dtype counts").isNotEqualTo(fingerprint);
        assertThat(fingerprint(otherSeed)).as("other weights").isNotEqualTo(fingerprint);

        // Reordering and reformatting config.json keeps the fingerprint; changing a value does not.
        Path config = f32.resolve("config.json");
        String original = Files.readString(config);
        Map<String, Object> reordered = new TreeMap<>(Comparator.reverseOrder());
        reordered.putAll(JSON.readValue(original, Map.class));
        Files.writeString(config, JSON.writeValueAsString(reordered));
        assertThat(Files.readString(config)).isNotEqualTo(original);
        assertThat(fingerprint(f32)).isEqualTo(fingerprint);
        Files.writeString(config, original.replace("{", "{\"transformers_version\": \"9.9.9\", "));
        assertThat(fingerprint(f32)).as("bookkeeping keys do not count").isEqualTo(fingerprint);
        Files.writeString(config, original.replace("\"rms_norm_eps\" : 1.0E-6", "\"rms_norm_eps\" : 1.0E-5"));
        assertThat(Files.readString(config)).isNotEqualTo(original);
        assertThat(fingerprint(f32)).as("config value changed").isNotEqualTo(fingerprint);
        Files.writeString(config, original);

        // One changed weight value (the first element of the final norm) changes it.
        TensorInfo norm;
        try (Checkpoint checkpoint = Checkpoint.open(f32)) {
            norm = checkpoint.info(WeightNames.finalNorm());
        }
        try (FileChannel channel = FileChannel.open(f32.resolve(Checkpoint.WEIGHTS_FILE), StandardOpenOption.WRITE)) {
            channel.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, 1.25f), norm.dataOffset());
        }
        assertThat(fingerprint(f32)).as("weight value changed").isNotEqualTo(fingerprint);
    }

    private static String fingerprint(Path dir) {
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            return checkpoint.fingerprint();
        }
    }

    private static Map<String, float[]> loadAll(Path dir, DataType target) {
        Map<String, float[]> values = new TreeMap<>();
        try (NDManager manager = NDManager.newBaseManager(); Checkpoint checkpoint = Checkpoint.open(dir)) {
            for (String name : checkpoint.tensorNames()) {
                try (NDArray array = checkpoint.load(manager, name, target)) {
                    assertThat(array.getShape()).isEqualTo(checkpoint.info(name).ndShape());
                    values.put(name, array.toFloatArray());
                }
            }
        }
        return values;
    }
}

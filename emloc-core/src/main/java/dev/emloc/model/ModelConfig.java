package dev.emloc.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * The language-model part of a Hugging Face {@code config.json} ({@code qwen2_vl} or {@code qwen2}).
 *
 * <p>Newer {@code transformers} releases nest the text settings of Qwen2-VL under {@code text_config};
 * both layouts are read. Special-token ids are optional because plain {@code qwen2} text models do not
 * declare the vision ones.
 *
 * @param modelType           {@code qwen2_vl} or {@code qwen2}
 * @param vocabSize           rows of the embedding and of the LM head
 * @param hiddenSize          width of the residual stream
 * @param intermediateSize    width of the SwiGLU MLP
 * @param numLayers           decoder layers (L)
 * @param numHeads            query heads (H)
 * @param numKvHeads          key/value heads (G), H must be a multiple of G
 * @param headDim             width of one head, {@code hiddenSize / numHeads}
 * @param rmsNormEps          epsilon of every RMSNorm
 * @param ropeTheta           RoPE base
 * @param mropeSection        rotary frequency pairs given to the t/h/w position components; sums to
 *                            {@code headDim / 2}; for text models {@code [headDim/2, 0, 0]}
 * @param tieWordEmbeddings   whether the LM head reuses the embedding matrix
 * @param maxPositionEmbeddings informational context length
 * @param bosTokenId          beginning-of-sequence id or -1
 * @param eosTokenId          end-of-sequence id or -1
 * @param imageTokenId        {@code <|image_pad|>} id or -1
 * @param videoTokenId        {@code <|video_pad|>} id or -1
 * @param visionStartTokenId  {@code <|vision_start|>} id or -1
 * @param visionEndTokenId    {@code <|vision_end|>} id or -1
 */
public record ModelConfig(
        String modelType,
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        double rmsNormEps,
        double ropeTheta,
        List<Integer> mropeSection,
        boolean tieWordEmbeddings,
        int maxPositionEmbeddings,
        int bosTokenId,
        int eosTokenId,
        int imageTokenId,
        int videoTokenId,
        int visionStartTokenId,
        int visionEndTokenId) {

    /** The {@code model_type} values this engine runs. */
    public static final List<String> SUPPORTED_MODEL_TYPES = List.of("qwen2_vl", "qwen2");

    private static final ObjectMapper JSON = JsonMapper.builder().build();

    public ModelConfig {
        if (!SUPPORTED_MODEL_TYPES.contains(modelType)) {
            throw new CheckpointException("Unsupported model_type '" + modelType + "' in config.json; this engine runs "
                    + SUPPORTED_MODEL_TYPES + " (Qwen2-VL and Qwen2 checkpoints)");
        }
        positive("vocab_size", vocabSize);
        positive("hidden_size", hiddenSize);
        positive("intermediate_size", intermediateSize);
        positive("num_hidden_layers", numLayers);
        positive("num_attention_heads", numHeads);
        positive("num_key_value_heads", numKvHeads);
        positive("head_dim", headDim);
        if (numHeads % numKvHeads != 0) {
            throw new CheckpointException("num_attention_heads (" + numHeads + ") must be a multiple of num_key_value_heads ("
                    + numKvHeads + ")");
        }
        if (headDim % 2 != 0) {
            throw new CheckpointException("head_dim " + headDim + " must be even for rotary embeddings");
        }
        mropeSection = List.copyOf(mropeSection);
        if (mropeSection.size() != 3 || mropeSection.stream().mapToInt(Integer::intValue).sum() != headDim / 2) {
            throw new CheckpointException("rope_scaling.mrope_section " + mropeSection
                    + " must have 3 entries summing to head_dim / 2 = " + headDim / 2);
        }
        if (!(rmsNormEps > 0)) {
            throw new CheckpointException("rms_norm_eps must be positive, got " + rmsNormEps);
        }
        if (!(ropeTheta > 0)) {
            throw new CheckpointException("rope_theta must be positive, got " + ropeTheta);
        }
    }

    private static void positive(String name, int value) {
        if (value <= 0) {
            throw new CheckpointException(name + " must be positive in config.json, got " + value);
        }
    }

    /** Width of all key (or value) heads together, {@code numKvHeads * headDim}. */
    public int kvDim() {
        return numKvHeads * headDim;
    }

    /** Query heads that share one key/value head. */
    public int groupSize() {
        return numHeads / numKvHeads;
    }

    /** Whether the model is multimodal ({@code qwen2_vl}). */
    public boolean isVisionLanguage() {
        return "qwen2_vl".equals(modelType);
    }

    /** Reads and validates {@code config.json}. */
    public static ModelConfig read(Path configJson) {
        return fromJson(readTree(configJson));
    }

    /**
     * The parsed tree of a {@code config.json}, for readers of its other sections (e.g. {@code vision_config}).
     *
     * @throws CheckpointException when the file is missing, unreadable or not JSON
     */
    public static JsonNode readTree(Path configJson) {
        String text;
        try {
            text = Files.readString(configJson);
        } catch (NoSuchFileException e) {
            throw new CheckpointException("Missing config.json: " + configJson
                    + " does not exist; point at a Hugging Face checkpoint directory that contains it");
        } catch (IOException e) {
            throw new CheckpointException("Cannot read " + configJson + ": " + e.getMessage(), e);
        }
        try {
            return JSON.readTree(text);
        } catch (JacksonException e) {
            throw new CheckpointException("config.json at " + configJson + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    /** Parses the tree of a {@code config.json}. */
    public static ModelConfig fromJson(JsonNode root) {
        String modelType = root.path("model_type").asString("");
        JsonNode text = root.has("text_config") && root.get("text_config").isObject() ? root.get("text_config") : root;
        int hidden = requiredInt(text, root, "hidden_size");
        int heads = requiredInt(text, root, "num_attention_heads");
        int kvHeads = optionalInt(text, root, "num_key_value_heads", heads);
        int headDim = optionalInt(text, root, "head_dim", heads > 0 ? hidden / heads : 0);
        JsonNode ropeScaling = first(text, root, "rope_scaling");
        List<Integer> section;
        if (ropeScaling != null && ropeScaling.has("mrope_section")) {
            section = JSON.convertValue(ropeScaling.get("mrope_section"),
                    JSON.getTypeFactory().constructCollectionType(List.class, Integer.class));
        } else {
            section = List.of(headDim / 2, 0, 0);
        }
        double ropeTheta = optionalDouble(text, root, "rope_theta", 10000.0);
        if (ropeScaling != null && ropeScaling.has("rope_theta")) {
            ropeTheta = ropeScaling.get("rope_theta").asDouble();
        }
        return new ModelConfig(
                modelType,
                requiredInt(text, root, "vocab_size"),
                hidden,
                requiredInt(text, root, "intermediate_size"),
                requiredInt(text, root, "num_hidden_layers"),
                heads,
                kvHeads,
                headDim,
                optionalDouble(text, root, "rms_norm_eps", 1e-6),
                ropeTheta,
                section,
                root.path("tie_word_embeddings").asBoolean(text.path("tie_word_embeddings").asBoolean(false)),
                optionalInt(text, root, "max_position_embeddings", 32768),
                optionalInt(text, root, "bos_token_id", -1),
                optionalInt(text, root, "eos_token_id", -1),
                optionalInt(text, root, "image_token_id", -1),
                optionalInt(text, root, "video_token_id", -1),
                optionalInt(text, root, "vision_start_token_id", -1),
                optionalInt(text, root, "vision_end_token_id", -1));
    }

    /** Renders this configuration as a Hugging Face {@code config.json} (flat layout). */
    public String toJson() {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("architectures", List.of(isVisionLanguage() ? "Qwen2VLForConditionalGeneration" : "Qwen2ForCausalLM"));
        map.put("model_type", modelType);
        map.put("vocab_size", vocabSize);
        map.put("hidden_size", hiddenSize);
        map.put("intermediate_size", intermediateSize);
        map.put("num_hidden_layers", numLayers);
        map.put("num_attention_heads", numHeads);
        map.put("num_key_value_heads", numKvHeads);
        map.put("hidden_act", "silu");
        map.put("rms_norm_eps", rmsNormEps);
        map.put("rope_theta", ropeTheta);
        if (isVisionLanguage()) {
            map.put("rope_scaling", Map.of("type", "mrope", "mrope_section", mropeSection));
        }
        map.put("tie_word_embeddings", tieWordEmbeddings);
        map.put("max_position_embeddings", maxPositionEmbeddings);
        putId(map, "bos_token_id", bosTokenId);
        putId(map, "eos_token_id", eosTokenId);
        putId(map, "image_token_id", imageTokenId);
        putId(map, "video_token_id", videoTokenId);
        putId(map, "vision_start_token_id", visionStartTokenId);
        putId(map, "vision_end_token_id", visionEndTokenId);
        map.put("torch_dtype", "float32");
        ObjectNode node = JSON.valueToTree(map);
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(node);
    }

    private static void putId(Map<String, Object> map, String key, int id) {
        if (id >= 0) {
            map.put(key, id);
        }
    }

    private static JsonNode first(JsonNode text, JsonNode root, String key) {
        if (text.has(key) && !text.get(key).isNull()) {
            return text.get(key);
        }
        if (root.has(key) && !root.get(key).isNull()) {
            return root.get(key);
        }
        return null;
    }

    private static int requiredInt(JsonNode text, JsonNode root, String key) {
        JsonNode node = first(text, root, key);
        if (node == null || !node.isNumber()) {
            throw new CheckpointException("config.json has no integer '" + key + "'; is this a Hugging Face Qwen2 / Qwen2-VL checkpoint?");
        }
        return node.asInt();
    }

    private static int optionalInt(JsonNode text, JsonNode root, String key, int fallback) {
        JsonNode node = first(text, root, key);
        if (node != null && node.isArray() && !node.isEmpty()) {
            node = node.get(0);
        }
        return node != null && node.isNumber() ? node.asInt() : fallback;
    }

    private static double optionalDouble(JsonNode text, JsonNode root, String key, double fallback) {
        JsonNode node = first(text, root, key);
        return node != null && node.isNumber() ? node.asDouble() : fallback;
    }

    /** A builder seeded with a small Qwen2-VL-shaped configuration, for tests and generated checkpoints. */
    public static Builder builder() {
        return new Builder();
    }

    /** A Qwen2-0.5B-shaped text configuration (hidden 896, 24 layers, 14 heads, 2 KV heads, intermediate 4864). */
    public static ModelConfig qwen2HalfBillionShape() {
        return builder().modelType("qwen2_vl").vocabSize(151936).hiddenSize(896).intermediateSize(4864).numLayers(24)
                .numHeads(14).numKvHeads(2).mropeSection(List.of(8, 12, 12)).ropeTheta(1_000_000)
                .tieWordEmbeddings(true).build();
    }

    /** Builder for {@link ModelConfig}; unset token ids stay -1 unless {@link #qwenSpecialTokens} is used. */
    public static final class Builder {
        private String modelType = "qwen2_vl";
        private int vocabSize = 320;
        private int hiddenSize = 64;
        private int intermediateSize = 128;
        private int numLayers = 2;
        private int numHeads = 4;
        private int numKvHeads = 2;
        private Integer headDim;
        private double rmsNormEps = 1e-6;
        private double ropeTheta = 10000;
        private List<Integer> mropeSection;
        private boolean tieWordEmbeddings;
        private int maxPositionEmbeddings = 32768;
        private int bosTokenId = -1;
        private int eosTokenId = -1;
        private int imageTokenId = -1;
        private int videoTokenId = -1;
        private int visionStartTokenId = -1;
        private int visionEndTokenId = -1;

        public Builder modelType(String v) { modelType = v; return this; }
        public Builder vocabSize(int v) { vocabSize = v; return this; }
        public Builder hiddenSize(int v) { hiddenSize = v; return this; }
        public Builder intermediateSize(int v) { intermediateSize = v; return this; }
        public Builder numLayers(int v) { numLayers = v; return this; }
        public Builder numHeads(int v) { numHeads = v; return this; }
        public Builder numKvHeads(int v) { numKvHeads = v; return this; }
        public Builder headDim(int v) { headDim = v; return this; }
        public Builder rmsNormEps(double v) { rmsNormEps = v; return this; }
        public Builder ropeTheta(double v) { ropeTheta = v; return this; }
        public Builder mropeSection(List<Integer> v) { mropeSection = v; return this; }
        public Builder tieWordEmbeddings(boolean v) { tieWordEmbeddings = v; return this; }
        public Builder maxPositionEmbeddings(int v) { maxPositionEmbeddings = v; return this; }
        public Builder bosTokenId(int v) { bosTokenId = v; return this; }
        public Builder eosTokenId(int v) { eosTokenId = v; return this; }
        public Builder imageTokenId(int v) { imageTokenId = v; return this; }
        public Builder videoTokenId(int v) { videoTokenId = v; return this; }
        public Builder visionStartTokenId(int v) { visionStartTokenId = v; return this; }
        public Builder visionEndTokenId(int v) { visionEndTokenId = v; return this; }

        public ModelConfig build() {
            int hd = headDim != null ? headDim : hiddenSize / numHeads;
            List<Integer> section = mropeSection;
            if (section == null) {
                int half = hd / 2;
                int t = half / 4;
                int h = (half - t) / 2;
                section = "qwen2_vl".equals(modelType) ? List.of(t, h, half - t - h) : List.of(half, 0, 0);
            }
            return new ModelConfig(modelType, vocabSize, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, hd,
                    rmsNormEps, ropeTheta, section, tieWordEmbeddings, maxPositionEmbeddings, bosTokenId, eosTokenId,
                    imageTokenId, videoTokenId, visionStartTokenId, visionEndTokenId);
        }
    }
}

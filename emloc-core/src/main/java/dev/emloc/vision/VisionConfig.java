package dev.emloc.vision;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

import dev.emloc.model.CheckpointException;
import dev.emloc.model.ModelConfig;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * The vision tower part of a Qwen2-VL {@code config.json}: its {@code vision_config} object.
 *
 * <p>Keys that a {@code vision_config} leaves out take the defaults of {@code transformers}' {@code Qwen2VLVisionConfig}
 * (those of Qwen2-VL-7B), as {@code transformers} itself does. Qwen2-VL-2B's file, for example, names the channel count
 * {@code in_chans} and has no {@code hidden_act}; both spellings of the channel count are read.
 *
 * @param depth             vision blocks
 * @param embedDim          width of the vision residual stream (E)
 * @param numHeads          attention heads; {@code embedDim / numHeads} must be a multiple of 4 (2-D rotary)
 * @param mlpRatio          the block MLP is {@code (int) (embedDim * mlpRatio)} wide
 * @param inChannels        colour channels of a patch (C)
 * @param hiddenSize        width of the merger's output: the language model's hidden size
 * @param patchSize         side of a square patch in pixels (P)
 * @param spatialMergeSize  side of the square window of patches the merger folds into one token (M)
 * @param temporalPatchSize frames stacked in one patch (T)
 * @param hiddenAct         block MLP activation; only {@code quick_gelu} (Qwen2-VL's) is supported
 */
public record VisionConfig(
        int depth,
        int embedDim,
        int numHeads,
        double mlpRatio,
        int inChannels,
        int hiddenSize,
        int patchSize,
        int spatialMergeSize,
        int temporalPatchSize,
        String hiddenAct) {

    /** The only block activation Qwen2-VL uses: {@code x * sigmoid(1.702 x)}. */
    public static final String QUICK_GELU = "quick_gelu";

    private static final ObjectMapper JSON = JsonMapper.builder().build();

    public VisionConfig {
        positive("depth", depth);
        positive("embed_dim", embedDim);
        positive("num_heads", numHeads);
        positive("in_channels", inChannels);
        positive("hidden_size", hiddenSize);
        positive("patch_size", patchSize);
        positive("spatial_merge_size", spatialMergeSize);
        positive("temporal_patch_size", temporalPatchSize);
        if (!(mlpRatio > 0) || Double.isInfinite(mlpRatio) || (int) (embedDim * mlpRatio) < 1) {
            throw new CheckpointException("vision_config.mlp_ratio must be a positive number giving an MLP at least 1 wide, got "
                    + mlpRatio);
        }
        if (embedDim % numHeads != 0) {
            throw new CheckpointException("vision_config.embed_dim (" + embedDim + ") must be a multiple of num_heads ("
                    + numHeads + ")");
        }
        if ((embedDim / numHeads) % 4 != 0) {
            throw new CheckpointException("vision_config head width embed_dim / num_heads = " + embedDim / numHeads
                    + " must be a multiple of 4: a quarter of it rotates with the row, a quarter with the column");
        }
        if (!QUICK_GELU.equals(hiddenAct)) {
            throw new CheckpointException("vision_config.hidden_act '" + hiddenAct + "' is not supported; Qwen2-VL's vision"
                    + " tower uses '" + QUICK_GELU + "' (is this a Qwen2-VL checkpoint?)");
        }
    }

    private static void positive(String key, int value) {
        if (value <= 0) {
            throw new CheckpointException("vision_config." + key + " must be positive in config.json, got " + value);
        }
    }

    /** A Qwen2-VL-2B-shaped tower: embed 1280, depth 32, 16 heads, MLP ratio 4, patch 14, merge 2, temporal 2, output 1536. */
    public static VisionConfig qwen2Vl2BShape() {
        return new VisionConfig(32, 1280, 16, 4, 3, 1536, 14, 2, 2, QUICK_GELU);
    }

    /** Width of one attention head, {@code embedDim / numHeads}. */
    public int headDim() {
        return embedDim / numHeads;
    }

    /** Width of the block MLP, {@code (int) (embedDim * mlpRatio)} as in {@code transformers}. */
    public int mlpHiddenDim() {
        return (int) (embedDim * mlpRatio);
    }

    /** Values in one flattened patch, {@code C * T * P * P}: the width of a {@code pixel_values} row. */
    public int patchInputDim() {
        return inChannels * temporalPatchSize * patchSize * patchSize;
    }

    /** Patches folded into one output token, {@code M * M}. */
    public int tokensPerMergedToken() {
        return spatialMergeSize * spatialMergeSize;
    }

    /** Width of the merger's input and hidden layer, {@code E * M * M}. */
    public int mergedDim() {
        return embedDim * tokensPerMergedToken();
    }

    /**
     * Reads the {@code vision_config} of a {@code config.json}; empty when it has none (a text-only model).
     *
     * @throws CheckpointException when the file cannot be read, is not JSON, or its {@code vision_config} is invalid
     */
    public static Optional<VisionConfig> read(Path configJson) {
        return fromJson(ModelConfig.readTree(configJson));
    }

    /** The {@code vision_config} of a parsed {@code config.json}; empty when it has none. */
    public static Optional<VisionConfig> fromJson(JsonNode root) {
        JsonNode vision = root == null ? null : root.get("vision_config");
        if (vision == null || vision.isNull()) {
            return Optional.empty();
        }
        if (!vision.isObject()) {
            throw new CheckpointException("config.json's vision_config must be an object, got " + vision);
        }
        if (vision.has("fullatt_block_indexes") || vision.has("window_size") || vision.has("out_hidden_size")) {
            throw new CheckpointException("config.json's vision_config describes a Qwen2.5-VL vision tower (window attention,"
                    + " out_hidden_size); this engine runs Qwen2-VL checkpoints");
        }
        int inChannels = vision.has("in_channels") ? integer(vision, "in_channels", 3) : integer(vision, "in_chans", 3);
        return Optional.of(new VisionConfig(
                integer(vision, "depth", 32),
                integer(vision, "embed_dim", 1280),
                integer(vision, "num_heads", 16),
                number(vision, "mlp_ratio", 4),
                inChannels,
                integer(vision, "hidden_size", 3584),
                integer(vision, "patch_size", 14),
                integer(vision, "spatial_merge_size", 2),
                integer(vision, "temporal_patch_size", 2),
                vision.has("hidden_act") ? vision.get("hidden_act").asString() : QUICK_GELU));
    }

    private static int integer(JsonNode vision, String key, int fallback) {
        JsonNode node = vision.get(key);
        if (node == null || node.isNull()) {
            return fallback;
        }
        if (!node.isIntegralNumber() || !node.canConvertToInt()) {
            throw new CheckpointException("config.json's vision_config." + key + " must be an integer, got " + node);
        }
        return node.asInt();
    }

    private static double number(JsonNode vision, String key, double fallback) {
        JsonNode node = vision.get(key);
        if (node == null || node.isNull()) {
            return fallback;
        }
        if (!node.isNumber()) {
            throw new CheckpointException("config.json's vision_config." + key + " must be a number, got " + node);
        }
        return node.asDouble();
    }

    /** The {@code vision_config} object as {@code transformers} writes it (keys in its order). */
    public Map<String, Object> toMap() {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("depth", depth);
        map.put("embed_dim", embedDim);
        map.put("hidden_size", hiddenSize);
        map.put("hidden_act", hiddenAct);
        map.put("mlp_ratio", mlpRatio == Math.rint(mlpRatio) && Math.abs(mlpRatio) < 1e9 ? (Object) (int) mlpRatio : mlpRatio);
        map.put("num_heads", numHeads);
        map.put("in_channels", inChannels);
        map.put("patch_size", patchSize);
        map.put("spatial_merge_size", spatialMergeSize);
        map.put("temporal_patch_size", temporalPatchSize);
        return map;
    }

    /** {@link #toMap()} as pretty-printed JSON. */
    public String toJson() {
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(toMap());
    }
}

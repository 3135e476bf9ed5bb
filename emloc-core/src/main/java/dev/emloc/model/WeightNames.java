package dev.emloc.model;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import ai.djl.ndarray.types.Shape;
import dev.emloc.vision.VisionConfig;

/**
 * Canonical names and shapes of the Qwen2 language-model weights, as Hugging Face {@code transformers} saves a
 * {@code Qwen2ForCausalLM} (and older releases a {@code Qwen2VLForConditionalGeneration}).
 *
 * <p>Newer {@code transformers} releases save the Qwen2-VL text model under {@code model.language_model.};
 * {@link Checkpoint#load} accepts these canonical {@code model.} names for either layout.
 * Dimensions below: H query heads, G key/value heads, D head width, V vocabulary.
 *
 * <p>The Qwen2-VL vision tower's weights are named {@code visual.} (newer releases: {@code model.visual.}, also found
 * by {@link Checkpoint#load}). Vision dimensions: E embedding width, C channels, T temporal patch, P patch side,
 * M merge window side, I block MLP width.
 */
public final class WeightNames {

    public static final String INPUT_LAYERNORM = "input_layernorm.weight";
    public static final String Q_PROJ_WEIGHT = "self_attn.q_proj.weight";
    public static final String Q_PROJ_BIAS = "self_attn.q_proj.bias";
    public static final String K_PROJ_WEIGHT = "self_attn.k_proj.weight";
    public static final String K_PROJ_BIAS = "self_attn.k_proj.bias";
    public static final String V_PROJ_WEIGHT = "self_attn.v_proj.weight";
    public static final String V_PROJ_BIAS = "self_attn.v_proj.bias";
    public static final String O_PROJ_WEIGHT = "self_attn.o_proj.weight";
    public static final String POST_ATTENTION_LAYERNORM = "post_attention_layernorm.weight";
    public static final String GATE_PROJ_WEIGHT = "mlp.gate_proj.weight";
    public static final String UP_PROJ_WEIGHT = "mlp.up_proj.weight";
    public static final String DOWN_PROJ_WEIGHT = "mlp.down_proj.weight";

    /** The per-layer suffixes in the order {@code transformers} declares the parameters. */
    public static final List<String> LAYER_SUFFIXES = List.of(INPUT_LAYERNORM, Q_PROJ_WEIGHT, Q_PROJ_BIAS, K_PROJ_WEIGHT,
            K_PROJ_BIAS, V_PROJ_WEIGHT, V_PROJ_BIAS, O_PROJ_WEIGHT, POST_ATTENTION_LAYERNORM, GATE_PROJ_WEIGHT,
            UP_PROJ_WEIGHT, DOWN_PROJ_WEIGHT);

    /** Block suffixes of the vision tower, in the order {@code transformers} declares the parameters. */
    public static final List<String> VISION_BLOCK_SUFFIXES = List.of("norm1.weight", "norm1.bias", "norm2.weight",
            "norm2.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight", "attn.proj.bias", "mlp.fc1.weight",
            "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias");

    /** Merger suffixes of the vision tower, in declaration order. */
    public static final List<String> VISION_MERGER_SUFFIXES = List.of("ln_q.weight", "ln_q.bias", "mlp.0.weight", "mlp.0.bias",
            "mlp.2.weight", "mlp.2.bias");

    private WeightNames() {
    }

    /** {@code model.embed_tokens.weight}, (V, hidden). */
    public static String embedTokens() {
        return "model.embed_tokens.weight";
    }

    /** {@code model.layers.<i>.<suffix>}, e.g. {@code layer(3, Q_PROJ_WEIGHT)}. */
    public static String layer(int index, String suffix) {
        if (index < 0) {
            throw new IllegalArgumentException("Layer index must be non-negative, got " + index);
        }
        return "model.layers." + index + "." + suffix;
    }

    /** {@code model.norm.weight}, (hidden): the RMSNorm after the last layer. */
    public static String finalNorm() {
        return "model.norm.weight";
    }

    /** {@code lm_head.weight}, (V, hidden); absent when {@code tie_word_embeddings} reuses the embedding. */
    public static String lmHead() {
        return "lm_head.weight";
    }

    /** Every language-model weight with its shape, in declaration order (embedding, layers, norm, head). */
    public static Map<String, Shape> languageModelShapes(ModelConfig config) {
        long hidden = config.hiddenSize();
        long queryWidth = (long) config.numHeads() * config.headDim();   // H*D
        long kvWidth = config.kvDim();                                   // G*D
        long inter = config.intermediateSize();
        long vocab = config.vocabSize();
        Map<String, Shape> shapes = new LinkedHashMap<>();
        shapes.put(embedTokens(), new Shape(vocab, hidden));
        for (int i = 0; i < config.numLayers(); i++) {
            shapes.put(layer(i, INPUT_LAYERNORM), new Shape(hidden));
            shapes.put(layer(i, Q_PROJ_WEIGHT), new Shape(queryWidth, hidden));
            shapes.put(layer(i, Q_PROJ_BIAS), new Shape(queryWidth));
            shapes.put(layer(i, K_PROJ_WEIGHT), new Shape(kvWidth, hidden));
            shapes.put(layer(i, K_PROJ_BIAS), new Shape(kvWidth));
            shapes.put(layer(i, V_PROJ_WEIGHT), new Shape(kvWidth, hidden));
            shapes.put(layer(i, V_PROJ_BIAS), new Shape(kvWidth));
            shapes.put(layer(i, O_PROJ_WEIGHT), new Shape(hidden, queryWidth));
            shapes.put(layer(i, POST_ATTENTION_LAYERNORM), new Shape(hidden));
            shapes.put(layer(i, GATE_PROJ_WEIGHT), new Shape(inter, hidden));
            shapes.put(layer(i, UP_PROJ_WEIGHT), new Shape(inter, hidden));
            shapes.put(layer(i, DOWN_PROJ_WEIGHT), new Shape(hidden, inter));
        }
        shapes.put(finalNorm(), new Shape(hidden));
        if (!config.tieWordEmbeddings()) {
            shapes.put(lmHead(), new Shape(vocab, hidden));
        }
        return Collections.unmodifiableMap(shapes);
    }

    /** {@code visual.patch_embed.proj.weight}, (E, C, T, P, P): the patch Conv3d kernel, no bias. */
    public static String visionPatchEmbed() {
        return "visual.patch_embed.proj.weight";
    }

    /** {@code visual.blocks.<i>.<suffix>}, e.g. {@code visionBlock(0, "attn.qkv.weight")}. */
    public static String visionBlock(int index, String suffix) {
        if (index < 0) {
            throw new IllegalArgumentException("Vision block index must be non-negative, got " + index);
        }
        return "visual.blocks." + index + "." + suffix;
    }

    /** {@code visual.merger.<suffix>}, e.g. {@code visionMerger("mlp.0.weight")}. */
    public static String visionMerger(String suffix) {
        return "visual.merger." + suffix;
    }

    /** Every vision-tower weight with its shape, in declaration order (patch embedding, blocks, merger). */
    public static Map<String, Shape> visionShapes(VisionConfig config) {
        long embed = config.embedDim();
        long inner = config.mlpHiddenDim();
        long merged = config.mergedDim();
        Map<String, Shape> shapes = new LinkedHashMap<>();
        shapes.put(visionPatchEmbed(), new Shape(embed, config.inChannels(), config.temporalPatchSize(), config.patchSize(),
                config.patchSize()));
        for (int i = 0; i < config.depth(); i++) {
            shapes.put(visionBlock(i, "norm1.weight"), new Shape(embed));
            shapes.put(visionBlock(i, "norm1.bias"), new Shape(embed));
            shapes.put(visionBlock(i, "norm2.weight"), new Shape(embed));
            shapes.put(visionBlock(i, "norm2.bias"), new Shape(embed));
            shapes.put(visionBlock(i, "attn.qkv.weight"), new Shape(3 * embed, embed));
            shapes.put(visionBlock(i, "attn.qkv.bias"), new Shape(3 * embed));
            shapes.put(visionBlock(i, "attn.proj.weight"), new Shape(embed, embed));
            shapes.put(visionBlock(i, "attn.proj.bias"), new Shape(embed));
            shapes.put(visionBlock(i, "mlp.fc1.weight"), new Shape(inner, embed));
            shapes.put(visionBlock(i, "mlp.fc1.bias"), new Shape(inner));
            shapes.put(visionBlock(i, "mlp.fc2.weight"), new Shape(embed, inner));
            shapes.put(visionBlock(i, "mlp.fc2.bias"), new Shape(embed));
        }
        shapes.put(visionMerger("ln_q.weight"), new Shape(embed));
        shapes.put(visionMerger("ln_q.bias"), new Shape(embed));
        shapes.put(visionMerger("mlp.0.weight"), new Shape(merged, merged));
        shapes.put(visionMerger("mlp.0.bias"), new Shape(merged));
        shapes.put(visionMerger("mlp.2.weight"), new Shape(config.hiddenSize(), merged));
        shapes.put(visionMerger("mlp.2.bias"), new Shape(config.hiddenSize()));
        return Collections.unmodifiableMap(shapes);
    }

    /** Whether {@code name} is the scale of a normalisation layer (RMSNorm or LayerNorm), language model or vision. */
    public static boolean isNormWeight(String name) {
        return name.endsWith("norm.weight") || name.endsWith(".norm1.weight") || name.endsWith(".norm2.weight")
                || name.endsWith(".ln_q.weight");
    }

    /** The names of {@link #languageModelShapes}, in the same order. */
    public static List<String> languageModelTensorNames(ModelConfig config) {
        return List.copyOf(languageModelShapes(config).keySet());
    }
}

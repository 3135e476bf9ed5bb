package dev.emloc.model;

/** Canonical Hugging Face tensor names of the Qwen2 language model. */
public final class WeightNames {

    private WeightNames() {
    }

    public static String embedTokens() {
        return "model.embed_tokens.weight";
    }

    /** A tensor of decoder layer {@code i}, e.g. {@code layer(3, "self_attn.q_proj.weight")}. */
    public static String layer(int i, String suffix) {
        return "model.layers." + i + "." + suffix;
    }

    public static String finalNorm() {
        return "model.norm.weight";
    }

    public static String lmHead() {
        return "lm_head.weight";
    }
}

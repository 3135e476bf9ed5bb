package dev.emloc.model;

/** One Qwen2 decoder block: {@code x = x + attn(norm1(x)); x = x + mlp(norm2(x))}. */
final class DecoderLayer {

    private final RmsNorm inputNorm;
    private final Attention attention;
    private final RmsNorm postAttentionNorm;
    private final Mlp mlp;

    DecoderLayer(RmsNorm inputNorm, Attention attention, RmsNorm postAttentionNorm, Mlp mlp) {
        this.inputNorm = inputNorm;
        this.attention = attention;
        this.postAttentionNorm = postAttentionNorm;
        this.mlp = mlp;
    }

    Attention.Output forward(ai.djl.ndarray.NDArray x, ai.djl.ndarray.NDArray cos, ai.djl.ndarray.NDArray sin,
            KvCache cache, int layer, boolean append, AttentionProbe probe, ai.djl.ndarray.NDArray visibleBefore) {
        Attention.Output attended = attention.forward(inputNorm.forward(x), cos, sin, cache, layer, append, probe,
                visibleBefore);
        var h = x.add(attended.output());
        var out = h.add(mlp.forward(postAttentionNorm.forward(h)));
        return new Attention.Output(out, attended.probabilities());
    }
}

package dev.emloc.vision;

import ai.djl.ndarray.NDArray;

/** One vision transformer block: {@code x = x + attn(norm1(x)); x = x + mlp(norm2(x))}. */
final class VisionBlock {

    private final LayerNorm norm1;
    private final VisionAttention attention;
    private final LayerNorm norm2;
    private final VisionMlp mlp;

    VisionBlock(LayerNorm norm1, VisionAttention attention, LayerNorm norm2, VisionMlp mlp) {
        this.norm1 = norm1;
        this.attention = attention;
        this.norm2 = norm2;
        this.mlp = mlp;
    }

    /**
     * @param x        {@code (N, E)}
     * @param segments attention segment boundaries ({@code cu_seqlens})
     */
    NDArray forward(NDArray x, NDArray cos, NDArray sin, int[] segments) {
        NDArray h = x.add(attention.forward(norm1.forward(x), cos, sin, segments)); // (N, E)
        return h.add(mlp.forward(norm2.forward(h)));                               // (N, E)
    }
}

package dev.emloc.vision;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * Layer normalisation with a learned scale and shift, computed in float32 whatever the model's dtype; the weights are
 * held in float32 for that reason.
 */
final class LayerNorm {

    /** The epsilon of every LayerNorm in Qwen2-VL's vision tower ({@code norm1}, {@code norm2}, {@code ln_q}). */
    static final float EPS = 1e-6f;

    private final NDArray weight; // (E) float32
    private final NDArray bias;   // (E) float32

    LayerNorm(NDArray weight, NDArray bias) {
        this.weight = weight;
        this.bias = bias;
    }

    /** {@code (x - mean) / sqrt(var + eps) * weight + bias} over the last axis, returned in {@code x}'s dtype. */
    NDArray forward(NDArray x) {
        DataType type = x.getDataType();
        NDArray x32 = x.toType(DataType.FLOAT32, false);
        NDArray centered = x32.sub(x32.mean(new int[] {-1}, true));
        NDArray variance = centered.square().mean(new int[] {-1}, true); // biased, as torch's layer_norm
        return centered.div(variance.add(EPS).sqrt()).mul(weight).add(bias).toType(type, false);
    }
}

package dev.emloc.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/** Root-mean-square normalisation, computed in float32 whatever the model's dtype. */
final class RmsNorm {

    private final NDArray weight; // (hidden)
    private final float eps;

    RmsNorm(NDArray weight, double eps) {
        this.weight = weight;
        this.eps = (float) eps;
    }

    /** {@code x / sqrt(mean(x^2) + eps) * weight} over the last axis. */
    NDArray forward(NDArray x) {
        DataType type = x.getDataType();
        NDArray x32 = x.toType(DataType.FLOAT32, false);
        NDArray rms = x32.square().mean(new int[] {-1}, true).add(eps).sqrt();
        return x32.div(rms).toType(type, false).mul(weight);
    }
}

package dev.emloc.vision;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;
import dev.emloc.model.OwnedArrays;

/** The block feed-forward: {@code fc2(quickGelu(fc1(x)))}. */
final class VisionMlp {

    private final NDArray fc1Weight; // (I, E)
    private final NDArray fc1Bias;   // (I)
    private final NDArray fc2Weight; // (E, I)
    private final NDArray fc2Bias;   // (E)

    VisionMlp(NDArray fc1Weight, NDArray fc1Bias, NDArray fc2Weight, NDArray fc2Bias) {
        this.fc1Weight = fc1Weight;
        this.fc1Bias = fc1Bias;
        this.fc2Weight = fc2Weight;
        this.fc2Bias = fc2Bias;
    }

    /** @param x {@code (N, E)} */
    NDArray forward(NDArray x) {
        NDArray hidden = Linear.linear(x, fc1Weight, fc1Bias).singletonOrThrow(); // (N, I)
        return Linear.linear(quickGelu(hidden), fc2Weight, fc2Bias).singletonOrThrow(); // (N, E)
    }

    /** OpenAI CLIP's cheap GELU approximation, {@code x * sigmoid(1.702 x)} ({@code transformers}' {@code quick_gelu}). */
    static NDArray quickGelu(NDArray x) {
        return x.mul(Activation.sigmoid(x.mul(OwnedArrays.scalar(x, 1.702f)))); // not mul(float): see OwnedArrays
    }
}

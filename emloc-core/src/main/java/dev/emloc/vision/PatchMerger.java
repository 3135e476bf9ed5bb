package dev.emloc.vision;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;

/**
 * Folds each merge window of {@code M x M} consecutive patches into one language-model token:
 * {@code mlp2(gelu(mlp0(concat(lnQ(x) of the window))))}. The GELU is the exact one, {@code x * Phi(x)} with the erf
 * (PyTorch's {@code nn.GELU()} default), not the tanh approximation.
 */
final class PatchMerger {

    private final LayerNorm lnQ;
    private final NDArray fc0Weight; // (E*M*M, E*M*M)
    private final NDArray fc0Bias;   // (E*M*M)
    private final NDArray fc2Weight; // (hidden, E*M*M)
    private final NDArray fc2Bias;   // (hidden)
    private final int mergedDim;
    private final int window;

    PatchMerger(VisionConfig config, LayerNorm lnQ, NDArray fc0Weight, NDArray fc0Bias, NDArray fc2Weight, NDArray fc2Bias) {
        this.lnQ = lnQ;
        this.fc0Weight = fc0Weight;
        this.fc0Bias = fc0Bias;
        this.fc2Weight = fc2Weight;
        this.fc2Bias = fc2Bias;
        this.mergedDim = config.mergedDim();
        this.window = config.tokensPerMergedToken();
    }

    /** @param x {@code (N, E)}, N a multiple of M*M; returns {@code (N / (M*M), hidden)} */
    NDArray forward(NDArray x) {
        long tokens = x.getShape().get(0);
        NDArray windows = lnQ.forward(x).reshape(tokens / window, mergedDim);           // (N/(M*M), E*M*M)
        NDArray hidden = Activation.gelu(Linear.linear(windows, fc0Weight, fc0Bias).singletonOrThrow()); // erf form
        return Linear.linear(hidden, fc2Weight, fc2Bias).singletonOrThrow();            // (N/(M*M), hidden)
    }
}

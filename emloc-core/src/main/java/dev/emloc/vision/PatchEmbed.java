package dev.emloc.vision;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.core.Linear;

/**
 * Patch embedding. {@code transformers} applies a {@code Conv3d} whose kernel equals its stride and covers the whole
 * patch, so every output is one dot product of a kernel with one flattened {@code (C, T, P, P)} patch: one matmul of the
 * patch rows with the flattened kernel.
 */
final class PatchEmbed {

    private final NDArray kernel; // (E, C, T, P, P): the Conv3d kernel, no bias
    private final long embedDim;
    private final long patchDim;

    PatchEmbed(NDArray kernel, long embedDim, long patchDim) {
        this.kernel = kernel;
        this.embedDim = embedDim;
        this.patchDim = patchDim;
    }

    /**
     * @param patches {@code (N, C*T*P*P)} in the model's dtype; returns {@code (N, E)}. The kernel is flattened to
     *                {@code (E, C*T*P*P)} on every call (a view, no copy), so that under autograd the view is recorded
     *                and the kernel's gradient flows.
     */
    NDArray forward(NDArray patches) {
        return Linear.linear(patches, kernel.reshape(embedDim, patchDim)).singletonOrThrow();
    }
}

package dev.emloc.vision;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.core.Linear;

/**
 * Patch embedding. {@code transformers} applies a {@code Conv3d} whose kernel equals its stride and covers the whole
 * patch, so every output is one dot product of a kernel with one flattened {@code (C, T, P, P)} patch: one matmul of the
 * patch rows with the flattened kernel.
 */
final class PatchEmbed {

    private final NDArray weight; // (E, C*T*P*P): the Conv3d kernel (E, C, T, P, P), flattened; no bias

    PatchEmbed(NDArray weight) {
        this.weight = weight;
    }

    /** @param patches {@code (N, C*T*P*P)} in the model's dtype; returns {@code (N, E)} */
    NDArray forward(NDArray patches) {
        return Linear.linear(patches, weight).singletonOrThrow();
    }
}

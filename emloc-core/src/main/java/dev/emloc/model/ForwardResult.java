package dev.emloc.model;

import java.util.List;
import java.util.Map;

import ai.djl.ndarray.NDArray;

/**
 * What a forward pass computed; every array is owned by the request's output manager.
 *
 * @param logits             float32 {@code (B, rows, V)} for the requested rows, or null
 * @param hiddenStates       if recorded, the hidden state entering each layer that ran, indexed by layer
 *                           (entries below the start layer are null), each {@code (B, T, hidden)}
 * @param finalHiddenStates  the last layer's output before the final norm {@code (B, T, hidden)}
 * @param attention          if probed, layer index to float32 {@code (B, H, rows, keys)}
 * @param nextPositionOffset the largest position id of this forward plus one
 */
public record ForwardResult(
        NDArray logits,
        List<NDArray> hiddenStates,
        NDArray finalHiddenStates,
        Map<Integer, NDArray> attention,
        int nextPositionOffset) {
}

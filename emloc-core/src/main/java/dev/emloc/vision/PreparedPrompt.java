package dev.emloc.vision;

import java.util.List;

import ai.djl.ndarray.NDArray;

/**
 * A conversation turned into model input: token ids, their embeddings with every image and video spliced
 * in, and multimodal position ids. Arrays are owned by the manager passed to
 * {@link VisionLanguageModel#prepare}.
 *
 * @param tokenIds     the expanded ids, each image a run of {@code <|image_pad|>}
 * @param embeddings   {@code (1, T, hidden)} in the model's dtype
 * @param positionIds  {@code (3, 1, T)} int64
 * @param nextOffset   largest position + 1: where a following query starts
 * @param grids        patch grid {@code {t, h, w}} of each image and video, in order
 */
public record PreparedPrompt(long[] tokenIds, NDArray embeddings, NDArray positionIds, int nextOffset, List<int[]> grids) {

    public PreparedPrompt {
        grids = List.copyOf(grids);
    }

    /** Number of tokens. */
    public int length() {
        return tokenIds.length;
    }
}

package dev.emloc.model;

import java.util.List;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Multimodal rotary position embedding (M-RoPE) of Qwen2-VL.
 *
 * <p>Every token has three position components (temporal, height, width). The {@code headDim / 2}
 * rotary frequencies are split into three consecutive sections ({@code mrope_section}); frequency
 * {@code i} rotates by the component of the section it falls in. For text all three components are
 * equal, which makes this plain 1-D RoPE; a text-only {@code qwen2} model uses section
 * {@code [headDim/2, 0, 0]}.
 */
final class RotaryEmbedding {

    /** {@code [3][headDim/2]}: the inverse frequency where component c owns frequency i, else 0. */
    private final float[][] sectionInverseFrequencies;
    private final int headDim;

    RotaryEmbedding(ModelConfig config) {
        this.headDim = config.headDim();
        int half = headDim / 2;
        this.sectionInverseFrequencies = new float[3][half];
        List<Integer> section = config.mropeSection();
        int start = 0;
        for (int c = 0; c < 3; c++) {
            int end = start + section.get(c);
            for (int i = start; i < end; i++) {
                float exponent = (float) (2 * i) / headDim;
                sectionInverseFrequencies[c][i] = (float) (1.0 / (float) Math.pow(config.ropeTheta(), exponent));
            }
            start = end;
        }
    }

    /**
     * Cosine and sine tables for the given positions.
     *
     * @param positionIds {@code (3, B, T)} integer positions
     * @return {@code [cos, sin]}, each {@code (B, 1, T, D)} in {@code dtype}, ready to broadcast over heads
     */
    NDArray[] cosSin(NDArray positionIds, DataType dtype) {
        NDManager manager = positionIds.getManager();
        NDArray positions = positionIds.toType(DataType.FLOAT32, false); // (3, B, T)
        NDArray freqs = null; // (B, T, D/2)
        for (int c = 0; c < 3; c++) {
            NDArray inv = manager.create(sectionInverseFrequencies[c], new Shape(headDim / 2)).toDevice(positions.getDevice(), false);
            NDArray part = positions.get(c).expandDims(-1).mul(inv); // (B, T, D/2)
            freqs = freqs == null ? part : freqs.add(part);
        }
        NDArray emb = NDArrays.concat(new ai.djl.ndarray.NDList(freqs, freqs), -1).expandDims(1); // (B, 1, T, D)
        return new NDArray[] {emb.cos().toType(dtype, false), emb.sin().toType(dtype, false)};
    }

    /** {@code x * cos + rotateHalf(x) * sin} for {@code x} of shape {@code (B, heads, T, D)}. */
    static NDArray apply(NDArray x, NDArray cos, NDArray sin) {
        return x.mul(cos).add(rotateHalf(x).mul(sin));
    }

    /** Swaps the two halves of the last axis and negates the new first half: {@code [x1, x2] -> [-x2, x1]}. */
    static NDArray rotateHalf(NDArray x) {
        long half = x.getShape().get(x.getShape().dimension() - 1) / 2;
        NDArray first = x.get("..., :{}", half);
        NDArray second = x.get("..., {}:", half);
        return NDArrays.concat(new ai.djl.ndarray.NDList(second.neg(), first), -1);
    }
}

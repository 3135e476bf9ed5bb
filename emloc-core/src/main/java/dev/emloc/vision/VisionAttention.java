package dev.emloc.vision;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.core.Linear;
import dev.emloc.model.OwnedArrays;

/**
 * Bidirectional multi-head self-attention with 2-D rotary positions, restricted to segments: a patch attends to the
 * patches of its own segment (one temporal slice of one image or video) and to no other.
 *
 * <p>Each segment is attended separately, and within it queries are taken in blocks so that the float32 scores of one
 * block stay under {@link #scoreBlockBytes}; memory grows with {@code block * segment}, not with {@code N^2}. Rotary
 * embedding and softmax run in float32.
 */
final class VisionAttention {

    /** Upper bound on the float32 score tensor of one query block; tests lower it to exercise blocking. */
    static volatile long scoreBlockBytes = 64L << 20;

    private final NDArray qkvWeight;  // (3E, E): rows [q; k; v], heads side by side within each
    private final NDArray qkvBias;    // (3E)
    private final NDArray projWeight; // (E, E)
    private final NDArray projBias;   // (E)
    private final int numHeads;
    private final int headDim;

    VisionAttention(VisionConfig config, NDArray qkvWeight, NDArray qkvBias, NDArray projWeight, NDArray projBias) {
        this.qkvWeight = qkvWeight;
        this.qkvBias = qkvBias;
        this.projWeight = projWeight;
        this.projBias = projBias;
        this.numHeads = config.numHeads();
        this.headDim = config.headDim();
    }

    /**
     * @param x        normalised input {@code (N, E)}
     * @param cos      rotary table {@code (N, D)} float32
     * @param sin      rotary table {@code (N, D)} float32
     * @param segments segment boundaries {@code [0, ..., N]} ({@code cu_seqlens})
     * @return {@code (N, E)}
     */
    NDArray forward(NDArray x, NDArray cos, NDArray sin, int[] segments) {
        DataType dtype = x.getDataType();
        long tokens = x.getShape().get(0);
        NDArray qkv = Linear.linear(x, qkvWeight, qkvBias).singletonOrThrow()
                .reshape(tokens, 3, numHeads, headDim)
                .transpose(1, 2, 0, 3); // (3, H, N, D)
        float scale = (float) (1.0 / Math.sqrt(headDim));
        NDArray rotated = VisionRotaryEmbedding.apply(qkv.get(0), cos, sin);
        NDArray q = rotated.mul(OwnedArrays.scalar(rotated, scale)).toType(dtype, false);                 // (H, N, D)
        NDArray k = VisionRotaryEmbedding.apply(qkv.get(1), cos, sin).toType(dtype, false);            // (H, N, D)
        NDArray v = qkv.get(2);                                                                        // (H, N, D)

        NDList parts = new NDList();
        for (int s = 0; s + 1 < segments.length; s++) {
            NDIndex rows = new NDIndex(":, {}:{}", segments[s], segments[s + 1]);
            parts.add(attendWithin(q.get(rows), k.get(rows), v.get(rows)));
        }
        NDArray attended = parts.size() == 1 ? parts.singletonOrThrow() : NDArrays.concat(parts, 1); // (H, N, D)
        NDArray merged = attended.transpose(1, 0, 2).reshape(tokens, (long) numHeads * headDim);     // (N, E)
        return Linear.linear(merged, projWeight, projBias).singletonOrThrow();                       // (N, E)
    }

    /**
     * Full (non-causal) attention inside one segment.
     *
     * @param q {@code (H, n, D)}, already scaled
     * @param k {@code (H, n, D)}
     * @param v {@code (H, n, D)}
     * @return {@code (H, n, D)}
     */
    private NDArray attendWithin(NDArray q, NDArray k, NDArray v) {
        int length = (int) q.getShape().get(1);
        NDArray keysT = k.transpose(0, 2, 1); // (H, D, n)
        long rowBytes = 4L * numHeads * length;
        int block = (int) Math.max(1, Math.min(length, scoreBlockBytes / Math.max(1, rowBytes)));
        if (block == length) {
            return weighted(q, keysT, v);
        }
        NDList blocks = new NDList();
        for (int r0 = 0; r0 < length; r0 += block) {
            int r1 = Math.min(length, r0 + block);
            try (NDScope blockScope = new NDScope()) {
                blockScope.suppressNotUsedWarning();
                NDArray out = weighted(q.get(new NDIndex(":, {}:{}", r0, r1)), keysT, v); // (H, rows, D)
                NDScope.unregister(out);
                blocks.add(out);
            }
            NDScope.register(blocks.get(blocks.size() - 1));
        }
        return NDArrays.concat(blocks, 1);
    }

    /** {@code softmax(q k^T) v} with a float32 softmax: {@code (H, rows, D)}. */
    private static NDArray weighted(NDArray q, NDArray keysT, NDArray v) {
        NDArray probabilities = q.matMul(keysT).toType(DataType.FLOAT32, false).softmax(-1).toType(q.getDataType(), false);
        return probabilities.matMul(v); // (H, rows, n) x (H, n, D)
    }
}

package dev.emloc.vision;

import java.util.List;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * 2-D rotary position embedding of the vision tower.
 *
 * <p>Every patch has a position (row, column) inside its frame. A head of width {@code D} rotates {@code D/4} frequency
 * pairs by the row and {@code D/4} by the column: the angle vector of a patch is {@code [row * f, column * f]} with
 * {@code f_j = 10000^(-2j / (D/2))}, {@code j < D/4}, and, as in the language model, it is repeated twice
 * ({@code [a, a]}) and applied with {@code rotateHalf}. The temporal index plays no part: every frame of a video gets
 * the same positions.
 *
 * <p>Patches arrive in merge-window order, the order in which the merger folds them: windows of {@code M x M} patches
 * row-major over the grid, patches row-major inside a window. Position {@code i} of a frame is therefore
 * {@code row = (window / (w/M)) * M + (i % (M*M)) / M}, {@code column = (window % (w/M)) * M + i % M} with
 * {@code window = i / (M*M)}.
 */
final class VisionRotaryEmbedding {

    static final double THETA = 10000.0;

    private final float[] inverseFrequencies; // (D/4)
    private final int headDim;
    private final int mergeSize;

    VisionRotaryEmbedding(VisionConfig config) {
        this.headDim = config.headDim();
        this.mergeSize = config.spatialMergeSize();
        int dim = headDim / 2;
        this.inverseFrequencies = new float[dim / 2];
        for (int j = 0; j < inverseFrequencies.length; j++) {
            float exponent = (float) (2 * j) / dim;
            inverseFrequencies[j] = (float) (1.0 / (float) Math.pow(THETA, exponent));
        }
    }

    /**
     * (row, column) of every patch of {@code grids}, in input order: {@code [N][2]}.
     */
    static int[][] positions(List<GridThw> grids, int mergeSize) {
        int total = grids.stream().mapToInt(GridThw::patches).sum();
        int[][] positions = new int[total][];
        int window = mergeSize * mergeSize;
        int n = 0;
        for (GridThw grid : grids) {
            int windowsPerRow = grid.w() / mergeSize;
            for (int frame = 0; frame < grid.t(); frame++) {
                for (int i = 0; i < grid.patchesPerFrame(); i++) {
                    int w = i / window;
                    int inside = i % window;
                    int row = (w / windowsPerRow) * mergeSize + inside / mergeSize;
                    int column = (w % windowsPerRow) * mergeSize + inside % mergeSize;
                    positions[n++] = new int[] {row, column};
                }
            }
        }
        return positions;
    }

    /**
     * Cosine and sine tables for every patch of {@code grids}.
     *
     * @return {@code [cos, sin]}, each {@code (N, D)} float32 on {@code device}, owned by {@code manager}
     */
    NDArray[] cosSin(NDManager manager, Device device, List<GridThw> grids) {
        int[][] positions = positions(grids, mergeSize);
        int quarter = inverseFrequencies.length;
        float[] angles = new float[positions.length * headDim];
        for (int n = 0; n < positions.length; n++) {
            int base = n * headDim;
            for (int j = 0; j < quarter; j++) {
                float rowAngle = positions[n][0] * inverseFrequencies[j];
                float columnAngle = positions[n][1] * inverseFrequencies[j];
                angles[base + j] = rowAngle;                         // [row * f, column * f] ...
                angles[base + quarter + j] = columnAngle;
                angles[base + 2 * quarter + j] = rowAngle;           // ... repeated: [a, a]
                angles[base + 3 * quarter + j] = columnAngle;
            }
        }
        NDArray emb = manager.create(angles, new Shape(positions.length, headDim)).toDevice(device, false); // (N, D)
        return new NDArray[] {emb.cos(), emb.sin()};
    }

    /**
     * {@code x * cos + rotateHalf(x) * sin}, computed in float32.
     *
     * @param x {@code (H, N, D)} in any float dtype
     * @param cos {@code (N, D)} float32
     * @param sin {@code (N, D)} float32
     * @return {@code (H, N, D)} float32
     */
    static NDArray apply(NDArray x, NDArray cos, NDArray sin) {
        NDArray x32 = x.toType(DataType.FLOAT32, false);
        return x32.mul(cos).add(rotateHalf(x32).mul(sin));
    }

    /** {@code [x1, x2] -> [-x2, x1]} over the last axis. */
    static NDArray rotateHalf(NDArray x) {
        long half = x.getShape().get(x.getShape().dimension() - 1) / 2;
        NDArray first = x.get("..., :{}", half);
        NDArray second = x.get("..., {}:", half);
        return NDArrays.concat(new NDList(second.neg(), first), -1);
    }
}

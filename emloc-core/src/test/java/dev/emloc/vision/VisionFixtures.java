package dev.emloc.vision;

import java.util.List;
import java.util.SplittableRandom;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/** A tiny vision tower with seeded in-memory weights, and inputs for it. */
final class VisionFixtures {

    private VisionFixtures() {
    }

    /** Embed 32, 4 heads of width 8, MLP 64, output 48, patch 14, merge 2, temporal 2. */
    static VisionConfig tinyConfig(int depth) {
        return new VisionConfig(depth, 32, 4, 2, 3, 48, 14, 2, 2, VisionConfig.QUICK_GELU);
    }

    /**
     * The value of every weight: depends only on (seed, name). LayerNorm scales {@code 1 + N(0, 0.1)}, shifts and biases
     * {@code N(0, 0.1)}, matrices {@code N(0, 1.7 / sqrt(fan_in))}: outputs of order 1, and attention far from uniform.
     */
    static float[] weight(long seed, String name, Shape shape) {
        SplittableRandom random = new SplittableRandom(seed * 1_000_003L + name.hashCode());
        boolean scale = VisionTower.heldInFloat32(name) && name.endsWith(".weight");
        double std = shape.dimension() == 1 ? 0.1 : 1.7 / Math.sqrt(shape.size() / shape.get(0));
        float[] values = new float[(int) shape.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) ((scale ? 1.0 : 0.0) + std * random.nextGaussian());
        }
        return values;
    }

    static VisionTower tower(VisionConfig config, long seed, DataType dtype) {
        NDManager manager = NDManager.newBaseManager();
        return VisionTower.fromWeights(config, manager, dtype, (name, shape) -> manager.create(weight(seed, name, shape), shape));
    }

    /** Seeded {@code N(0, 1)} patch rows for grids of {@code total} patches. */
    static float[] pixels(VisionConfig config, int total, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] values = new float[total * config.patchInputDim()];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return values;
    }

    static NDArray rows(NDManager manager, VisionConfig config, float[] pixels, int from, int to) {
        int width = config.patchInputDim();
        float[] slice = java.util.Arrays.copyOfRange(pixels, from * width, to * width);
        return manager.create(slice, new Shape(to - from, width));
    }

    static int patches(List<int[]> grids) {
        return grids.stream().mapToInt(g -> g[0] * g[1] * g[2]).sum();
    }

    static float maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new AssertionError("lengths differ: " + a.length + " vs " + b.length);
        }
        float worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        return worst;
    }
}

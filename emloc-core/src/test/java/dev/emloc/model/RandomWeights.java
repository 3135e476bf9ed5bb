package dev.emloc.model;

import java.util.SplittableRandom;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

/** Seeded in-memory weights for model tests: values depend only on (seed, tensor name). */
public final class RandomWeights {

    private RandomWeights() {
    }

    public static QwenModel model(ModelConfig config, long seed) {
        return model(config, seed, null, 0, 0f);
    }

    /** Same weights, with {@code delta} added to element {@code index} of tensor {@code perturbed}. */
    static QwenModel model(ModelConfig config, long seed, String perturbed, int index, float delta) {
        NDManager manager = NDManager.newBaseManager();
        return QwenModel.fromWeights(config, manager, DataType.FLOAT32, "test-" + seed, (name, shape) -> {
            SplittableRandom random = new SplittableRandom(seed * 31 + name.hashCode());
            float[] values = new float[(int) shape.size()];
            boolean norm = name.endsWith("norm.weight");
            double std = name.contains("embed") ? 1.0 : norm ? 0.1 : 0.08;
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) ((norm ? 1.0 : 0.0) + std * gaussian(random));
            }
            if (name.equals(perturbed)) {
                values[index] += delta;
            }
            NDArray array = manager.create(values, shape);
            return array;
        });
    }

    public static ModelConfig tinyConfig() {
        return ModelConfig.builder().vocabSize(97).hiddenSize(64).intermediateSize(48).numLayers(3).numHeads(4).numKvHeads(2)
                .mropeSection(java.util.List.of(2, 3, 3)).ropeTheta(10000).build();
    }

    private static double gaussian(SplittableRandom random) {
        double u = random.nextDouble(1e-12, 1.0);
        double v = random.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }
}

package dev.emloc.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/** Supplies one named weight of an expected shape, on the model's device and dtype. */
@FunctionalInterface
public interface WeightSource {

    /**
     * @param name     canonical Hugging Face tensor name, e.g. {@code model.layers.0.self_attn.q_proj.weight}
     * @param expected the shape the architecture needs; a source must refuse any other
     */
    NDArray load(String name, Shape expected);
}

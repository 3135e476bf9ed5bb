package dev.emloc.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/** TEMPORARY placeholder until the checkpoint branch merges; replaced by the real class. */
public final class Checkpoint implements AutoCloseable {
    public ModelConfig config() { throw new UnsupportedOperationException(); }
    public String fingerprint() { throw new UnsupportedOperationException(); }
    public NDArray load(NDManager m, String name, DataType t, Shape s) { throw new UnsupportedOperationException(); }
    @Override public void close() { }
}

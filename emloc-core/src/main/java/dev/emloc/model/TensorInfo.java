package dev.emloc.model;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

import ai.djl.ndarray.types.Shape;

/**
 * Where one tensor of a checkpoint lives and what it holds, as declared by its safetensors header.
 *
 * @param name       the name stored in the file (after {@link Checkpoint#resolve alias resolution})
 * @param dtype      the stored element type
 * @param shape      dimensions, outermost first; empty for a scalar
 * @param file       the safetensors file that holds it
 * @param dataOffset absolute byte offset of the first element in {@code file}
 * @param byteLength bytes of data, {@code elementCount() * dtype.byteSize()}
 */
public record TensorInfo(String name, TensorDtype dtype, List<Long> shape, Path file, long dataOffset, long byteLength) {

    public TensorInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        Objects.requireNonNull(file, "file");
        shape = List.copyOf(shape);
        long elements = 1;
        for (long dimension : shape) {
            if (dimension < 0) {
                throw new CheckpointException("Tensor '" + name + "' in " + file + " has a negative dimension in shape " + shape);
            }
            elements = Math.multiplyExact(elements, dimension);
        }
        if (dataOffset < 0) {
            throw new CheckpointException("Tensor '" + name + "' in " + file + " starts at negative offset " + dataOffset);
        }
        long expected = Math.multiplyExact(elements, dtype.byteSize());
        if (byteLength != expected) {
            throw new CheckpointException("Tensor '" + name + "' in " + file + " spans " + byteLength + " bytes but its shape "
                    + shape + " of " + dtype + " needs " + expected + "; the file is corrupt, re-save or re-download it");
        }
    }

    /** Number of elements, the product of {@link #shape()}. */
    public long elementCount() {
        return byteLength / dtype.byteSize();
    }

    /** The shape as a DJL {@link Shape}. */
    public Shape ndShape() {
        return new Shape(shape.stream().mapToLong(Long::longValue).toArray());
    }
}

package dev.emloc.memory;

import java.util.Objects;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

/**
 * The running model a store loads task memories for: its fingerprint (a memory built for another model is refused),
 * and where decoded keys and values live (a sub-manager of {@code manager}, on its device, as {@code dtype}).
 */
public record MemoryTarget(String modelFingerprint, NDManager manager, DataType dtype) {

    public MemoryTarget {
        Objects.requireNonNull(modelFingerprint, "modelFingerprint");
        Objects.requireNonNull(manager, "manager");
        Objects.requireNonNull(dtype, "dtype");
    }

    /** Throws {@link IncompatibleTaskMemoryException} naming both models when {@code header} was built for another. */
    public void requireCompatible(MemoryHeader header) {
        if (!modelFingerprint.equals(header.modelFingerprint())) {
            throw new IncompatibleTaskMemoryException(header.key().toString(), header.modelFingerprint(), modelFingerprint);
        }
    }
}

package dev.emloc.model;

import java.nio.file.Path;
import java.util.Optional;

/**
 * The element types a safetensors header may declare, by their header names. All are parsed so that a
 * header can be validated (byte counts) and fingerprinted; only {@link #storageType() the float formats}
 * can be loaded.
 */
public enum TensorDtype {
    F64(8), F32(4), F16(2), BF16(2),
    F8_E4M3(1), F8_E5M2(1),
    I64(8), I32(4), I16(2), I8(1),
    U64(8), U32(4), U16(2), U8(1),
    BOOL(1);

    private final int byteSize;

    TensorDtype(int byteSize) {
        this.byteSize = byteSize;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /** The loadable format this dtype is, or empty for integer, boolean, 64-bit and 8-bit float types. */
    public Optional<StorageType> storageType() {
        return switch (this) {
            case F32 -> Optional.of(StorageType.F32);
            case F16 -> Optional.of(StorageType.F16);
            case BF16 -> Optional.of(StorageType.BF16);
            default -> Optional.empty();
        };
    }

    /** Parses a header dtype name; an unknown one makes the file unreadable because its byte counts cannot be checked. */
    static TensorDtype parse(String headerName, String tensor, Path file) {
        for (TensorDtype dtype : values()) {
            if (dtype.name().equals(headerName)) {
                return dtype;
            }
        }
        throw new CheckpointException("Unknown dtype '" + headerName + "' of tensor '" + tensor + "' in " + file
                + "; convert the checkpoint to float32/float16/bfloat16");
    }
}

package dev.emloc.model;

/**
 * The floating-point formats this engine reads from and writes to safetensors files.
 *
 * <p>Reading: a tensor stored in one of these loads as {@code float32} or {@code float16}; any other
 * {@link TensorDtype} is rejected at load time. Writing: {@link SafetensorsWriter} and
 * {@link RandomCheckpoint} store every tensor in one of these.
 */
public enum StorageType {

    /** IEEE 754 binary32. */
    F32(TensorDtype.F32),

    /** IEEE 754 binary16 (5 exponent bits, 10 mantissa bits). */
    F16(TensorDtype.F16),

    /** bfloat16: the upper half of a binary32 (8 exponent bits, 7 mantissa bits). */
    BF16(TensorDtype.BF16);

    private final TensorDtype dtype;

    StorageType(TensorDtype dtype) {
        this.dtype = dtype;
    }

    /** The safetensors dtype written to the header. */
    public TensorDtype dtype() {
        return dtype;
    }

    /** Bytes per element. */
    public int byteSize() {
        return dtype.byteSize();
    }

    /** The name Hugging Face writes as {@code torch_dtype} in {@code config.json}. */
    public String torchName() {
        return switch (this) {
            case F32 -> "float32";
            case F16 -> "float16";
            case BF16 -> "bfloat16";
        };
    }
}

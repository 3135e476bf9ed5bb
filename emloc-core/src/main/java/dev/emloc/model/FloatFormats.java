package dev.emloc.model;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.IntBuffer;
import java.nio.ShortBuffer;

/**
 * Conversions between float32 and the 16-bit formats of checkpoints, done in Java because DJL 0.36 aborts
 * the JVM on any {@code BFLOAT16} (or {@code INT16}) NDArray and offers no bit-reinterpreting view.
 *
 * <p>float32 to bfloat16 and to float16 round to nearest, ties to even (as {@code torch.Tensor.to} does);
 * NaN stays a quiet NaN with its sign; values beyond the target's range become infinities.
 */
public final class FloatFormats {

    private FloatFormats() {
    }

    /** The bfloat16 bit pattern nearest to {@code value} (round to nearest, ties to even). */
    public static short toBfloat16Bits(float value) {
        int bits = Float.floatToRawIntBits(value);
        if ((bits & 0x7fffffff) > 0x7f800000) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        // Adding 0x7fff plus the lowest kept bit carries into the kept half exactly when the dropped half is
        // above one half, or equal to it with an odd kept half; a carry out of the mantissa gives infinity.
        int rounded = bits + 0x7fff + ((bits >>> 16) & 1);
        return (short) (rounded >>> 16);
    }

    /** The float32 value of a bfloat16 bit pattern (exact: bfloat16 is the upper half of a float32). */
    public static float bfloat16ToFloat(short bits) {
        return Float.intBitsToFloat(bits << 16);
    }

    /** The IEEE binary16 bit pattern nearest to {@code value} (round to nearest, ties to even). */
    public static short toFloat16Bits(float value) {
        int bits = Float.floatToRawIntBits(value);
        int sign = (bits >>> 16) & 0x8000;
        int magnitude = bits & 0x7fffffff;
        if (magnitude > 0x7f800000) {
            return (short) (sign | 0x7e00 | ((magnitude >>> 13) & 0x3ff));
        }
        if (magnitude >= 0x477ff000) {
            // 65520 is halfway between 65504 (largest half, odd mantissa) and 65536: ties go up to infinity.
            return (short) (sign | 0x7c00);
        }
        if (magnitude >= 0x38800000) {
            // Normal half (>= 2^-14): re-bias the exponent (127 - 15 = 112) and round away 13 mantissa bits.
            int rebiased = magnitude - (112 << 23);
            return (short) (sign | ((rebiased + 0xfff + ((magnitude >>> 13) & 1)) >>> 13));
        }
        // Subnormal half or zero: in 0.5 + x the float32 unit in the last place is 2^-24, the subnormal step of
        // binary16, so the FPU's own round-to-nearest-even leaves the half mantissa in the low bits.
        return (short) (sign | (Float.floatToRawIntBits(Float.intBitsToFloat(magnitude) + 0.5f) - 0x3f000000));
    }

    /**
     * Widens {@code count} little-endian bfloat16 values, starting at {@code source}'s position, into little-endian
     * float32 values starting at {@code target}'s position. Positions are not moved.
     *
     * <p>A plain loop over typed buffer views: C2 compiles it to straight-line loads, shifts and stores; it
     * converts several GB/s on one core, faster than the page cache delivers a cold mapped file.
     */
    public static void bfloat16ToFloat32(ByteBuffer source, ByteBuffer target, int count) {
        if (source.remaining() < 2L * count || target.remaining() < 4L * count) {
            throw new IllegalArgumentException("Cannot widen " + count + " bfloat16 values: source has " + source.remaining()
                    + " bytes left, target " + target.remaining() + "; need " + 2L * count + " and " + 4L * count);
        }
        ShortBuffer in = source.duplicate().order(ByteOrder.LITTLE_ENDIAN).asShortBuffer();
        IntBuffer out = target.duplicate().order(ByteOrder.LITTLE_ENDIAN).asIntBuffer();
        for (int i = 0; i < count; i++) {
            out.put(i, in.get(i) << 16);
        }
    }

    /**
     * Writes {@code length} floats from {@code values[from]} into {@code target} at its position, little-endian, in
     * the given format, and advances the position.
     */
    public static void encode(float[] values, int from, int length, StorageType type, ByteBuffer target) {
        if (target.remaining() < (long) length * type.byteSize()) {
            throw new IllegalArgumentException("Target buffer has " + target.remaining() + " bytes left; " + length + " "
                    + type + " values need " + (long) length * type.byteSize());
        }
        ByteBuffer out = target.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        switch (type) {
            case F32 -> {
                out.asFloatBuffer().put(values, from, length);
            }
            case BF16 -> {
                ShortBuffer shorts = out.asShortBuffer();
                for (int i = 0; i < length; i++) {
                    shorts.put(i, toBfloat16Bits(values[from + i]));
                }
            }
            case F16 -> {
                ShortBuffer shorts = out.asShortBuffer();
                for (int i = 0; i < length; i++) {
                    shorts.put(i, toFloat16Bits(values[from + i]));
                }
            }
        }
        target.position(target.position() + length * type.byteSize());
    }
}

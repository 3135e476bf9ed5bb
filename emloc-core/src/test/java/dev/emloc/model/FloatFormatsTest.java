package dev.emloc.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ShortBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import org.junit.jupiter.api.Test;

class FloatFormatsTest {

    @Test
    void bfloat16RoundsToNearestEven() {
        assertThat(FloatFormats.toBfloat16Bits(1.0f)).isEqualTo((short) 0x3f80);
        assertThat(FloatFormats.toBfloat16Bits(-2.0f)).isEqualTo((short) 0xc000);
        // 1 + 2^-8 lies halfway between 1 (even) and 1 + 2^-7: goes down.
        assertThat(FloatFormats.toBfloat16Bits(1f + 0x1p-8f)).isEqualTo((short) 0x3f80);
        // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6: goes up.
        assertThat(FloatFormats.toBfloat16Bits(1f + 3 * 0x1p-8f)).isEqualTo((short) 0x3f82);
        // Just above the halfway point goes up.
        assertThat(FloatFormats.toBfloat16Bits(Math.nextUp(1f + 0x1p-8f))).isEqualTo((short) 0x3f81);
        assertThat(FloatFormats.toBfloat16Bits(Float.MAX_VALUE)).isEqualTo((short) 0x7f80);
        assertThat(FloatFormats.toBfloat16Bits(-0.0f)).isEqualTo((short) 0x8000);
        assertThat(FloatFormats.toBfloat16Bits(Float.NEGATIVE_INFINITY)).isEqualTo((short) 0xff80);
        assertThat(Float.isNaN(FloatFormats.bfloat16ToFloat(FloatFormats.toBfloat16Bits(Float.NaN)))).isTrue();
        // A NaN whose payload lies only in the dropped half must not turn into infinity.
        assertThat(Float.isNaN(FloatFormats.bfloat16ToFloat(FloatFormats.toBfloat16Bits(Float.intBitsToFloat(0x7f800001))))).isTrue();
    }

    @Test
    void bfloat16MatchesAnIndependentReferenceOnRandomBitPatterns() {
        SplittableRandom random = new SplittableRandom(11);
        for (int i = 0; i < 200_000; i++) {
            float x = Float.intBitsToFloat(random.nextInt());
            if (Float.isNaN(x)) {
                continue;
            }
            float rounded = FloatFormats.bfloat16ToFloat(FloatFormats.toBfloat16Bits(x));
            assertThat(Float.floatToRawIntBits(rounded)).as("bfloat16 of %s", x)
                    .isEqualTo(Float.floatToRawIntBits(CheckpointFixtures.referenceBfloat16(x)));
        }
    }

    @Test
    void float16MatchesLibtorchRounding() {
        List<Float> values = new ArrayList<>(List.of(0f, -0f, 1f, -1.5f, 65504f, 65519.99f, 65520f, -65520f, 1e6f,
                0x1p-14f, Math.nextDown(0x1p-14f), 0x1p-24f, 0x1p-25f, Math.nextUp(0x1p-25f), 3 * 0x1p-25f, 0x1p-26f,
                1f + 0x1p-11f, 1f + 3 * 0x1p-11f, Float.MIN_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY));
        SplittableRandom random = new SplittableRandom(5);
        for (int i = 0; i < 100_000; i++) {
            // Magnitudes from 2^-30 to 2^20 cover zero, subnormal, normal and overflowing halves.
            values.add((float) ((random.nextBoolean() ? 1 : -1) * Math.scalb(1 + random.nextDouble(), random.nextInt(-30, 20))));
        }
        float[] input = new float[values.size()];
        for (int i = 0; i < input.length; i++) {
            input[i] = values.get(i);
        }
        try (NDManager manager = NDManager.newBaseManager(); NDArray halves = manager.create(input).toType(DataType.FLOAT16, false)) {
            ShortBuffer torch = halves.toByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asShortBuffer();
            for (int i = 0; i < input.length; i++) {
                assertThat(FloatFormats.toFloat16Bits(input[i])).as("float16 of %s", input[i]).isEqualTo(torch.get(i));
            }
        }
        assertThat(FloatFormats.toFloat16Bits(Float.NaN) & 0x7c00).isEqualTo(0x7c00);
        assertThat(FloatFormats.toFloat16Bits(Float.NaN) & 0x03ff).isNotZero();
    }

    @Test
    void widensBfloat16BuffersExactly() {
        SplittableRandom random = new SplittableRandom(3);
        int count = 10_001;
        ByteBuffer source = ByteBuffer.allocateDirect(2 * count + 2).order(ByteOrder.LITTLE_ENDIAN);
        source.putShort((short) 0x1234);                // skipped: widening starts at the position
        short[] bits = new short[count];
        for (int i = 0; i < count; i++) {
            bits[i] = (short) random.nextInt();
            source.putShort(bits[i]);
        }
        source.position(2);
        ByteBuffer target = ByteBuffer.allocateDirect(4 * count).order(ByteOrder.LITTLE_ENDIAN);

        FloatFormats.bfloat16ToFloat32(source, target, count);

        assertThat(source.position()).isEqualTo(2);
        for (int i = 0; i < count; i++) {
            assertThat(target.getInt(4 * i)).isEqualTo((bits[i] & 0xffff) << 16);
        }
        assertThat(target.getFloat(0)).isEqualTo(FloatFormats.bfloat16ToFloat(bits[0]));
    }

    @Test
    void encodesEachStorageTypeLittleEndian() {
        float[] values = {1f, -2.5f, 0.1f};
        ByteBuffer f32 = ByteBuffer.allocate(12);
        FloatFormats.encode(values, 0, 3, StorageType.F32, f32);
        assertThat(f32.position()).isEqualTo(12);
        assertThat(f32.order(ByteOrder.LITTLE_ENDIAN).getFloat(8)).isEqualTo(0.1f);

        ByteBuffer bf16 = ByteBuffer.allocate(4);
        FloatFormats.encode(values, 1, 2, StorageType.BF16, bf16);
        assertThat(bf16.order(ByteOrder.LITTLE_ENDIAN).getShort(0)).isEqualTo((short) 0xc020);   // -2.5
        assertThat(bf16.getShort(2)).isEqualTo((short) 0x3dcd);                                    // 0.1 rounds up

        ByteBuffer f16 = ByteBuffer.allocate(2);
        FloatFormats.encode(values, 0, 1, StorageType.F16, f16);
        assertThat(f16.order(ByteOrder.LITTLE_ENDIAN).getShort(0)).isEqualTo((short) 0x3c00);
    }
}

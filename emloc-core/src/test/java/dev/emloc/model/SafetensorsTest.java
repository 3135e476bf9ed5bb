package dev.emloc.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {

    @TempDir
    Path dir;

    @Test
    void writesAHeaderThatReadsBack() {
        Path file = dir.resolve("pair.safetensors");
        Map<String, SafetensorsWriter.FloatTensor> tensors = new LinkedHashMap<>();
        tensors.put("b.weight", SafetensorsWriter.FloatTensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3));
        tensors.put("a.bias", SafetensorsWriter.FloatTensor.of(new float[] {-1.5f}, 1));
        SafetensorsWriter.write(file, StorageType.BF16, tensors);

        try (Safetensors safetensors = Safetensors.open(file)) {
            assertThat(safetensors.metadata()).containsExactly(Map.entry("format", "pt"));
            assertThat(safetensors.tensorNames()).containsExactly("a.bias", "b.weight");
            TensorInfo weight = safetensors.find("b.weight").orElseThrow();
            assertThat(weight.dtype()).isEqualTo(TensorDtype.BF16);
            assertThat(weight.shape()).containsExactly(2L, 3L);
            assertThat(weight.ndShape()).isEqualTo(new Shape(2, 3));
            assertThat(weight.byteLength()).isEqualTo(12);
            assertThat(weight.dataOffset() % 8).as("data starts 8-byte aligned").isZero();
            TensorInfo bias = safetensors.find("a.bias").orElseThrow();
            assertThat(bias.dataOffset()).as("laid out in declaration order").isEqualTo(weight.dataOffset() + 12);

            ByteBuffer mapped = safetensors.map(weight, 2, 4);
            assertThat(mapped.position()).isZero();
            assertThat(FloatFormats.bfloat16ToFloat(mapped.getShort(0))).isEqualTo(2f);
            assertThat(FloatFormats.bfloat16ToFloat(mapped.getShort(2))).isEqualTo(3f);
            assertThat(FloatFormats.bfloat16ToFloat(safetensors.read(bias, 0, 2).getShort())).isEqualTo(-1.5f);
            assertThat(safetensors.find("c")).isEmpty();
        }
    }

    @Test
    void streamsChunksLargerThanItsBuffer() throws IOException {
        int count = (1 << 20) + 17;
        float[] values = new float[count];
        for (int i = 0; i < count; i++) {
            values[i] = i * 0.25f;
        }
        Path file = dir.resolve("long.safetensors");
        try (SafetensorsWriter writer = SafetensorsWriter.create(file, StorageType.F32, Map.of("v", new Shape(count)))) {
            writer.append("v", values, 0, 1000);
            writer.append("v", values, 1000, count - 1000);
        }
        try (Safetensors safetensors = Safetensors.open(file)) {
            TensorInfo v = safetensors.find("v").orElseThrow();
            ByteBuffer tail = safetensors.map(v, 4L * (count - 2), 8);
            assertThat(tail.getFloat(0)).isEqualTo((count - 2) * 0.25f);
            assertThat(tail.getFloat(4)).isEqualTo((count - 1) * 0.25f);
        }
        assertThat(Files.size(file)).isEqualTo(8 + safetensorsHeaderBytes(file) + 4L * count);
    }

    @Test
    void deletesTheFileWhenATensorIsIncomplete() {
        Path file = dir.resolve("partial.safetensors");
        Map<String, Shape> shapes = new LinkedHashMap<>();
        shapes.put("x", new Shape(4));
        shapes.put("y", new Shape(2));
        SafetensorsWriter writer = SafetensorsWriter.create(file, StorageType.F32, shapes);
        writer.write("x", new float[] {1, 2, 3, 4});
        writer.append("y", new float[] {1}, 0, 1);

        assertThatThrownBy(writer::close).isInstanceOf(IllegalStateException.class).hasMessageContaining("y (1 of 2 values)");
        assertThat(file).doesNotExist();
    }

    @Test
    void rejectsValuesThatDoNotFitTheDeclaredShape() {
        Path file = dir.resolve("bad.safetensors");
        try (SafetensorsWriter writer = SafetensorsWriter.create(file, StorageType.F32, Map.of("x", new Shape(2, 2)))) {
            assertThatThrownBy(() -> writer.write("x", new float[3])).hasMessageContaining("shape (2, 2) (4 values) but 3 were given");
            assertThatThrownBy(() -> writer.write("z", new float[4])).hasMessageContaining("'z' was not declared");
            writer.write("x", new float[4]);
        }
    }

    @Test
    void rejectsOffsetsBeyondTheFile() throws IOException {
        Path file = CheckpointFixtures.writeRawSafetensors(dir.resolve("beyond.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[8]);

        assertThatThrownBy(() -> Safetensors.open(file)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("Tensor 'w'").hasMessageContaining("claims data bytes [0, 16)")
                .hasMessageContaining("data section has 8 bytes").hasMessageContaining("truncated or corrupt");
    }

    @Test
    void rejectsATruncatedFile() throws IOException {
        Path file = dir.resolve("cut.safetensors");
        SafetensorsWriter.write(file, StorageType.F32, Map.of("w", SafetensorsWriter.FloatTensor.of(new float[64], 8, 8)));
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            channel.truncate(Files.size(file) - 5);
        }
        assertThatThrownBy(() -> Safetensors.open(file)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("claims data bytes [0, 256)").hasMessageContaining("251 bytes");

        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            channel.truncate(20);
        }
        assertThatThrownBy(() -> Safetensors.open(file)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("claims a header of").hasMessageContaining("the file has 20");
    }

    @Test
    void rejectsCorruptHeaders() throws IOException {
        Path tiny = dir.resolve("tiny.safetensors");
        Files.write(tiny, new byte[] {1, 2, 3});
        assertThatThrownBy(() -> Safetensors.open(tiny)).hasMessageContaining("has 3 bytes, fewer than its 8-byte header length");

        Path huge = dir.resolve("huge.safetensors");
        Files.write(huge, new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0, 0, 0, 0, '{', '}'});
        assertThatThrownBy(() -> Safetensors.open(huge)).hasMessageContaining("claims a header of 4294967295 bytes");

        Path garbage = CheckpointFixtures.writeRawSafetensors(dir.resolve("garbage.safetensors"), "{\"w\": {\"dtype\": ", new byte[0]);
        assertThatThrownBy(() -> Safetensors.open(garbage)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("corrupt JSON header");

        Path miscounted = CheckpointFixtures.writeRawSafetensors(dir.resolve("miscounted.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", new byte[16]);
        assertThatThrownBy(() -> Safetensors.open(miscounted)).hasMessageContaining("spans 16 bytes but its shape [3] of F32 needs 12");

        Path overlapping = CheckpointFixtures.writeRawSafetensors(dir.resolve("overlap.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12]);
        assertThatThrownBy(() -> Safetensors.open(overlapping)).hasMessageContaining("Tensors 'a' and 'b' overlap");

        Path unknown = CheckpointFixtures.writeRawSafetensors(dir.resolve("unknown.safetensors"),
                "{\"q\":{\"dtype\":\"Q4_K\",\"shape\":[2],\"data_offsets\":[0,1]}}", new byte[1]);
        assertThatThrownBy(() -> Safetensors.open(unknown))
                .hasMessageContaining("Unknown dtype 'Q4_K' of tensor 'q'").hasMessageContaining("convert the checkpoint to float32/float16/bfloat16");

        Path negative = CheckpointFixtures.writeRawSafetensors(dir.resolve("negative.safetensors"),
                "{\"n\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", new byte[8]);
        assertThatThrownBy(() -> Safetensors.open(negative)).hasMessageContaining("shape entry -2, not a non-negative integer");

        Path duplicate = CheckpointFixtures.writeRawSafetensors(dir.resolve("duplicate.safetensors"),
                "{\"d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        + "\"d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]);
        assertThatThrownBy(() -> Safetensors.open(duplicate)).hasMessageContaining("corrupt JSON header").hasMessageContaining("Duplicate Object property \"d\"");
    }

    @Test
    void readsIntegerTensorsHeadersWithoutLoadingThem() throws IOException {
        Path file = CheckpointFixtures.writeRawSafetensors(dir.resolve("ints.safetensors"),
                "{\"__metadata__\":{\"format\":\"pt\"},\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}",
                new byte[16]);
        try (Safetensors safetensors = Safetensors.open(file)) {
            TensorInfo ids = safetensors.find("ids").orElseThrow();
            assertThat(ids.dtype()).isEqualTo(TensorDtype.I64);
            assertThat(ids.dtype().storageType()).isEmpty();
            assertThat(ids.elementCount()).isEqualTo(2);
            assertThat(List.copyOf(safetensors.tensors())).containsExactly(ids);
        }
    }

    private static long safetensorsHeaderBytes(Path file) throws IOException {
        try (FileChannel channel = FileChannel.open(file)) {
            ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            channel.read(length, 0);
            return length.flip().getLong();
        }
    }
}

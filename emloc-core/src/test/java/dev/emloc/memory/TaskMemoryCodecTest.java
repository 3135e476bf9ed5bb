package dev.emloc.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.emloc.compress.CompressorFixtures;
import dev.emloc.compress.EmlocCompressor;
import dev.emloc.vision.VisionLanguageModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The binary format: round trips, sections, and every kind of bad bytes. */
class TaskMemoryCodecTest {

    static final TaskKey KEY = TaskKey.of("acme", "colours");

    static VisionLanguageModel model;
    static TaskMemory memory;
    static TaskMemory zeroShot;
    static NDManager manager;

    @BeforeAll
    static void build(@TempDir Path dir) {
        model = CompressorFixtures.tinyModel(dir, false, 7);
        EmlocCompressor compressor = new EmlocCompressor(model);
        memory = compressor.compress("colours", CompressorFixtures.textDemos(6, 3),
                CompressionSettings.builder().demosPerChunk(2).jsThreshold(Double.POSITIVE_INFINITY).build());
        zeroShot = compressor.compress("colours", List.of(), CompressionSettings.builder().strategy(Strategy.ZERO_SHOT).build());
        manager = NDManager.newBaseManager();
    }

    @AfterAll
    static void close() {
        memory.close();
        zeroShot.close();
        manager.close();
        model.close();
    }

    @Test
    void float32RoundTripIsBitExactWithAllMetadata() {
        byte[] bytes = new TaskMemoryCodec().encode(KEY, memory);
        try (TaskMemory decoded = new TaskMemoryCodec().decode(bytes, KEY, manager, DataType.FLOAT32)) {
            assertSameMemory(decoded, memory);
            for (int l = 0; l < memory.numLayers(); l++) {
                assertThat(decoded.keys(l).toFloatArray()).containsExactly(memory.keys(l).toFloatArray());
                assertThat(decoded.values(l).toFloatArray()).containsExactly(memory.values(l).toFloatArray());
            }
        }
        assertThat((long) bytes.length).isBetween(memory.sizeInBytes(), memory.sizeInBytes() + 64 * 1024);
    }

    @Test
    void float16HalvesThePayloadAndDecodesWithinHalfPrecision() {
        byte[] f32 = new TaskMemoryCodec().encode(KEY, memory);
        byte[] f16 = new TaskMemoryCodec(TaskMemoryCodec.Precision.FLOAT16).encode(KEY, memory);
        assertThat((double) f16.length).isLessThan(f32.length * 0.6);
        try (TaskMemory decoded = new TaskMemoryCodec().decode(f16, KEY, manager, DataType.FLOAT32)) {
            assertSameMemory(decoded, memory);
            for (int l = 0; l < memory.numLayers(); l++) {
                assertThat(decoded.keys(l).getDataType()).isEqualTo(DataType.FLOAT32);
                float[] expected = memory.keys(l).toFloatArray();
                float[] actual = decoded.keys(l).toFloatArray();
                for (int i = 0; i < expected.length; i++) {
                    assertThat(actual[i]).isCloseTo(expected[i], org.assertj.core.data.Offset.offset(Math.abs(expected[i]) / 1000 + 1e-4f));
                }
            }
        }
    }

    @Test
    void aZeroShotMemoryAndOneWithEmptyLayersRoundTrip() {
        byte[] bytes = new TaskMemoryCodec().encode(KEY, zeroShot);
        try (TaskMemory decoded = new TaskMemoryCodec().decode(bytes, KEY, manager, DataType.FLOAT32)) {
            assertSameMemory(decoded, zeroShot);
        }
        NDManager owner = NDManager.newBaseManager();
        List<ai.djl.ndarray.NDArray> keys = new ArrayList<>();
        List<ai.djl.ndarray.NDArray> values = new ArrayList<>();
        for (int l = 0; l < 3; l++) {
            keys.add(owner.zeros(new ai.djl.ndarray.types.Shape(1, 2, 0, 16)));
            values.add(owner.zeros(new ai.djl.ndarray.types.Shape(1, 2, 0, 16)));
        }
        try (TaskMemory empty = TaskMemory.builder("colours", owner).modelFingerprint("f").settings(CompressionSettings.defaults())
                .demonstrations("d", 0).layers(keys, values).report(CompressionReport.empty(3)).build();
                TaskMemory decoded = new TaskMemoryCodec().decode(new TaskMemoryCodec().encode(KEY, empty), KEY, manager,
                        DataType.FLOAT32)) {
            assertSameMemory(decoded, empty);
            assertThat(decoded.length(2)).isZero();
        }
    }

    @Test
    void sectionsKeptApartReassembleToTheSameMemory() throws IOException {
        TaskMemoryCodec codec = new TaskMemoryCodec();
        MemoryHeader header = codec.header(KEY, memory, java.time.Instant.parse("2026-11-24T10:15:30Z"));
        byte[] headerBytes = codec.encodeHeader(header);
        List<byte[]> layers = new ArrayList<>();
        for (int l = 0; l < memory.numLayers(); l++) {
            byte[] section = codec.encodeLayer(header, memory, l);
            assertThat((long) section.length).isEqualTo(TaskMemoryCodec.layerSectionBytes(header, l));
            layers.add(section);
        }
        MemoryHeader read = codec.readHeader(headerBytes);
        assertThat(read).isEqualTo(header);
        assertThat(read.payloadBytes()).isEqualTo(memory.sizeInBytes());
        try (TaskMemory decoded = codec.readLayers(read, l -> new ByteArrayInputStream(layers.get(l)), manager, DataType.FLOAT32)) {
            assertSameMemory(decoded, memory);
            assertThat(decoded.values(1).toFloatArray()).containsExactly(memory.values(1).toFloatArray());
        }
    }

    @Test
    void aLayerSectionOfAnotherEncodingIsRefused() {
        TaskMemoryCodec codec = new TaskMemoryCodec();
        MemoryHeader first = codec.header(KEY, memory, java.time.Instant.now());
        MemoryHeader second = codec.header(KEY, memory, java.time.Instant.now());
        byte[] foreign = codec.encodeLayer(second, memory, 0);
        assertThatThrownBy(() -> codec.readLayers(first, l -> new ByteArrayInputStream(foreign), manager, DataType.FLOAT32))
                .isInstanceOf(TaskMemoryFormatException.class).hasMessageContaining("belongs to another encoding");
        assertNoArraysLeft();
    }

    @Test
    void wrongMagicUnknownVersionAndDamagedBytesAreRefusedClearly() {
        byte[] good = new TaskMemoryCodec().encode(KEY, memory);
        byte[] magic = good.clone();
        magic[0] = 'X';
        assertRefused(magic, "not the magic 'EMLOCMEM'");
        byte[] version = good.clone();
        version[8] = 2;
        assertRefused(version, "format version 2; this library reads version 1: upgrade EMLoC");
        byte[] payload = good.clone();
        payload[payload.length - 100] ^= 0x10;
        assertRefused(payload, "fails its checksum");
        byte[] headerByte = good.clone();
        headerByte[30] ^= 0x01;
        assertRefused(headerByte, "header section fails its checksum");
        byte[] trailing = java.util.Arrays.copyOf(good, good.length + 3);
        assertRefused(trailing, "3 unexpected bytes follow the end section");
        assertNoArraysLeft();
    }

    @Test
    void truncationAnywhereIsRefused() {
        byte[] good = new TaskMemoryCodec().encode(KEY, memory);
        for (int cut : new int[] {0, 5, 12, 40, good.length / 3, good.length / 2, good.length - 17, good.length - 1}) {
            assertRefused(java.util.Arrays.copyOf(good, cut), "truncated");
        }
        assertNoArraysLeft();
    }

    @Test
    void absurdSizesInAHeaderWithAValidChecksumAreRefusedBeforeAllocating() {
        TaskMemoryCodec codec = new TaskMemoryCodec();
        byte[] good = codec.encode(KEY, memory);
        assertRefused(withHeaderJson(good, json -> json.replaceFirst("\"numLayers\":3", "\"numLayers\":2000000")),
                "layer count 2000000 is outside 1..1024");
        assertRefused(withHeaderJson(good, json -> json.replaceFirst("\"layerLengths\":\\[\\d+", "\"layerLengths\":[2000000000")),
                "outside 0..16777216");
        assertRefused(withHeaderJson(good, json -> json.replaceFirst("\"kvHeads\":2", "\"kvHeads\":-1")),
                "key/value head count -1");
        assertRefused(withHeaderJson(good, json -> json.replaceFirst("\"taskId\":\"colours\"", "\"taskId\":\"../other:x\"")),
                "task key is invalid");
        assertRefused(withHeaderJson(good, json -> json.replaceFirst("\"numLayers\":3", "\"numLayers\":\"three\"")),
                "header JSON is not a valid task memory header");
        // a payload limit lower than the memory
        TaskMemoryCodec strict = new TaskMemoryCodec(TaskMemoryCodec.Precision.FLOAT32,
                TaskMemoryCodec.Limits.defaults().withMaxPayloadBytes(1000));
        assertThatThrownBy(() -> strict.decode(good, KEY, manager, DataType.FLOAT32))
                .isInstanceOf(TaskMemoryFormatException.class).hasMessageContaining("the limit is 1000");
        // a huge declared header length
        byte[] hugeHeader = good.clone();
        ByteBuffer.wrap(hugeHeader).order(ByteOrder.LITTLE_ENDIAN).putInt(20, Integer.MAX_VALUE);
        assertRefused(hugeHeader, "bytes of JSON; the limit is");
        assertNoArraysLeft();
    }

    @Test
    void reservedFieldsTrailingSectionBytesAndAReportThatDisagreesAreRefused() {
        TaskMemoryCodec codec = new TaskMemoryCodec();
        byte[] good = codec.encode(KEY, memory);
        byte[] flags = good.clone();
        flags[10] = 1;
        assertRefused(flags, "the start section's flags is 1, must be 0");
        assertRefused(withHeaderJson(good, json -> json.replaceFirst("\"kept\":\\d+", "\"kept\":99999")),
                "the report says layer 0 keeps 99999 tokens");
        MemoryHeader header = codec.header(KEY, memory, java.time.Instant.now());
        byte[] section = java.util.Arrays.copyOf(codec.encodeLayer(header, memory, 0), (int) TaskMemoryCodec.layerSectionBytes(header, 0) + 1);
        assertThatThrownBy(() -> codec.readLayers(header, l -> new ByteArrayInputStream(l == 0 ? section
                : codec.encodeLayer(header, memory, l)), manager, DataType.FLOAT32))
                .isInstanceOf(TaskMemoryFormatException.class).hasMessageContaining("Unexpected bytes follow the section of layer 0");
        assertNoArraysLeft();
    }

    @Test
    void aMemoryReadForAnotherKeyIsRefused() {
        byte[] bytes = new TaskMemoryCodec().encode(KEY, memory);
        assertThatThrownBy(() -> new TaskMemoryCodec().decode(bytes, TaskKey.of("other", "colours"), manager, DataType.FLOAT32))
                .isInstanceOf(TaskMemoryFormatException.class).hasMessageContaining("holds task acme/colours, not other/colours");
    }

    @Test
    void aStreamThatFailsMidLayerReleasesEverything() {
        byte[] good = new TaskMemoryCodec().encode(KEY, memory);
        InputStream failing = new InputStream() {
            int position;

            @Override
            public int read() throws IOException {
                if (position >= good.length / 2) {
                    throw new IOException("connection reset");
                }
                return good[position++] & 0xff;
            }
        };
        assertThatThrownBy(() -> new TaskMemoryCodec().read(failing, KEY, manager, DataType.FLOAT32))
                .isInstanceOf(IOException.class).hasMessage("connection reset");
        assertNoArraysLeft();
    }

    // ---------------------------------------------------------------- helpers

    static void assertSameMemory(TaskMemory decoded, TaskMemory original) {
        assertThat(decoded.taskId()).isEqualTo(original.taskId());
        assertThat(decoded.modelFingerprint()).isEqualTo(original.modelFingerprint());
        assertThat(decoded.settings()).isEqualTo(original.settings());
        assertThat(decoded.demonstrationsDigest()).isEqualTo(original.demonstrationsDigest());
        assertThat(decoded.demonstrationCount()).isEqualTo(original.demonstrationCount());
        assertThat(decoded.positionOffset()).isEqualTo(original.positionOffset());
        assertThat(decoded.report()).isEqualTo(original.report());
        assertThat(decoded.numLayers()).isEqualTo(original.numLayers());
        for (int l = 0; l < original.numLayers(); l++) {
            assertThat(decoded.keys(l).getShape()).isEqualTo(original.keys(l).getShape());
            assertThat(decoded.values(l).getShape()).isEqualTo(original.values(l).getShape());
        }
    }

    private void assertRefused(byte[] bytes, String message) {
        assertThatThrownBy(() -> new TaskMemoryCodec().decode(bytes, KEY, manager, DataType.FLOAT32))
                .isInstanceOf(TaskMemoryFormatException.class).hasMessageContaining(message);
    }

    static void assertNoArraysLeft() {
        assertThat(((BaseNDManager) manager).getManagedArrays()).isEmpty();
    }

    /** The encoding with its header JSON rewritten and the header checksum recomputed to match. */
    static byte[] withHeaderJson(byte[] encoding, java.util.function.UnaryOperator<String> edit) {
        ByteBuffer b = ByteBuffer.wrap(encoding).order(ByteOrder.LITTLE_ENDIAN);
        int start = 12; // magic + version + flags
        int length = b.getInt(start + 8);
        String json = new String(encoding, start + 12, length, StandardCharsets.UTF_8);
        String edited = edit.apply(json);
        if (edited.equals(json)) {
            throw new IllegalArgumentException("The edit changed nothing in " + json);
        }
        byte[] newJson = edited.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteBuffer section = ByteBuffer.allocate(12 + newJson.length + 4).order(ByteOrder.LITTLE_ENDIAN);
        section.put(encoding, start, 8).putInt(newJson.length).put(newJson);
        CRC32C crc = new CRC32C();
        crc.update(section.array(), 0, section.position());
        section.putInt((int) crc.getValue());
        out.write(encoding, 0, start);
        out.writeBytes(section.array());
        int rest = start + 12 + length + 4;
        out.write(encoding, rest, encoding.length - rest);
        return out.toByteArray();
    }
}

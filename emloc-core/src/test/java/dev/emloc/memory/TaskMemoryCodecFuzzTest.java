package dev.emloc.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.CRC32C;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.emloc.compress.CompressorFixtures;
import dev.emloc.compress.EmlocCompressor;
import dev.emloc.vision.VisionLanguageModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * 10,000+ mutated or truncated encodings of real memories: each is either refused with
 * {@link TaskMemoryFormatException} or decodes to a valid memory; no other exception, no leak.
 *
 * <p>Besides blind mutations (which the checksums catch) a third of the cases rewrite a section and recompute its
 * checksum, so that the header's JSON validation and the layer prefix checks are reached too.
 */
class TaskMemoryCodecFuzzTest {

    static final int CASES = 12_000;

    @Test
    void mutatedAndTruncatedEncodingsAreRefusedOrDecodeToValidMemories(@TempDir Path dir) {
        TaskKey key = TaskKey.of("fuzz", "colours");
        try (VisionLanguageModel model = CompressorFixtures.tinyModel(dir, false, 11);
                TaskMemory memory = new EmlocCompressor(model).compress("colours", CompressorFixtures.textDemos(4, 5),
                        CompressionSettings.builder().demosPerChunk(2).jsThreshold(Double.POSITIVE_INFINITY).build());
                NDManager manager = NDManager.newBaseManager()) {
            byte[][] seeds = {
                    new TaskMemoryCodec().encode(key, memory),
                    new TaskMemoryCodec(TaskMemoryCodec.Precision.FLOAT16).encode(key, memory)};
            Random random = new Random(20261124);
            int refused = 0;
            int decoded = 0;
            int[] byKind = new int[8];
            for (int i = 0; i < CASES; i++) {
                byte[] seed = seeds[i % 2];
                int kind = random.nextInt(8);
                byte[] mutated = mutate(seed, kind, random);
                byKind[kind]++;
                // half through decode (bytes in memory, copied once), half through a plain stream (chunked reads)
                try (TaskMemory result = i % 4 < 2 ? new TaskMemoryCodec().decode(mutated, key, manager, DataType.FLOAT32)
                        : readStream(mutated, key, manager)) {
                    assertThat(result.numLayers()).isEqualTo(memory.numLayers());
                    for (int l = 0; l < result.numLayers(); l++) {
                        assertThat(result.keys(l).getShape()).isEqualTo(result.values(l).getShape());
                        assertThat(result.keys(l).getDataType()).isEqualTo(DataType.FLOAT32);
                    }
                    decoded++;
                } catch (TaskMemoryFormatException expected) {
                    assertThat(expected.getMessage()).isNotBlank();
                    refused++;
                } catch (Throwable other) {
                    fail("Case " + i + " (kind " + kind + ") threw " + other + " instead of TaskMemoryFormatException", other);
                }
            }
            assertThat(refused + decoded).isEqualTo(CASES);
            assertThat(refused).isGreaterThan(CASES / 2);
            assertThat(decoded).as("payload rewrites with a fixed checksum decode").isGreaterThan(100);
            assertThat(Arrays.stream(byKind).min().orElseThrow()).as("cases of each kind").isGreaterThan(1000);
            assertThat(((BaseNDManager) manager).getManagedArrays()).isEmpty();
        }
    }

    static TaskMemory readStream(byte[] bytes, TaskKey key, NDManager manager) throws java.io.IOException {
        return new TaskMemoryCodec().read(new java.io.ByteArrayInputStream(bytes), key, manager, DataType.FLOAT32);
    }

    static byte[] mutate(byte[] seed, int kind, Random random) {
        byte[] b = seed.clone();
        switch (kind) {
            case 0 -> { // flip a few bits
                for (int n = 1 + random.nextInt(4); n > 0; n--) {
                    int at = random.nextInt(b.length);
                    b[at] ^= (byte) (1 << random.nextInt(8));
                }
                return b;
            }
            case 1 -> { // overwrite a short range
                int at = random.nextInt(b.length);
                int n = Math.min(b.length - at, 1 + random.nextInt(16));
                for (int i = 0; i < n; i++) {
                    b[at + i] = (byte) random.nextInt(256);
                }
                return b;
            }
            case 2 -> { // truncate
                return Arrays.copyOf(b, random.nextInt(b.length));
            }
            case 3 -> { // insert or delete bytes
                int at = random.nextInt(b.length);
                int n = 1 + random.nextInt(8);
                if (random.nextBoolean()) {
                    byte[] out = new byte[b.length + n];
                    System.arraycopy(b, 0, out, 0, at);
                    for (int i = 0; i < n; i++) {
                        out[at + i] = (byte) random.nextInt(256);
                    }
                    System.arraycopy(b, at, out, at + n, b.length - at);
                    return out;
                }
                n = Math.min(n, b.length - at);
                byte[] out = new byte[b.length - n];
                System.arraycopy(b, 0, out, 0, at);
                System.arraycopy(b, at + n, out, at, b.length - at - n);
                return out;
            }
            case 4, 5 -> { // rewrite the header JSON and fix its checksum
                return TaskMemoryCodecTest.withHeaderJson(b, json -> mutateJson(json, random));
            }
            case 6 -> { // rewrite a layer section's prefix or payload and fix its checksum
                return mutateLayer(b, random);
            }
            default -> { // damage the start or end sections
                int at = random.nextBoolean() ? random.nextInt(12) : b.length - 1 - random.nextInt(16);
                b[at] ^= (byte) (1 + random.nextInt(255));
                return b;
            }
        }
    }

    /** A JSON edit: a digit changed, a token swapped or a character dropped (always a change). */
    static String mutateJson(String json, Random random) {
        String[][] swaps = {
                {"\"numLayers\":3", "\"numLayers\":" + random.nextInt(6)},
                {"\"kvHeads\":2", "\"kvHeads\":" + (random.nextInt(5) - 1)},
                {"\"headDim\":16", "\"headDim\":" + random.nextInt(40000)},
                {"\"positionOffset\":", "\"positionOffset\":-"},
                {"\"precision\":\"FLOAT", "\"precision\":\"INT"},
                {"\"format\":1", "\"format\":" + random.nextInt(4)},
                {"\"taskId\":\"colours\"", "\"taskId\":\"col:ours\""},
                {"\"layerLengths\":[", "\"layerLengths\":[" + random.nextInt(Integer.MAX_VALUE) + ","},
                {"\"report\":{", "\"report\":null,\"x\":{"},
                {"\"settings\":{", "\"settings\":{\"demosPerChunk\":0,"},
                {"\"createdAt\":\"", "\"createdAt\":\"x"},
        };
        if (random.nextBoolean()) {
            String[] swap = swaps[random.nextInt(swaps.length)];
            String edited = json.replaceFirst(java.util.regex.Pattern.quote(swap[0]), java.util.regex.Matcher.quoteReplacement(swap[1]));
            if (!edited.equals(json)) {
                return edited;
            }
        }
        StringBuilder s = new StringBuilder(json);
        int at = random.nextInt(s.length());
        if (random.nextBoolean()) {
            s.deleteCharAt(at);
        } else {
            char c = s.charAt(at);
            s.setCharAt(at, Character.isDigit(c) ? (char) ('0' + (c - '0' + 1 + random.nextInt(9)) % 10) : (char) (33 + random.nextInt(94)));
        }
        return s.toString().equals(json) ? json + " " : s.toString();
    }

    /** Rewrites one field of a layer prefix, or one payload byte, and recomputes that section's checksum. */
    static byte[] mutateLayer(byte[] b, Random random) {
        ByteBuffer buffer = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        int headerLength = buffer.getInt(20);
        byte[] headerSection = Arrays.copyOfRange(b, 12, 12 + 12 + headerLength + 4);
        MemoryHeader header = new TaskMemoryCodec().readHeader(headerSection);
        int layer = random.nextInt(header.numLayers());
        int start = 12 + headerSection.length;
        for (int l = 0; l < layer; l++) {
            start += (int) TaskMemoryCodec.layerSectionBytes(header, l);
        }
        int size = (int) TaskMemoryCodec.layerSectionBytes(header, layer);
        if (random.nextInt(3) == 0) {
            int at = start + TaskMemoryCodec.LAYER_PREFIX_BYTES + random.nextInt(size - TaskMemoryCodec.LAYER_PREFIX_BYTES - 4);
            b[at] ^= (byte) (1 + random.nextInt(255));
        } else {
            int field = random.nextInt(8); // tag, version, dtype, id, layer, G, n, D
            int[] offsets = {0, 4, 6, 8, 16, 20, 24, 28};
            int at = start + offsets[field];
            switch (field) {
                case 1, 2 -> buffer.putShort(at, (short) random.nextInt(4));
                case 3 -> buffer.putLong(at, random.nextLong());
                default -> buffer.putInt(at, random.nextBoolean() ? random.nextInt(8) - 1 : random.nextInt());
            }
        }
        CRC32C crc = new CRC32C();
        crc.update(b, start, size - 4);
        buffer.putInt(start + size - 4, (int) crc.getValue());
        return b;
    }

    @Test
    void theJsonOfTheSeedIsWhatTheMutationsExpect(@TempDir Path dir) {
        try (VisionLanguageModel model = CompressorFixtures.tinyModel(dir, false, 11);
                TaskMemory memory = new EmlocCompressor(model).compress("colours", CompressorFixtures.textDemos(2, 5),
                        CompressionSettings.defaults())) {
            byte[] bytes = new TaskMemoryCodec().encode(TaskKey.of("fuzz", "colours"), memory);
            int length = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getInt(20);
            String json = new String(bytes, 24, length, StandardCharsets.UTF_8);
            assertThat(json).contains("\"numLayers\":3", "\"kvHeads\":2", "\"headDim\":16", "\"format\":1",
                    "\"taskId\":\"colours\"", "\"layerLengths\":[", "\"report\":{", "\"settings\":{", "\"precision\":\"FLOAT32\"");
        }
    }
}

package dev.emloc.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Small checkpoints and hand-made safetensors files for the tests of this package. */
final class CheckpointFixtures {

    private CheckpointFixtures() {
    }

    /** Two layers, 4 query heads over 2 KV heads of width 8, vocabulary 300. */
    static ModelConfig tinyConfig() {
        return ModelConfig.builder().vocabSize(300).hiddenSize(32).intermediateSize(64).numLayers(2).numHeads(4).numKvHeads(2)
                .eosTokenId(7).build();
    }

    /** A minimal tokenizers-library {@code tokenizer.json} (word-level, three tokens). */
    static void writeTokenizer(Path target) throws IOException {
        Files.writeString(target, """
                {"version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
                 "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null, "decoder": null,
                 "model": {"type": "WordLevel", "vocab": {"<unk>": 0, "hello": 1, "world": 2}, "unk_token": "<unk>"}}
                """);
    }

    /** Writes a random tiny checkpoint into {@code dir}. */
    static Path randomTiny(Path dir, long seed, StorageType dtype, int shards) {
        return RandomCheckpoint.builder(tinyConfig()).seed(seed).dtype(dtype).shards(shards).initStd(0.5)
                .tokenizer(CheckpointFixtures::writeTokenizer).writeTo(dir);
    }

    /** A checkpoint directory with {@code config.json} and {@code tokenizer.json} but no weights yet. */
    static Path emptyCheckpoint(Path dir, ModelConfig config) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(Checkpoint.CONFIG_FILE), config.toJson());
        writeTokenizer(dir.resolve(Checkpoint.TOKENIZER_FILE));
        return dir;
    }

    /** A safetensors file with the given header JSON (padded to 8 bytes) followed by {@code data}. */
    static Path writeRawSafetensors(Path file, String headerJson, byte[] data) throws IOException {
        byte[] header = headerJson.getBytes(StandardCharsets.UTF_8);
        int padded = (header.length + 7) / 8 * 8;
        ByteBuffer bytes = ByteBuffer.allocate(8 + padded + data.length).order(ByteOrder.LITTLE_ENDIAN);
        bytes.putLong(padded).put(header);
        while (bytes.position() < 8 + padded) {
            bytes.put((byte) ' ');
        }
        bytes.put(data);
        Files.write(file, bytes.array());
        return file;
    }

    /**
     * The bfloat16 value nearest to {@code x}, ties to even, found by comparing the two bfloat16 neighbours in double
     * arithmetic; written independently of {@link FloatFormats} to check it.
     */
    static float referenceBfloat16(float x) {
        if (Float.isNaN(x) || Float.isInfinite(x)) {
            return x;
        }
        int bits = Float.floatToRawIntBits(x);
        int down = bits & 0xffff0000;                 // toward zero
        int up = down + 0x10000;                      // away from zero, possibly the infinity pattern
        double downValue = Float.intBitsToFloat(down);
        double upValue = (up & 0x7fffffff) == 0x7f800000 ? Math.copySign(0x1p128, x) : Float.intBitsToFloat(up);
        double downDistance = Math.abs(x - downValue);
        double upDistance = Math.abs(upValue - x);
        int chosen;
        if (downDistance < upDistance) {
            chosen = down;
        } else if (upDistance < downDistance) {
            chosen = up;
        } else {
            chosen = (down & 0x10000) == 0 ? down : up;
        }
        return Float.intBitsToFloat(chosen);
    }
}

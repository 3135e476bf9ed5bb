package dev.emloc.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import ai.djl.ndarray.NDManager;
import dev.emloc.memory.TaskMemory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

class RedisStoreBenchmarkTest {

    /** Starts its own redis-server (as the full run does without --redis) and checks every figure is there. */
    @Test
    void quickModeWritesEveryFigure(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("redis.json");
        RedisStoreBenchmark.run(Map.of("quick", "true", "out", out.toString()));

        JsonNode json = JsonMapper.builder().build().readTree(Files.readString(out));
        assertThat(json.get("benchmark").asString()).isEqualTo("redis-store");
        assertThat(json.get("machine").get("cores").asInt()).isPositive();
        assertThat(json.get("redis").get("version").asString()).isNotBlank().isNotEqualTo("unknown");
        assertThat(json.get("settings").get("runs").asInt()).isEqualTo(1);

        JsonNode throughput = json.get("throughput");
        long decoded = throughput.get("memory").get("decodedBytes").asLong();
        assertThat(decoded).isBetween(7_900_000L, 8_100_000L);
        assertThat(throughput.get("memory").get("tokensPerLayer").asInt()).isEqualTo(326);
        for (String precision : List.of("float32", "float16")) {
            JsonNode p = throughput.get(precision);
            assertThat(p.get("decodedBytes").asLong()).isEqualTo(decoded);
            for (String phase : List.of("save", "coldLoad")) {
                JsonNode figures = p.get(phase);
                assertThat(figures.get("runsSeconds")).as(precision + " " + phase).hasSize(1);
                assertThat(figures.get("medianSeconds").asDouble()).as(precision + " " + phase).isPositive();
                assertThat(figures.get("decodedMBps").asDouble()).as(precision + " " + phase).isPositive();
                assertThat(figures.get("storedMBps").asDouble()).as(precision + " " + phase).isPositive();
                assertThat(figures.get("gcMillis")).hasSize(1);
            }
            JsonNode profile = p.get("profile");
            assertThat(profile.get("payloadKeys").asInt()).isEqualTo(24);
            JsonNode path = profile.get("storeLoadPath");
            assertThat(path.get("medianSeconds").asDouble()).isPositive();
            assertThat(path.get("getMedianSeconds").asDouble()).isPositive();
            assertThat(path.get("getMedianSeconds").asDouble()).isLessThan(path.get("medianSeconds").asDouble());
            for (String piece : List.of("generationMedianSeconds", "manifestAndHeaderMedianSeconds",
                    "firstLayerGetMedianSeconds", "decodeMedianSeconds")) {
                assertThat(path.get(piece).asDouble()).as(precision + " " + piece).isPositive();
            }
            assertThat(path.get("getWaitMedianSeconds").asDouble()).isGreaterThanOrEqualTo(0)
                    .isLessThan(path.get("medianSeconds").asDouble());
            for (String step : List.of("lettuceGet", "plainSocketGet", "codecDecode", "streamedDecode", "crc32c",
                    "copyToDirect", "codecEncode", "lettuceSet")) {
                assertThat(profile.get(step).get("medianSeconds").asDouble()).as(precision + " " + step).isPositive();
                assertThat(profile.get(step).get("MBps").asDouble()).as(precision + " " + step).isPositive();
            }
        }
        assertThat(throughput.get("float32").get("roundTripMaxAbsError").asDouble()).isEqualTo(0.0);
        assertThat(throughput.get("float16").get("roundTripMaxAbsError").asDouble()).isGreaterThan(0).isLessThan(0.01);
        long stored32 = throughput.get("float32").get("storedBytes").asLong();
        long stored16 = throughput.get("float16").get("storedBytes").asLong();
        assertThat(stored32).isGreaterThan(decoded);
        assertThat(stored16).isGreaterThan(decoded / 2).isLessThan(decoded * 6 / 10);

        JsonNode cached = throughput.get("cachedLoad");
        assertThat(cached.get("hitMedianMillis").asDouble()).isPositive();
        assertThat(cached.get("hits").asInt()).isGreaterThanOrEqualTo(5);
        assertThat(cached.get("misses").asInt()).isEqualTo(1);

        JsonNode recompression = json.get("recompression");
        assertThat(recompression.get("model").get("layers").asInt()).isEqualTo(4);
        assertThat(recompression.get("demonstrations").asInt()).isEqualTo(4);
        assertThat(recompression.get("compressionSeconds").asDouble()).isPositive();
        assertThat(recompression.get("tokensSeen").asInt()).isPositive();
        assertThat(recompression.get("memoryBytes").asLong()).isPositive();
        assertThat(recompression.get("float32").get("coldLoad").get("medianSeconds").asDouble()).isPositive();
        assertThat(recompression.get("float32").get("roundTripMaxAbsError").asDouble()).isEqualTo(0.0);
        assertThat(recompression.get("loadOverCompression").asDouble()).isPositive();

        JsonNode summary = json.get("summary");
        for (String precision : List.of("float32", "float16")) {
            JsonNode load = summary.get("coldLoad").get(precision);
            assertThat(load.get("decodedMBps").asDouble()).isPositive();
            assertThat(load.get("met").isBoolean()).isTrue();
            assertThat(summary.get("save").get(precision).get("decodedMBps").asDouble()).isPositive();
        }
        JsonNode ratio = summary.get("loadOverRecompression");
        for (String which : List.of("sameMemory", "scaledToSyntheticMemory")) {
            assertThat(ratio.get(which).get("ratio").asDouble()).as(which).isPositive();
            assertThat(ratio.get(which).get("met").isBoolean()).as(which).isTrue();
        }
        JsonNode scaled = ratio.get("scaledToSyntheticMemory");
        assertThat(scaled.get("scaledCompressionSeconds").asDouble())
                .isGreaterThan(recompression.get("compressionSeconds").asDouble());
        assertThat(scaled.get("impliedTokensSeen").asLong()).isGreaterThan(recompression.get("tokensSeen").asLong());
    }

    @Test
    void twoHundredMegabytesAre8138TokensPerLayerOfTheHalfBillionKvShape() {
        assertThat(RedisStoreBenchmark.BYTES_PER_TOKEN).isEqualTo(24 * 2 * 2 * 64 * 4);
        assertThat(RedisStoreBenchmark.Plan.of(Map.of()).tokens()).isEqualTo(8138);
        assertThat(RedisStoreBenchmark.Plan.of(Map.of("quick", "true")).tokens()).isEqualTo(326);
        assertThatThrownBy(() -> RedisStoreBenchmark.Plan.of(Map.of("megabyte", "200")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--megabyte");
    }

    @Test
    void syntheticMemoryHasTheKvShapeAndAConsistentReport() {
        try (NDManager manager = NDManager.newBaseManager();
                TaskMemory memory = RedisStoreBenchmark.syntheticMemory(manager, 10, 7)) {
            assertThat(memory.numLayers()).isEqualTo(24);
            assertThat(memory.keys(0).getShape().getShape()).containsExactly(1, 2, 10, 64);
            assertThat(memory.sizeInBytes()).isEqualTo(10 * RedisStoreBenchmark.BYTES_PER_TOKEN);
            assertThat(memory.report().layers()).allSatisfy(layer -> assertThat(layer.kept()).isEqualTo(10));
        }
    }
}

package dev.emloc.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import dev.emloc.compress.Demonstration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

class CompressionBenchmarkTest {

    @Test
    void quickModeInThisJvmWritesEveryFigure(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("compression.json");
        CompressionBenchmark.run(Map.of("quick", "true", "fork", "false", "demos", "4,8", "queries", "2",
                "latency-queries", "1", "recompute-queries", "1", "out", out.toString()));

        JsonNode json = JsonMapper.builder().build().readTree(Files.readString(out));
        assertThat(json.get("benchmark").asString()).isEqualTo("compression");
        assertThat(json.get("model").get("vocab").asInt()).isEqualTo(151936);
        assertThat(json.get("runs")).hasSize(2);
        for (JsonNode run : json.get("runs")) {
            JsonNode compression = run.get("compression");
            assertThat(compression.get("seconds").asDouble()).isPositive();
            assertThat(compression.get("plainPrefillSeconds").asDouble()).isPositive();
            assertThat(compression.get("compressionOverPrefill").asDouble()).isPositive();
            assertThat(compression.get("keptFraction").asDouble()).isGreaterThan(0).isLessThanOrEqualTo(1);
            assertThat(compression.get("bytesVsFull").asDouble()).isGreaterThan(0).isLessThanOrEqualTo(1);
            assertThat(compression.get("tokensSeen").asInt()).isEqualTo(compression.get("plainPrefillTokens").asInt());
            assertThat(compression.get("positionOffsetEqualsFull").asBoolean()).isTrue();
            assertThat(compression.get("perLayer").get("kept")).hasSize(4);
            assertThat(compression.get("phaseMillis").has("search")).isTrue();

            JsonNode js = run.get("endToEndJs");
            assertThat(js.get("queries").asInt()).isEqualTo(2);
            assertThat(js.get("meanNats").asDouble()).isGreaterThanOrEqualTo(0).isLessThan(Math.log(2));
            assertThat(js.get("maxNats").asDouble()).isGreaterThanOrEqualTo(js.get("meanNats").asDouble());
            assertThat(js.get("checkFullVsRecomputeNats").asDouble()).isLessThan(1e-4);

            JsonNode latency = run.get("latency");
            for (String mode : List.of("emloc", "full", "zeroShot", "recompute")) {
                assertThat(latency.get(mode).get("medianSeconds").asDouble()).as(mode).isPositive();
            }
            assertThat(latency.get("recomputeOverEmloc").asDouble()).isPositive();
            assertThat(latency.get("emlocOverZeroShot").asDouble()).isPositive();
            assertThat(run.get("peakMemory").get("isolated").asBoolean()).isFalse();
        }
        JsonNode summary = json.get("summary");
        assertThat(summary.get("compressionOverPrefill").get("byDemonstrations").get("8").asDouble()).isPositive();
        assertThat(summary.get("latency").get("demonstrations").asInt()).isEqualTo(8);
        assertThat(summary.get("keptFraction").get("4").asDouble()).isGreaterThan(0).isLessThanOrEqualTo(1);
        assertThat(summary.get("endToEndJs").get("8").get("maxNats").asDouble()).isGreaterThanOrEqualTo(0);
        assertThat(summary.has("peakMemoryRatio")).isTrue();
    }

    @Test
    void jensenShannonIsZeroForEqualAndLn2ForDisjointDistributions() {
        double[] a = CompressionBenchmark.logSoftmax(new float[] {1, 2, 3});
        assertThat(CompressionBenchmark.jensenShannon(a, a)).isEqualTo(0.0);
        double[] p = {0, Double.NEGATIVE_INFINITY};
        double[] q = {Double.NEGATIVE_INFINITY, 0};
        assertThat(CompressionBenchmark.jensenShannon(p, q)).isCloseTo(Math.log(2), within(1e-12));
    }

    @Test
    void demonstrationsAreSeededPrefixesAndArgumentsMayComeAsOneString() {
        List<Demonstration> small = CompressionBenchmark.demonstrations(5, 7);
        assertThat(CompressionBenchmark.demonstrations(20, 7).subList(0, 5)).isEqualTo(small);
        assertThat(CompressionBenchmark.splitWords(new String[] {"--quick --demos=4,8  --out=x.json"}))
                .containsExactly("--quick=true", "--demos=4,8", "--out=x.json");
    }
}

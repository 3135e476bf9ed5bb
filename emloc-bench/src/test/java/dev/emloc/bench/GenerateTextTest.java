package dev.emloc.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;

import dev.emloc.generate.FinishReason;
import dev.emloc.generate.Generation;
import org.junit.jupiter.api.Test;

class GenerateTextTest {

    @Test
    void streamsAnAnswerFromAGeneratedCheckpointThroughTheWholePipeline() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Generation generation = GenerateText.run(Map.of("prompt", "Hello", "max-tokens", "12", "temperature", "0.8",
                "seed", "3"), new PrintStream(bytes, true, StandardCharsets.UTF_8));
        String printed = bytes.toString(StandardCharsets.UTF_8);
        assertThat(generation.completionTokens()).isBetween(1, 12);
        assertThat(generation.finishReason()).isIn(FinishReason.LENGTH, FinishReason.STOP);
        assertThat(printed).contains("tiny random checkpoint").contains(generation.text())
                .containsPattern("\\d+ tokens, finish reason (LENGTH|STOP)");
    }

    @Test
    void benchmarkOptionsAreKeyValuePairs() {
        assertThat(BenchOptions.parse(new String[] {"--out=x.json", "--runs=3", ""})).containsEntry("out", "x.json")
                .containsEntry("runs", "3");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> BenchOptions.parse(new String[] {"runs"}))
                .hasMessageContaining("--key=value");
    }
}

package dev.emloc.generate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.emloc.model.ForwardRequest;
import dev.emloc.model.KvCache;
import dev.emloc.model.Logits;
import dev.emloc.model.ModelConfig;
import dev.emloc.model.QwenModel;
import dev.emloc.model.RandomWeights;
import dev.emloc.text.QwenTokenizer;
import dev.emloc.text.TinyTokenizerJson;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GeneratorTest {

    private static QwenModel model;
    private static QwenTokenizer tokenizer;
    private static Generator generator;
    private static final long[] PROMPT = {72, 101, 108, 108, 111, 44, 32, 119};

    @BeforeAll
    static void load(@TempDir Path dir) {
        ModelConfig config = ModelConfig.builder().vocabSize(TinyTokenizerJson.VOCAB_SIZE).hiddenSize(64).intermediateSize(96)
                .numLayers(2).numHeads(4).numKvHeads(2).build();
        model = RandomWeights.model(config, 3);
        Path file = dir.resolve("tokenizer.json");
        TinyTokenizerJson.write(file);
        tokenizer = QwenTokenizer.load(file);
        generator = new Generator(model, tokenizer);
    }

    @AfterAll
    static void close() {
        tokenizer.close();
        model.close();
    }

    private static GenerationSettings.Builder sampling(long seed) {
        return GenerationSettings.builder().temperature(1.3).topK(40).topP(0.95).seed(seed).maxNewTokens(24);
    }

    @Test
    void aFixedSeedReproducesTheSameTokensAndAnotherSeedDoesNot() {
        Generation first = generator.generate(PROMPT, sampling(5).build());
        Generation again = generator.generate(PROMPT, sampling(5).build());
        Generation other = generator.generate(PROMPT, sampling(6).build());
        assertThat(first.tokens()).hasSize(24).containsExactly(again.tokens());
        assertThat(other.tokens()).isNotEqualTo(first.tokens());
        assertThat(first.finishReason()).isEqualTo(FinishReason.LENGTH);
    }

    @Test
    void greedyDecodingFollowsTheArgmaxOfAOnePassForward() {
        Generation greedy = generator.generate(PROMPT, GenerationSettings.builder().maxNewTokens(6).build());
        long[] sequence = new long[PROMPT.length + 5];
        System.arraycopy(PROMPT, 0, sequence, 0, PROMPT.length);
        System.arraycopy(greedy.tokens(), 0, sequence, PROMPT.length, 5);
        try (NDManager m = model.newRequestManager()) {
            float[] logits = model.forward(ForwardRequest.tokens(m.create(sequence, new Shape(1, sequence.length)))
                    .logits(Logits.all()).build()).logits().toFloatArray();
            int vocab = model.config().vocabSize();
            for (int i = 0; i < 6; i++) {
                float[] row = new float[vocab];
                System.arraycopy(logits, (PROMPT.length - 1 + i) * vocab, row, 0, vocab);
                assertThat((long) Sampler.argmax(row)).as("token %d", i).isEqualTo(greedy.tokens()[i]);
            }
        }
        assertThat(greedy.text()).isEqualTo(tokenizer.decode(greedy.tokens(), true));
    }

    @Test
    void aStopTokenEndsGenerationWithStopAndIsNotReturned() {
        long[] free = generator.generate(PROMPT, GenerationSettings.builder().maxNewTokens(10).build()).tokens();
        int at = firstIndexNotEarlier(free, 3);
        Generation stopped = generator.generate(PROMPT, GenerationSettings.builder().maxNewTokens(10)
                .stopTokenIds(Set.of(free[at])).build());
        assertThat(stopped.finishReason()).isEqualTo(FinishReason.STOP);
        assertThat(stopped.tokens()).containsExactly(java.util.Arrays.copyOf(free, at));
    }

    private static int firstIndexNotEarlier(long[] tokens, int wanted) {
        for (int i = wanted; i < tokens.length; i++) {
            boolean seenBefore = false;
            for (int j = 0; j < i; j++) {
                seenBefore |= tokens[j] == tokens[i];
            }
            if (!seenBefore) {
                return i;
            }
        }
        throw new AssertionError("no fresh token in " + java.util.Arrays.toString(tokens));
    }

    @Test
    void aStopStringCutsTheTextAndIsNeverStreamed() {
        GenerationSettings base = sampling(9).maxNewTokens(40).build();
        String free = generator.generate(PROMPT, base).text();
        assertThat(free.length()).isGreaterThan(12);
        String stop = free.substring(8, 11);
        int cut = free.indexOf(stop);
        List<String> pieces = new ArrayList<>();
        Generation stopped = generator.generate(GenerationRequest.builder(PROMPT, base.mutate().stopStrings(List.of(stop)).build())
                .listener((id, delta) -> pieces.add(delta)).build());
        assertThat(stopped.finishReason()).isEqualTo(FinishReason.STOP);
        assertThat(stopped.text()).isEqualTo(free.substring(0, cut));
        assertThat(String.join("", pieces)).isEqualTo(stopped.text());
        assertThat(stopped.tokens().length).isLessThan(40);
    }

    @Test
    void maxTokensEndsWithLengthAndStreamedTextEqualsTheResult() {
        StringBuilder streamed = new StringBuilder();
        Generation result = generator.generate(GenerationRequest.builder(PROMPT, sampling(2).maxNewTokens(7).build())
                .listener((id, delta) -> streamed.append(delta)).build());
        assertThat(result.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(result.completionTokens()).isEqualTo(7);
        assertThat(streamed.toString()).isEqualTo(result.text());
        assertThat(result.promptTokens()).isEqualTo(PROMPT.length);
    }

    @Test
    void cancellationStopsGeneration() {
        AtomicInteger seen = new AtomicInteger();
        Generation result = generator.generate(GenerationRequest.builder(PROMPT, sampling(1).maxNewTokens(50).build())
                .listener((id, delta) -> seen.incrementAndGet()).cancelled(() -> seen.get() >= 3).build());
        assertThat(result.finishReason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(result.completionTokens()).isEqualTo(3);
    }

    @Test
    void generationContinuesAfterACallerOwnedCache() {
        long[] context = {1, 2, 3, 4, 5};
        long[] joined = new long[context.length + PROMPT.length];
        System.arraycopy(context, 0, joined, 0, context.length);
        System.arraycopy(PROMPT, 0, joined, context.length, PROMPT.length);
        GenerationSettings settings = GenerationSettings.builder().maxNewTokens(8).build();
        Generation expected = generator.generate(joined, settings);
        try (NDManager m = model.newRequestManager(); KvCache cache = model.newCache(m)) {
            model.forward(ForwardRequest.tokens(m.create(context, new Shape(1, context.length))).cache(cache)
                    .logits(Logits.none()).build());
            Generation continued = generator.generate(GenerationRequest.builder(PROMPT, settings).cache(cache).build());
            assertThat(continued.tokens()).containsExactly(expected.tokens());
        }
    }

    @Test
    void aHundredGenerationsInARowDoNotGrowTheLiveNativeArrays() {
        GenerationSettings settings = sampling(4).maxNewTokens(5).build();
        generator.generate(PROMPT, settings); // warm-up
        int before = model.liveArrayCount();
        for (int i = 0; i < 100; i++) {
            generator.generate(PROMPT, settings.mutate().seed((long) i).build());
        }
        assertThat(model.liveArrayCount()).isEqualTo(before);
        try (NDManager m = model.newRequestManager()) {
            m.zeros(new Shape(2));
            assertThat(model.liveArrayCount()).as("the count sees request arrays").isEqualTo(before + 1);
        }
    }

    @Test
    void invalidSettingsAreRefused() {
        assertThatThrownBy(() -> GenerationSettings.builder().temperature(-1).build()).hasMessageContaining("temperature");
        assertThatThrownBy(() -> GenerationSettings.builder().topP(0).build()).hasMessageContaining("topP");
        assertThatThrownBy(() -> GenerationSettings.builder().maxNewTokens(0).build()).hasMessageContaining("maxNewTokens");
        assertThatThrownBy(() -> GenerationSettings.builder().stopStrings(List.of("")).build()).hasMessageContaining("empty");
    }
}

package dev.emloc.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import dev.emloc.generate.Generation;
import dev.emloc.generate.GenerationRequest;
import dev.emloc.generate.GenerationSettings;
import dev.emloc.generate.Generator;
import dev.emloc.model.Checkpoint;
import dev.emloc.model.ModelConfig;
import dev.emloc.model.ModelOptions;
import dev.emloc.model.QwenModel;
import dev.emloc.model.RandomCheckpoint;
import dev.emloc.text.ChatFormat;
import dev.emloc.text.ChatMessage;
import dev.emloc.text.QwenTokenizer;
import dev.emloc.text.RenderOptions;
import dev.emloc.text.TinyTokenizerJson;

/**
 * Streams a chat answer from a local Hugging Face Qwen2 / Qwen2-VL checkpoint (text only).
 *
 * <p>{@code GenerateText --model=DIR --prompt=TEXT [--max-tokens=128] [--temperature=0] [--top-p=1]
 * [--top-k=0] [--seed=N] [--device=cpu] [--dtype=float32]}. Without {@code --model} it writes a tiny
 * random checkpoint to a temporary folder and uses that: the pipeline runs, the words are noise.
 */
public final class GenerateText {

    private GenerateText() {
    }

    public static void main(String[] args) throws IOException {
        run(BenchOptions.parse(args), System.out);
    }

    static Generation run(Map<String, String> options, PrintStream out) throws IOException {
        Path modelDir = options.containsKey("model") ? Path.of(options.get("model")) : tinyRandomCheckpoint(out);
        String prompt = options.getOrDefault("prompt", "Describe what an EMLoC task memory is.");
        ModelOptions modelOptions = ModelOptions.parse(options.getOrDefault("device", "cpu"),
                options.getOrDefault("dtype", "float32"));
        try (Checkpoint checkpoint = Checkpoint.open(modelDir);
                QwenTokenizer tokenizer = QwenTokenizer.load(checkpoint.tokenizerPath());
                QwenModel model = QwenModel.load(checkpoint, modelOptions)) {
            ChatFormat chat = new ChatFormat(tokenizer);
            long[] ids = chat.encode(List.of(ChatMessage.user(prompt)), RenderOptions.prompt());
            Set<Long> stops = chat.stopTokenIds().stream().map(Integer::longValue).collect(Collectors.toSet());
            GenerationSettings settings = GenerationSettings.builder()
                    .maxNewTokens(Integer.parseInt(options.getOrDefault("max-tokens", "128")))
                    .temperature(Double.parseDouble(options.getOrDefault("temperature", "0")))
                    .topP(Double.parseDouble(options.getOrDefault("top-p", "1")))
                    .topK(Integer.parseInt(options.getOrDefault("top-k", "0")))
                    .seed(options.containsKey("seed") ? Long.parseLong(options.get("seed")) : 0L)
                    .stopTokenIds(stops)
                    .build();
            out.println("model: " + model + " from " + modelDir);
            out.println("prompt tokens: " + ids.length);
            long start = System.nanoTime();
            Generation generation = new Generator(model, tokenizer).generate(GenerationRequest.builder(ids, settings)
                    .listener((id, delta) -> {
                        out.print(delta);
                        out.flush();
                    }).build());
            double seconds = (System.nanoTime() - start) / 1e9;
            out.println();
            out.printf("%d tokens, finish reason %s, %.1f tokens/s%n", generation.completionTokens(),
                    generation.finishReason(), generation.completionTokens() / seconds);
            return generation;
        }
    }

    private static Path tinyRandomCheckpoint(PrintStream out) throws IOException {
        Path dir = Files.createTempDirectory("emloc-tiny-");
        Map<String, Integer> special = TinyTokenizerJson.specialTokenIds();
        ModelConfig config = ModelConfig.builder().vocabSize(TinyTokenizerJson.VOCAB_SIZE).hiddenSize(128).intermediateSize(256)
                .numLayers(4).numHeads(4).numKvHeads(2).eosTokenId(special.get(ChatFormat.IM_END))
                .imageTokenId(special.get("<|image_pad|>")).videoTokenId(special.get("<|video_pad|>"))
                .visionStartTokenId(special.get("<|vision_start|>")).visionEndTokenId(special.get("<|vision_end|>")).build();
        out.println("no --model given: using a tiny random checkpoint in " + dir + " (its output is noise)");
        return RandomCheckpoint.builder(config).seed(1).tokenizer(TinyTokenizerJson::write).writeTo(dir);
    }
}

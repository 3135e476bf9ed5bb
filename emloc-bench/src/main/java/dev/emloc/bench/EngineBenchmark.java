package dev.emloc.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import dev.emloc.model.ForwardRequest;
import dev.emloc.model.GradMode;
import dev.emloc.model.KvCache;
import dev.emloc.model.Logits;
import dev.emloc.model.ModelConfig;
import dev.emloc.model.QwenModel;
import dev.emloc.model.WeightNames;
import tools.jackson.databind.json.JsonMapper;

/**
 * Engine throughput on a Qwen2-0.5B-shaped model with random float32 weights, each figure set against a
 * bound measured in the same run on the same machine:
 * <ul>
 *   <li>prefill of 512 tokens: model FLOP/s as a fraction of a large float32 matmul's FLOP/s;</li>
 *   <li>decode: ms per token against the time of the bare matrix-vector products of all weights.</li>
 * </ul>
 * Usage: {@code EngineBenchmark [--out=FILE] [--prefill=512] [--decode=32] [--runs=5]}.
 */
public final class EngineBenchmark {

    private EngineBenchmark() {
    }

    public static void main(String[] args) throws IOException {
        Map<String, String> options = BenchOptions.parse(args);
        Path out = Path.of(options.getOrDefault("out", "target/bench/engine.json"));
        int prefillTokens = Integer.parseInt(options.getOrDefault("prefill", "512"));
        int decodeTokens = Integer.parseInt(options.getOrDefault("decode", "32"));
        int runs = Integer.parseInt(options.getOrDefault("runs", "5"));
        GradMode.disableOnThisThread();

        ModelConfig config = ModelConfig.qwen2HalfBillionShape();
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("benchmark", "engine");
        result.put("date", Instant.now().toString());
        result.put("machine", Map.of("cores", Runtime.getRuntime().availableProcessors(), "os", System.getProperty("os.name"),
                "arch", System.getProperty("os.arch"), "java", System.getProperty("java.version"),
                "engine", Engine.getInstance().getEngineName() + " " + Engine.getInstance().getVersion()));
        result.put("model", Map.of("shape", "Qwen2-0.5B", "layers", config.numLayers(), "hidden", config.hiddenSize(),
                "heads", config.numHeads(), "kvHeads", config.numKvHeads(), "intermediate", config.intermediateSize(),
                "vocab", config.vocabSize(), "dtype", "float32"));

        try (NDManager root = NDManager.newBaseManager()) {
            double peak = matmulFlops(root, 2048, runs);
            result.put("matmulFlopsPerSecond", peak);
            log("float32 matmul 2048^3: %.1f GFLOP/s", peak / 1e9);

            try (QwenModel model = randomModel(config)) {
                log("model ready: %,d parameters", model.parameterCount());
                double prefillSeconds = prefillSeconds(model, prefillTokens, runs);
                double prefillFlops = prefillFlops(config, prefillTokens);
                double prefillRate = prefillFlops / prefillSeconds;
                Map<String, Object> prefill = new LinkedHashMap<>();
                prefill.put("tokens", prefillTokens);
                prefill.put("medianSeconds", prefillSeconds);
                prefill.put("tokensPerSecond", prefillTokens / prefillSeconds);
                prefill.put("modelFlops", prefillFlops);
                prefill.put("flopsPerSecond", prefillRate);
                prefill.put("fractionOfMatmulPeak", prefillRate / peak);
                prefill.put("target", ">= 0.5");
                result.put("prefill", prefill);
                log("prefill %d tokens: %.0f tok/s, %.1f GFLOP/s = %.0f%% of matmul", prefillTokens, prefillTokens / prefillSeconds,
                        prefillRate / 1e9, 100 * prefillRate / peak);

                double decodeMs = decodeMillisPerToken(model, 64, decodeTokens, runs);
                double matvecMs = matvecMillis(model, runs);
                Map<String, Object> decode = new LinkedHashMap<>();
                decode.put("promptTokens", 64);
                decode.put("decodedTokens", decodeTokens);
                decode.put("medianMillisPerToken", decodeMs);
                decode.put("bareMatvecMillis", matvecMs);
                decode.put("ratioToMatvecBound", decodeMs / matvecMs);
                decode.put("target", "<= 1.5");
                result.put("decode", decode);
                log("decode: %.1f ms/token, bare mat-vec of all weights %.1f ms, ratio %.2f", decodeMs, matvecMs, decodeMs / matvecMs);
            }
        }
        Files.createDirectories(out.toAbsolutePath().getParent());
        Files.writeString(out, JsonMapper.builder().build().writerWithDefaultPrettyPrinter().writeValueAsString(result));
        log("wrote %s", out.toAbsolutePath());
    }

    static QwenModel randomModel(ModelConfig config) {
        NDManager manager = NDManager.newBaseManager();
        Engine.getInstance().setRandomSeed(42);
        return QwenModel.fromWeights(config, manager, DataType.FLOAT32, "random-qwen2-0.5b", (name, shape) ->
                name.endsWith("norm.weight") ? manager.ones(shape) : manager.randomNormal(0, 0.02f, shape, DataType.FLOAT32));
    }

    /** Best sustained FLOP/s of an n x n x n float32 matmul (median of runs). */
    static double matmulFlops(NDManager root, int n, int runs) {
        try (NDManager m = root.newSubManager()) {
            NDArray a = m.randomNormal(new Shape(n, n));
            NDArray b = m.randomNormal(new Shape(n, n));
            double[] seconds = new double[runs];
            for (int r = -1; r < runs; r++) {
                long t0 = System.nanoTime();
                try (NDArray c = a.matMul(b)) {
                    c.getFloat(0, 0); // wait for the result
                }
                if (r >= 0) {
                    seconds[r] = (System.nanoTime() - t0) / 1e9;
                }
            }
            return 2.0 * n * n * n / median(seconds);
        }
    }

    static double prefillSeconds(QwenModel model, int tokens, int runs) {
        double[] seconds = new double[runs];
        for (int r = -1; r < runs; r++) {
            try (NDManager m = model.newRequestManager(); KvCache cache = model.newCache(m)) {
                NDArray ids = m.randomInteger(0, model.config().vocabSize(), new Shape(1, tokens), DataType.INT64);
                long t0 = System.nanoTime();
                model.forward(ForwardRequest.tokens(ids).cache(cache).logits(Logits.last()).build()).logits().getFloat(0, 0, 0);
                if (r >= 0) {
                    seconds[r] = (System.nanoTime() - t0) / 1e9;
                }
            }
        }
        return median(seconds);
    }

    /** Useful FLOPs of a causal prefill with logits at the last position only. */
    static double prefillFlops(ModelConfig c, int t) {
        double hidden = c.hiddenSize();
        double q = (double) c.numHeads() * c.headDim();
        double perTokenLinear = 2 * (hidden * q + 2 * hidden * c.kvDim() + q * hidden + 3 * hidden * c.intermediateSize());
        double attention = 2.0 * 2.0 * c.numHeads() * c.headDim() * (t * (t + 1) / 2.0); // QK^T and PV, causal half
        return c.numLayers() * (t * perTokenLinear + attention) + 2 * hidden * c.vocabSize();
    }

    static double decodeMillisPerToken(QwenModel model, int prompt, int tokens, int runs) {
        double[] perToken = new double[runs];
        for (int r = -1; r < runs; r++) {
            try (NDManager m = model.newRequestManager(); KvCache cache = model.newCache(m)) {
                NDArray ids = m.randomInteger(0, model.config().vocabSize(), new Shape(1, prompt), DataType.INT64);
                model.forward(ForwardRequest.tokens(ids).cache(cache).logits(Logits.none()).build());
                long t0 = System.nanoTime();
                long next = 1;
                for (int i = 0; i < tokens; i++) {
                    try (NDManager step = m.newSubManager()) {
                        NDArray token = step.create(new long[] {next}, new Shape(1, 1));
                        float[] logits = model.forward(ForwardRequest.tokens(token).cache(cache).build()).logits().toFloatArray();
                        next = argmax(logits);
                    }
                }
                if (r >= 0) {
                    perToken[r] = (System.nanoTime() - t0) / 1e6 / tokens;
                }
            }
        }
        return median(perToken);
    }

    /** Time of {@code x W^T} for every weight matrix of the model, one token, nothing else. */
    static double matvecMillis(QwenModel model, int runs) {
        ModelConfig c = model.config();
        List<NDArray> matrices = new ArrayList<>();
        String[] suffixes = {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
            "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"};
        for (int l = 0; l < c.numLayers(); l++) {
            for (String suffix : suffixes) {
                matrices.add(model.parameters().get(WeightNames.layer(l, suffix)));
            }
        }
        matrices.add(model.parameters().get(c.tieWordEmbeddings() ? WeightNames.embedTokens() : WeightNames.lmHead()));
        double[] millis = new double[runs];
        try (NDManager m = model.newRequestManager()) {
            NDArray xHidden = m.randomNormal(new Shape(1, 1, c.hiddenSize()));
            NDArray xInter = m.randomNormal(new Shape(1, 1, c.intermediateSize()));
            NDArray xHeads = m.randomNormal(new Shape(1, 1, (long) c.numHeads() * c.headDim()));
            for (int r = -1; r < runs; r++) {
                try (NDManager products = m.newSubManager()) {
                    long t0 = System.nanoTime();
                    NDArray last = null;
                    for (NDArray w : matrices) {
                        long in = w.getShape().get(1);
                        NDArray x = in == c.hiddenSize() ? xHidden : in == c.intermediateSize() ? xInter : xHeads;
                        last = Linear.linear(x, w).singletonOrThrow();
                        last.attach(products);
                    }
                    last.getFloat(0, 0, 0); // one sync at the end, as a decode step has
                    if (r >= 0) {
                        millis[r] = (System.nanoTime() - t0) / 1e6;
                    }
                }
            }
        }
        return median(millis);
    }

    private static long argmax(float[] values) {
        int best = 0;
        for (int i = 1; i < values.length; i++) {
            if (values[i] > values[best]) {
                best = i;
            }
        }
        return best;
    }

    static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    private static void log(String format, Object... args) {
        System.out.println("[engine-bench] " + String.format(format, args));
    }
}

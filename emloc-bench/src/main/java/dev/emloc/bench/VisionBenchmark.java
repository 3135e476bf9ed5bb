package dev.emloc.bench;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import javax.imageio.ImageIO;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.emloc.model.GradMode;
import dev.emloc.vision.ImageDecoder;
import dev.emloc.vision.ImageProcessor;
import dev.emloc.vision.ProcessedVision;
import dev.emloc.vision.VisionConfig;
import dev.emloc.vision.VisionTower;
import tools.jackson.databind.json.JsonMapper;

/**
 * Images per second through preprocessing (PNG decode, Qwen2-VL resize, normalise, patchify) and the
 * vision tower, for one 448x448 image on a Qwen2-VL-2B-shaped random tower (embed 1280, depth 32, 16
 * heads) in float32, and the share of that time spent in Java-side preprocessing (target <= 10%).
 * Usage: {@code VisionBenchmark [--out=FILE] [--size=448] [--runs=3]}.
 */
public final class VisionBenchmark {

    private VisionBenchmark() {
    }

    public static void main(String[] args) throws IOException {
        Map<String, String> options = BenchOptions.parse(args);
        Path out = Path.of(options.getOrDefault("out", "target/bench/vision.json"));
        int size = Integer.parseInt(options.getOrDefault("size", "448"));
        int runs = Integer.parseInt(options.getOrDefault("runs", "3"));
        GradMode.disableOnThisThread();

        byte[] png = syntheticPng(size, size);
        ImageDecoder decoder = ImageDecoder.withDefaults();
        ImageProcessor processor = ImageProcessor.qwen2VlDefaults();
        VisionConfig config = VisionConfig.qwen2Vl2BShape();
        NDManager manager = NDManager.newBaseManager();
        Engine.getInstance().setRandomSeed(7);
        try (VisionTower tower = VisionTower.fromWeights(config, manager, DataType.FLOAT32, (name, shape) ->
                name.endsWith("norm1.weight") || name.endsWith("norm2.weight") || name.endsWith("ln_q.weight")
                        ? manager.ones(shape) : manager.randomNormal(0, 0.02f, shape, DataType.FLOAT32))) {
            log("tower ready: %,d parameters", tower.parameterCount());
            double[] preprocessMs = new double[runs];
            double[] towerMs = new double[runs];
            int tokens = 0;
            int patches = 0;
            for (int r = -1; r < runs; r++) {
                long t0 = System.nanoTime();
                ProcessedVision processed = processor.processImage(decoder.decode(png));
                long t1 = System.nanoTime();
                try (NDManager request = tower.newRequestManager()) {
                    NDArray pixels = request.create(processed.pixelValues(), new Shape(processed.patchCount(), processed.patchDim()));
                    NDArray embeddings = tower.encode(pixels, List.of(new int[] {processed.gridT(), processed.gridH(), processed.gridW()}));
                    embeddings.getFloat(0, 0);
                    tokens = (int) embeddings.getShape().get(0);
                }
                long t2 = System.nanoTime();
                patches = processed.patchCount();
                if (r >= 0) {
                    preprocessMs[r] = (t1 - t0) / 1e6;
                    towerMs[r] = (t2 - t1) / 1e6;
                }
                log("run %d: preprocessing %.1f ms, tower %.0f ms", r, (t1 - t0) / 1e6, (t2 - t1) / 1e6);
            }
            double pre = EngineBenchmark.median(preprocessMs);
            double enc = EngineBenchmark.median(towerMs);
            double towerFlops = towerFlops(tower, patches);
            double peak = EngineBenchmark.matmulFlops(manager, 2048, runs);
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("benchmark", "vision");
            result.put("date", Instant.now().toString());
            result.put("machine", Map.of("cores", Runtime.getRuntime().availableProcessors(),
                    "engine", Engine.getInstance().getEngineName() + " " + Engine.getInstance().getVersion()));
            result.put("tower", Map.of("shape", "Qwen2-VL-2B", "embedDim", config.embedDim(), "depth", config.depth(),
                    "heads", config.numHeads(), "parameters", tower.parameterCount(), "dtype", "float32"));
            result.put("image", Map.of("width", size, "height", size, "format", "PNG", "patches", patches, "mergedTokens", tokens));
            result.put("runs", runs);
            result.put("medianPreprocessMillis", pre);
            result.put("medianTowerMillis", enc);
            result.put("imagesPerSecond", 1000.0 / (pre + enc));
            result.put("preprocessingFraction", pre / (pre + enc));
            result.put("towerModelFlops", towerFlops);
            result.put("towerFlopsPerSecond", towerFlops / (enc / 1000));
            result.put("matmulFlopsPerSecond", peak);
            result.put("towerFractionOfMatmulPeak", towerFlops / (enc / 1000) / peak);
            result.put("target", "preprocessingFraction <= 0.10");
            log("%.3f images/s; preprocessing %.1f ms = %.2f%% of %.0f ms", 1000.0 / (pre + enc), pre, 100 * pre / (pre + enc),
                    pre + enc);
            log("tower %.1f GFLOP/s = %.0f%% of the same run's float32 matmul (%.1f GFLOP/s)", towerFlops / enc / 1e6,
                    100 * towerFlops / (enc / 1000) / peak, peak / 1e9);
            Files.createDirectories(out.toAbsolutePath().getParent());
            Files.writeString(out, JsonMapper.builder().build().writerWithDefaultPrettyPrinter().writeValueAsString(result));
            log("wrote %s", out.toAbsolutePath());
        }
    }

    /**
     * Useful FLOPs of one encode: every block and patch-embedding weight once per patch, the merger once per
     * merged token, and full (non-causal) attention within the image.
     */
    static double towerFlops(VisionTower tower, int patches) {
        double flops = 0;
        for (Map.Entry<String, NDArray> weight : tower.parameters().entrySet()) {
            if (weight.getValue().getShape().dimension() < 2) {
                continue;
            }
            double rows = weight.getKey().contains("merger") ? patches / 4.0 : patches;
            flops += 2 * rows * weight.getValue().getShape().size();
        }
        VisionConfig c = tower.config();
        return flops + c.depth() * 4.0 * patches * (double) patches * c.embedDim();
    }

    /** A colourful, not trivially compressible test picture. */
    static byte[] syntheticPng(int width, int height) throws IOException {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int r = (x * 255) / width;
                int g = (y * 255) / height;
                int b = ((x ^ y) * 7) & 0xff;
                image.setRGB(x, y, (r << 16) | (g << 8) | b);
            }
        }
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        ImageIO.write(image, "png", bytes);
        return bytes.toByteArray();
    }

    private static void log(String format, Object... args) {
        System.out.println("[vision-bench] " + String.format(format, args));
    }
}

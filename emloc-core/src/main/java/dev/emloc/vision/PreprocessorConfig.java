package dev.emloc.vision;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.emloc.model.CheckpointException;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * The image settings of a Qwen2-VL checkpoint, from its {@code preprocessor_config.json}.
 *
 * <p>Older files give the pixel budget as {@code min_pixels} / {@code max_pixels}, newer ones as
 * {@code size: {shortest_edge, longest_edge}}; both are read, and, as in {@code transformers},
 * {@code min_pixels} / {@code max_pixels} win when both are present. Keys that are missing take the defaults of
 * {@code Qwen2VLImageProcessor}. Note that the published Qwen2-VL-Instruct files set {@code max_pixels} to
 * 12845056 (16384 * 28 * 28), far above the class default of 1003520.
 *
 * @param minPixels         fewest pixels after resizing ({@code min_pixels}, default 56 * 56 = 3136)
 * @param maxPixels         most pixels after resizing ({@code max_pixels}, default 28 * 28 * 1280 = 1003520)
 * @param patchSize         side of a square patch ({@code patch_size}, 14)
 * @param temporalPatchSize frames per patch ({@code temporal_patch_size}, 2)
 * @param mergeSize         side of the square of patches merged into one token ({@code merge_size}, 2)
 * @param imageMean         per-channel mean subtracted after rescaling (CLIP's by default)
 * @param imageStd          per-channel standard deviation divided by (CLIP's by default)
 * @param rescaleFactor     multiplier of the 0..255 samples ({@code rescale_factor}, 1/255)
 * @param doResize          whether images are resampled to the {@link SmartResize} size
 * @param doRescale         whether samples are multiplied by {@code rescaleFactor}
 * @param doNormalize       whether {@code (x - mean) / std} is applied
 * @param doConvertRgb      whether images are converted to RGB; {@link ImageDecoder} always produces RGB, the flag
 *                          is kept so the file round-trips
 */
public record PreprocessorConfig(
        int minPixels,
        int maxPixels,
        int patchSize,
        int temporalPatchSize,
        int mergeSize,
        List<Double> imageMean,
        List<Double> imageStd,
        double rescaleFactor,
        boolean doResize,
        boolean doRescale,
        boolean doNormalize,
        boolean doConvertRgb) {

    /** Name of the file in a checkpoint directory. */
    public static final String FILE_NAME = "preprocessor_config.json";
    /** OpenAI CLIP's channel means, Qwen2-VL's default. */
    public static final List<Double> CLIP_MEAN = List.of(0.48145466, 0.4578275, 0.40821073);
    /** OpenAI CLIP's channel standard deviations, Qwen2-VL's default. */
    public static final List<Double> CLIP_STD = List.of(0.26862954, 0.26130258, 0.27577711);
    /** Pillow's {@code Image.BICUBIC}, the only {@code resample} value supported. */
    public static final int PIL_BICUBIC = 3;

    private static final ObjectMapper JSON = JsonMapper.builder().build();

    public PreprocessorConfig {
        positive("min_pixels", minPixels);
        positive("max_pixels", maxPixels);
        positive("patch_size", patchSize);
        positive("temporal_patch_size", temporalPatchSize);
        positive("merge_size", mergeSize);
        if (minPixels > maxPixels) {
            throw new CheckpointException("min_pixels (" + minPixels + ") must not exceed max_pixels (" + maxPixels
                    + ") in " + FILE_NAME);
        }
        imageMean = channels("image_mean", imageMean);
        imageStd = channels("image_std", imageStd);
        for (double std : imageStd) {
            if (!(std > 0) || Double.isInfinite(std)) {
                throw new CheckpointException("image_std must be positive and finite in " + FILE_NAME + ", got " + imageStd);
            }
        }
        for (double mean : imageMean) {
            if (!Double.isFinite(mean)) {
                throw new CheckpointException("image_mean must be finite in " + FILE_NAME + ", got " + imageMean);
            }
        }
        if (!(rescaleFactor > 0) || Double.isInfinite(rescaleFactor)) {
            throw new CheckpointException("rescale_factor must be positive and finite in " + FILE_NAME + ", got " + rescaleFactor);
        }
    }

    private static void positive(String key, int value) {
        if (value <= 0) {
            throw new CheckpointException(key + " must be positive in " + FILE_NAME + ", got " + value);
        }
    }

    private static List<Double> channels(String key, List<Double> values) {
        if (values == null || values.size() != 3) {
            throw new CheckpointException(key + " must have 3 values (R, G, B) in " + FILE_NAME + ", got " + values);
        }
        return List.copyOf(values);
    }

    /** The defaults of {@code Qwen2VLImageProcessor}: 3136..1003520 pixels, patches 14, CLIP mean and std. */
    public static PreprocessorConfig qwen2VlDefaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from this configuration. */
    public Builder mutate() {
        return new Builder().minPixels(minPixels).maxPixels(maxPixels).patchSize(patchSize)
                .temporalPatchSize(temporalPatchSize).mergeSize(mergeSize).imageMean(imageMean).imageStd(imageStd)
                .rescaleFactor(rescaleFactor).doResize(doResize).doRescale(doRescale).doNormalize(doNormalize)
                .doConvertRgb(doConvertRgb);
    }

    /** Side that resized images are a multiple of: {@code patchSize * mergeSize} (28). */
    public int factor() {
        return patchSize * mergeSize;
    }

    /** Values per flattened patch: {@code 3 * temporalPatchSize * patchSize^2} (1176). */
    public int patchDim() {
        return 3 * temporalPatchSize * patchSize * patchSize;
    }

    /**
     * Reads {@code preprocessor_config.json}.
     *
     * @param file the file itself (not its directory)
     * @throws CheckpointException if it is missing, unreadable, not JSON or holds invalid values
     */
    public static PreprocessorConfig read(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new CheckpointException("Missing " + FILE_NAME + ": " + file + " does not exist; copy it from the Hugging Face"
                    + " checkpoint (Qwen2-VL checkpoints ship one) or write PreprocessorConfig.qwen2VlDefaults().toJson() there");
        } catch (IOException e) {
            throw new CheckpointException("Cannot read " + file + ": " + e.getMessage(), e);
        }
        try {
            return fromJson(JSON.readTree(text));
        } catch (JacksonException e) {
            throw new CheckpointException(FILE_NAME + " at " + file + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    /** Parses the tree of a {@code preprocessor_config.json}. */
    public static PreprocessorConfig fromJson(JsonNode root) {
        if (!root.isObject()) {
            throw new CheckpointException(FILE_NAME + " must hold a JSON object, got " + root.getNodeType());
        }
        JsonNode resample = root.get("resample");
        if (resample != null && !resample.isNull() && resample.asInt(-1) != PIL_BICUBIC) {
            throw new CheckpointException("resample " + resample + " in " + FILE_NAME + " is not supported; only bicubic ("
                    + PIL_BICUBIC + ", Qwen2-VL's setting) is implemented");
        }
        Builder builder = builder();
        JsonNode size = root.get("size");
        if (size != null && size.isObject()) {
            if (size.has("shortest_edge")) {
                builder.minPixels(integer(size, "shortest_edge"));
            }
            if (size.has("longest_edge")) {
                builder.maxPixels(integer(size, "longest_edge"));
            }
        }
        if (present(root, "min_pixels")) {
            builder.minPixels(integer(root, "min_pixels"));
        }
        if (present(root, "max_pixels")) {
            builder.maxPixels(integer(root, "max_pixels"));
        }
        if (present(root, "patch_size")) {
            builder.patchSize(integer(root, "patch_size"));
        }
        if (present(root, "temporal_patch_size")) {
            builder.temporalPatchSize(integer(root, "temporal_patch_size"));
        }
        if (present(root, "merge_size")) {
            builder.mergeSize(integer(root, "merge_size"));
        }
        if (present(root, "image_mean")) {
            builder.imageMean(channelValues(root, "image_mean"));
        }
        if (present(root, "image_std")) {
            builder.imageStd(channelValues(root, "image_std"));
        }
        if (present(root, "rescale_factor")) {
            builder.rescaleFactor(number(root, "rescale_factor"));
        }
        builder.doResize(flag(root, "do_resize", true))
                .doRescale(flag(root, "do_rescale", true))
                .doNormalize(flag(root, "do_normalize", true))
                .doConvertRgb(flag(root, "do_convert_rgb", true));
        return builder.build();
    }

    /** Renders this configuration as a {@code preprocessor_config.json} that {@code transformers} also reads. */
    public String toJson() {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("image_processor_type", "Qwen2VLImageProcessor");
        map.put("processor_class", "Qwen2VLProcessor");
        map.put("do_resize", doResize);
        map.put("resample", PIL_BICUBIC);
        map.put("min_pixels", minPixels);
        map.put("max_pixels", maxPixels);
        map.put("size", Map.of("shortest_edge", minPixels, "longest_edge", maxPixels));
        map.put("patch_size", patchSize);
        map.put("temporal_patch_size", temporalPatchSize);
        map.put("merge_size", mergeSize);
        map.put("do_rescale", doRescale);
        map.put("rescale_factor", rescaleFactor);
        map.put("do_normalize", doNormalize);
        map.put("image_mean", imageMean);
        map.put("image_std", imageStd);
        map.put("do_convert_rgb", doConvertRgb);
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(JSON.valueToTree(map));
    }

    private static boolean present(JsonNode node, String key) {
        return node.has(key) && !node.get(key).isNull();
    }

    private static int integer(JsonNode node, String key) {
        JsonNode value = node.get(key);
        if (value == null || !value.isIntegralNumber() || !value.canConvertToInt()) {
            throw new CheckpointException(key + " in " + FILE_NAME + " must be an integer, got " + value);
        }
        return value.asInt();
    }

    private static double number(JsonNode node, String key) {
        JsonNode value = node.get(key);
        if (!value.isNumber()) {
            throw new CheckpointException(key + " in " + FILE_NAME + " must be a number, got " + value);
        }
        return value.asDouble();
    }

    /** A list of three numbers, or one number used for all channels (both are accepted by transformers). */
    private static List<Double> channelValues(JsonNode node, String key) {
        JsonNode value = node.get(key);
        if (value.isNumber()) {
            return List.of(value.asDouble(), value.asDouble(), value.asDouble());
        }
        if (!value.isArray()) {
            throw new CheckpointException(key + " in " + FILE_NAME + " must be a list of 3 numbers, got " + value);
        }
        Double[] values = new Double[value.size()];
        for (int i = 0; i < values.length; i++) {
            if (!value.get(i).isNumber()) {
                throw new CheckpointException(key + " in " + FILE_NAME + " must be a list of 3 numbers, got " + value);
            }
            values[i] = value.get(i).asDouble();
        }
        return List.of(values);
    }

    private static boolean flag(JsonNode node, String key, boolean fallback) {
        JsonNode value = node.get(key);
        if (value == null || value.isNull()) {
            return fallback;
        }
        if (!value.isBoolean()) {
            throw new CheckpointException(key + " in " + FILE_NAME + " must be true or false, got " + value);
        }
        return value.asBoolean();
    }

    /** Builder for {@link PreprocessorConfig}, starting from the Qwen2-VL defaults. */
    public static final class Builder {
        private int minPixels = 56 * 56;
        private int maxPixels = 28 * 28 * 1280;
        private int patchSize = 14;
        private int temporalPatchSize = 2;
        private int mergeSize = 2;
        private List<Double> imageMean = CLIP_MEAN;
        private List<Double> imageStd = CLIP_STD;
        private double rescaleFactor = 1.0 / 255;
        private boolean doResize = true;
        private boolean doRescale = true;
        private boolean doNormalize = true;
        private boolean doConvertRgb = true;

        private Builder() {
        }

        public Builder minPixels(int v) { minPixels = v; return this; }
        public Builder maxPixels(int v) { maxPixels = v; return this; }
        public Builder patchSize(int v) { patchSize = v; return this; }
        public Builder temporalPatchSize(int v) { temporalPatchSize = v; return this; }
        public Builder mergeSize(int v) { mergeSize = v; return this; }
        public Builder imageMean(List<Double> v) { imageMean = v; return this; }
        public Builder imageStd(List<Double> v) { imageStd = v; return this; }
        public Builder rescaleFactor(double v) { rescaleFactor = v; return this; }
        public Builder doResize(boolean v) { doResize = v; return this; }
        public Builder doRescale(boolean v) { doRescale = v; return this; }
        public Builder doNormalize(boolean v) { doNormalize = v; return this; }
        public Builder doConvertRgb(boolean v) { doConvertRgb = v; return this; }

        public PreprocessorConfig build() {
            return new PreprocessorConfig(minPixels, maxPixels, patchSize, temporalPatchSize, mergeSize, imageMean, imageStd,
                    rescaleFactor, doResize, doRescale, doNormalize, doConvertRgb);
        }
    }
}

package dev.emloc.vision;

import java.util.List;
import java.util.Objects;

/**
 * Turns RGB images and video frames into Qwen2-VL's flattened patches, with the same numbers as Hugging Face's
 * {@code Qwen2VLImageProcessor} (the PIL-based one):
 * <ol>
 *   <li>the size comes from {@link SmartResize} on the (first) frame's size; every frame is resampled to it with
 *       Pillow's bicubic filter ({@link BicubicResampler}), giving 8-bit samples;</li>
 *   <li>each sample {@code v} is rescaled as numpy does it, {@code float32(float64(v) * rescale_factor)}, then
 *       normalised in float32, {@code (x - float32(mean)) / float32(std)}. As the input is 8-bit this is a
 *       per-channel table of 256 values computed once;</li>
 *   <li>frames are padded to a multiple of {@code temporal_patch_size} by repeating the last one (an image is one
 *       frame, so it is doubled; three frames become four and {@code gridT = 2});</li>
 *   <li>the {@code (T, C, H, W)} frames are viewed as
 *       {@code (gridT, tps, C, gridH/m, m, ps, gridW/m, m, ps)}, transposed by {@code (0, 3, 6, 4, 7, 2, 1, 5, 8)}
 *       and flattened to {@code (gridT * gridH * gridW, C * tps * ps * ps)}, written directly in that order.</li>
 * </ol>
 * Immutable and thread-safe.
 */
public final class ImageProcessor {

    private static final int CHANNELS = 3;

    private final PreprocessorConfig config;
    private final VisionLimits limits;
    private final float[][] normalised; // (channel, 256): the float32 value HF produces for each 8-bit sample

    public ImageProcessor(PreprocessorConfig config, VisionLimits limits) {
        this.config = Objects.requireNonNull(config, "config");
        this.limits = Objects.requireNonNull(limits, "limits");
        this.normalised = normalisationTables(config);
    }

    /** A processor with Qwen2-VL's default configuration and {@link VisionLimits#defaults()}. */
    public static ImageProcessor qwen2VlDefaults() {
        return new ImageProcessor(PreprocessorConfig.qwen2VlDefaults(), VisionLimits.defaults());
    }

    public PreprocessorConfig config() {
        return config;
    }

    public VisionLimits limits() {
        return limits;
    }

    /**
     * The size an image of {@code height x width} is processed at: the {@link SmartResize} size, or the image's own
     * size when resizing is off (then it must already be a multiple of {@code patch_size * merge_size}).
     */
    public ImageSize targetSize(int height, int width) {
        int factor = config.factor();
        if (config.doResize()) {
            return SmartResize.resize(height, width, factor, config.minPixels(), config.maxPixels());
        }
        if (height % factor != 0 || width % factor != 0) {
            throw new ImageInputException("Image of " + width + "x" + height + " pixels cannot be cut into patches: with do_resize"
                    + " false both sides must be multiples of " + factor + " (patch_size * merge_size); resize it first or"
                    + " set do_resize true");
        }
        return new ImageSize(height, width);
    }

    /** One image as {@code gridT = 1} (the frame is repeated to fill the temporal patch). */
    public ProcessedVision processImage(RgbImage image) {
        Objects.requireNonNull(image, "image");
        return process(new RgbImage[] {image});
    }

    /**
     * A video's frames, all resampled to the size {@link SmartResize} gives for the first frame; an incomplete
     * last temporal patch repeats the last frame.
     *
     * @throws ImageInputException if there are no frames or more than {@link VisionLimits#maxVideoFrames()}
     */
    public ProcessedVision processVideo(List<RgbImage> frames) {
        limits.checkVideoFrames(frames.size());
        return process(frames.toArray(RgbImage[]::new));
    }

    private ProcessedVision process(RgbImage[] frames) {
        ImageSize size = targetSize(frames[0].height(), frames[0].width());
        RgbImage[] resized = new RgbImage[frames.length];
        for (int f = 0; f < frames.length; f++) {
            RgbImage frame = Objects.requireNonNull(frames[f], "frame");
            if (config.doResize()) {
                resized[f] = BicubicResampler.resize(frame, size.width(), size.height());
            } else if (frame.width() != size.width() || frame.height() != size.height()) {
                throw new ImageInputException("Video frame " + f + " is " + frame.width() + "x" + frame.height()
                        + " but the first frame is " + size + "; with do_resize false all frames must have the same size");
            } else {
                resized[f] = frame;
            }
        }
        int tps = config.temporalPatchSize();
        int gridT = (frames.length + tps - 1) / tps;
        int gridH = size.height() / config.patchSize();
        int gridW = size.width() / config.patchSize();
        float[] pixelValues = new float[Math.multiplyExact(gridT * gridH * gridW, config.patchDim())];
        patchify(resized, size.width(), gridT, gridH, gridW, pixelValues);
        return new ProcessedVision(pixelValues, gridT, gridH, gridW, config.mergeSize());
    }

    /** Writes the transposed patches in output order, reading samples through the normalisation tables. */
    private void patchify(RgbImage[] frames, int width, int gridT, int gridH, int gridW, float[] out) {
        int ps = config.patchSize();
        int tps = config.temporalPatchSize();
        int m = config.mergeSize();
        int last = frames.length - 1;
        int o = 0;
        for (int t = 0; t < gridT; t++) {
            for (int blockRow = 0; blockRow < gridH / m; blockRow++) {
                for (int blockCol = 0; blockCol < gridW / m; blockCol++) {
                    for (int innerRow = 0; innerRow < m; innerRow++) {
                        for (int innerCol = 0; innerCol < m; innerCol++) {
                            int y0 = (blockRow * m + innerRow) * ps;
                            int x0 = (blockCol * m + innerCol) * ps;
                            for (int c = 0; c < CHANNELS; c++) {
                                float[] table = normalised[c];
                                for (int frame = 0; frame < tps; frame++) {
                                    byte[] rgb = frames[Math.min(t * tps + frame, last)].rgb();
                                    for (int py = 0; py < ps; py++) {
                                        int p = ((y0 + py) * width + x0) * CHANNELS + c;
                                        for (int px = 0; px < ps; px++, p += CHANNELS) {
                                            out[o++] = table[rgb[p] & 0xff];
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /** For each channel and 8-bit sample, the float32 value after HF's {@code rescale} and {@code normalize}. */
    private static float[][] normalisationTables(PreprocessorConfig config) {
        float[][] tables = new float[CHANNELS][256];
        for (int c = 0; c < CHANNELS; c++) {
            float mean = (float) (double) config.imageMean().get(c);
            float std = (float) (double) config.imageStd().get(c);
            for (int v = 0; v < 256; v++) {
                // rescale: image.astype(float64) * scale, then .astype(float32)
                float x = config.doRescale() ? (float) (v * config.rescaleFactor()) : v;
                // normalize: float32 image, mean and std as float32 arrays, (image - mean) / std
                tables[c][v] = config.doNormalize() ? (x - mean) / std : x;
            }
        }
        return tables;
    }
}

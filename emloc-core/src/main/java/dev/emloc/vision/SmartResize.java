package dev.emloc.vision;

/**
 * The target size of an image for Qwen2-VL, as Hugging Face's {@code smart_resize} computes it: both sides a
 * multiple of {@code factor} ({@code patch_size * merge_size}, 28), the pixel count within
 * {@code [minPixels, maxPixels]}, the aspect ratio kept as closely as that allows.
 *
 * <p>The arithmetic follows Python's exactly, because one pixel row more or less changes the number of vision
 * tokens: {@code round(h / factor)} is Python's {@code round}, which rounds halves to even (42 / 28 = 1.5 gives
 * 2, 70 / 28 = 2.5 gives 2), applied to the double quotient; the scale {@code beta} is a double square root;
 * {@code floor} and {@code ceil} act on doubles computed in the same order as Python ({@code h / beta / factor},
 * {@code h * beta / factor}).
 */
public final class SmartResize {

    /** {@code patch_size * merge_size} of Qwen2-VL. */
    public static final int DEFAULT_FACTOR = 28;
    /** Largest ratio of the long side to the short side that the reference accepts. */
    public static final double MAX_ASPECT_RATIO = 200;

    private SmartResize() {
    }

    /**
     * The size an image of {@code height x width} is resampled to.
     *
     * @throws ImageInputException if a side is shorter than {@code factor}, the aspect ratio exceeds 200, or
     *                             {@code maxPixels} is too small to leave a side of at least {@code factor}
     */
    public static ImageSize resize(int height, int width, int factor, int minPixels, int maxPixels) {
        if (factor <= 0 || minPixels <= 0 || maxPixels <= 0) {
            throw new IllegalArgumentException("factor, minPixels and maxPixels must be positive, got " + factor + ", "
                    + minPixels + ", " + maxPixels);
        }
        if (height < factor || width < factor) {
            throw new ImageInputException("Image of " + width + "x" + height + " pixels is too small: both sides must be at least "
                    + factor + " pixels (patch_size * merge_size); upscale or pad it before sending");
        }
        double aspect = (double) Math.max(height, width) / Math.min(height, width);
        if (aspect > MAX_ASPECT_RATIO) {
            throw new ImageInputException("Image of " + width + "x" + height + " pixels is too elongated: aspect ratio " + aspect
                    + " exceeds " + (int) MAX_ASPECT_RATIO + "; crop it or pad its short side before sending");
        }
        long hBar = roundHalfEven((double) height / factor) * factor;
        long wBar = roundHalfEven((double) width / factor) * factor;
        long area = (long) height * width;
        if (hBar * wBar > maxPixels) {
            double beta = Math.sqrt((double) area / maxPixels);
            hBar = (long) Math.floor(height / beta / factor) * factor;
            wBar = (long) Math.floor(width / beta / factor) * factor;
        } else if (hBar * wBar < minPixels) {
            double beta = Math.sqrt((double) minPixels / area);
            hBar = (long) Math.ceil(height * beta / factor) * factor;
            wBar = (long) Math.ceil(width * beta / factor) * factor;
        }
        if (hBar < factor || wBar < factor) {
            throw new ImageInputException("Image of " + width + "x" + height + " pixels cannot fit max_pixels " + maxPixels
                    + " with both sides at least " + factor + " pixels; raise max_pixels in preprocessor_config.json or crop"
                    + " the image to a less elongated shape");
        }
        return new ImageSize(Math.toIntExact(hBar), Math.toIntExact(wBar));
    }

    /** {@link #resize(int, int, int, int, int)} with factor 28. */
    public static ImageSize resize(int height, int width, int minPixels, int maxPixels) {
        return resize(height, width, DEFAULT_FACTOR, minPixels, maxPixels);
    }

    /** Python's {@code round(x)} for a double: the nearest integer, halves to even. */
    static long roundHalfEven(double x) {
        return (long) Math.rint(x);
    }
}

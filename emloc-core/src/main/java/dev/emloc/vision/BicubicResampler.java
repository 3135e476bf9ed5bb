package dev.emloc.vision;

import java.util.Arrays;

/**
 * Pillow's {@code Image.resize(size, Image.BICUBIC)} for 8-bit RGB images, reproduced to the last bit so that
 * pixel values match Hugging Face's PIL-based preprocessing exactly.
 *
 * <p>What Pillow does ({@code libImaging/Resample.c}), and so what this does:
 * <ul>
 *   <li>The kernel is the cubic convolution with {@code a = -0.5} and support 2. When downscaling by a
 *       factor {@code s > 1} the kernel is stretched by {@code s} (support {@code 2s}, argument divided by
 *       {@code s}), which is the antialiasing; upscaling uses it unstretched.</li>
 *   <li>Output pixel {@code i} is centred on source coordinate {@code (i + 0.5) * in / out}; its taps run from
 *       {@code (int)(center - support + 0.5)} to {@code (int)(center + support + 0.5)}, clipped to the image, and
 *       their double weights are divided by their sum.</li>
 *   <li>Weights become fixed point with 22 fractional bits ({@code PRECISION_BITS = 32 - 8 - 2}), rounded half
 *       away from zero; each output sample is {@code (2^21 + sum(sample * weight)) >> 22} in 32-bit integers,
 *       clipped to 0..255.</li>
 *   <li>The horizontal pass runs first, over just the rows the vertical pass will read, and its result is
 *       rounded and clipped to 8 bits before the vertical pass. A pass whose size does not change is skipped
 *       (so a width-only change is one horizontal pass), and an unchanged size returns the input.</li>
 * </ul>
 * The three channels are independent. Stateless and thread-safe.
 */
public final class BicubicResampler {

    private static final int PRECISION_BITS = 32 - 8 - 2;
    private static final int HALF = 1 << (PRECISION_BITS - 1);
    private static final double SUPPORT = 2.0;

    private BicubicResampler() {
    }

    /**
     * Resamples {@code source} to {@code width x height}.
     *
     * @return a new image, or {@code source} itself when the size is unchanged
     */
    public static RgbImage resize(RgbImage source, int width, int height) {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("Target size must be positive, got " + width + "x" + height);
        }
        boolean horizontal = width != source.width();
        boolean vertical = height != source.height();
        if (!horizontal && !vertical) {
            return source;
        }
        Taps rows = Taps.compute(source.height(), height);
        byte[] pixels = source.rgb();
        int rowOffset = 0;
        if (horizontal) {
            // Only the source rows some output row reads are resampled horizontally.
            int firstRow = rows.first[0];
            int endRow = rows.first[height - 1] + rows.count[height - 1];
            Taps columns = Taps.compute(source.width(), width);
            pixels = horizontalPass(pixels, source.width(), firstRow, endRow, columns, width);
            rowOffset = firstRow;
        }
        if (vertical) {
            pixels = verticalPass(pixels, width, rowOffset, rows, height);
        }
        return new RgbImage(width, height, pixels);
    }

    /** Rows {@code firstRow..endRow-1} of {@code source}, each resampled to {@code outWidth} pixels. */
    private static byte[] horizontalPass(byte[] source, int inWidth, int firstRow, int endRow, Taps taps, int outWidth) {
        int rows = endRow - firstRow;
        byte[] out = new byte[rows * outWidth * 3]; // (rows, outWidth, 3)
        int ksize = taps.ksize;
        int[] weights = taps.weights;
        for (int y = 0; y < rows; y++) {
            int inRow = (y + firstRow) * inWidth * 3;
            int outRow = y * outWidth * 3;
            for (int x = 0; x < outWidth; x++) {
                int first = taps.first[x];
                int count = taps.count[x];
                int k = x * ksize;
                int r = HALF;
                int g = HALF;
                int b = HALF;
                int p = inRow + first * 3;
                for (int i = 0; i < count; i++, p += 3) {
                    int w = weights[k + i];
                    r += (source[p] & 0xff) * w;
                    g += (source[p + 1] & 0xff) * w;
                    b += (source[p + 2] & 0xff) * w;
                }
                int o = outRow + x * 3;
                out[o] = clip8(r);
                out[o + 1] = clip8(g);
                out[o + 2] = clip8(b);
            }
        }
        return out;
    }

    /**
     * Resamples columns to {@code outHeight} rows; row {@code r} of the taps is row {@code r - rowOffset} of
     * {@code source}. Integer sums are order-independent, so each output row accumulates whole source rows
     * (a cache-friendly order) and gives the same result as Pillow's per-pixel loop.
     */
    private static byte[] verticalPass(byte[] source, int width, int rowOffset, Taps taps, int outHeight) {
        int rowLength = width * 3;
        byte[] out = new byte[outHeight * rowLength]; // (outHeight, width, 3)
        int[] sums = new int[rowLength];
        int ksize = taps.ksize;
        int[] weights = taps.weights;
        for (int y = 0; y < outHeight; y++) {
            Arrays.fill(sums, HALF);
            int first = taps.first[y] - rowOffset;
            int count = taps.count[y];
            for (int i = 0; i < count; i++) {
                int w = weights[y * ksize + i];
                int inRow = (first + i) * rowLength;
                for (int j = 0; j < rowLength; j++) {
                    sums[j] += (source[inRow + j] & 0xff) * w;
                }
            }
            int outRow = y * rowLength;
            for (int j = 0; j < rowLength; j++) {
                out[outRow + j] = clip8(sums[j]);
            }
        }
        return out;
    }

    /** Pillow's {@code clip8}: drop the fraction (an arithmetic shift, flooring negatives) and clamp to 0..255. */
    private static byte clip8(int sum) {
        int v = sum >> PRECISION_BITS;
        return (byte) (v < 0 ? 0 : Math.min(v, 255));
    }

    /** Pillow's cubic convolution kernel with {@code a = -0.5}, in the same operation order. */
    static double bicubic(double x) {
        final double a = -0.5;
        if (x < 0.0) {
            x = -x;
        }
        if (x < 1.0) {
            return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        }
        if (x < 2.0) {
            return (((x - 5) * x + 8) * x - 4) * a;
        }
        return 0.0;
    }

    /**
     * The taps of every output position along one axis ({@code precompute_coeffs} and
     * {@code normalize_coeffs_8bpc} of Pillow): output {@code i} reads {@code count[i]} inputs from
     * {@code first[i]} with fixed-point weights {@code weights[i * ksize ...]}.
     */
    static final class Taps {
        final int ksize;
        final int[] first;   // (out)
        final int[] count;   // (out)
        final int[] weights; // (out, ksize), 22 fractional bits

        private Taps(int ksize, int[] first, int[] count, int[] weights) {
            this.ksize = ksize;
            this.first = first;
            this.count = count;
            this.weights = weights;
        }

        static Taps compute(int inSize, int outSize) {
            // Pillow computes (double)(in1 - in0) / outSize with a float box (0, inSize): exact for sizes < 2^24.
            double scale = (double) inSize / outSize;
            double filterScale = Math.max(scale, 1.0);
            double support = SUPPORT * filterScale;
            int ksize = (int) Math.ceil(support) * 2 + 1;
            double inverse = 1.0 / filterScale;
            int[] first = new int[outSize];
            int[] count = new int[outSize];
            int[] weights = new int[outSize * ksize];
            double[] k = new double[ksize];
            for (int xx = 0; xx < outSize; xx++) {
                double center = (xx + 0.5) * scale;
                int xmin = (int) (center - support + 0.5);
                if (xmin < 0) {
                    xmin = 0;
                }
                int xmax = (int) (center + support + 0.5);
                if (xmax > inSize) {
                    xmax = inSize;
                }
                xmax -= xmin;
                double total = 0.0;
                for (int x = 0; x < xmax; x++) {
                    double w = bicubic((x + xmin - center + 0.5) * inverse);
                    k[x] = w;
                    total += w;
                }
                for (int x = 0; x < xmax; x++) {
                    double w = total != 0.0 ? k[x] / total : k[x];
                    weights[xx * ksize + x] = w < 0
                            ? (int) (-0.5 + w * (1 << PRECISION_BITS))
                            : (int) (0.5 + w * (1 << PRECISION_BITS));
                }
                first[xx] = xmin;
                count[xx] = xmax;
            }
            return new Taps(ksize, first, count, weights);
        }
    }
}

package dev.emloc.vision;

import static org.assertj.core.api.Assertions.assertThat;

import java.security.MessageDigest;
import java.util.HexFormat;

import org.junit.jupiter.api.Test;

class BicubicResamplerTest {

    /** A deterministic test pattern; the same formula produced the Pillow outputs below. */
    static RgbImage pattern(int width, int height) {
        byte[] rgb = new byte[width * height * 3];
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                for (int c = 0; c < 3; c++) {
                    rgb[(y * width + x) * 3 + c] = (byte) ((x * 37 + y * 91 + c * 53 + x * y * 11) % 256);
                }
            }
        }
        return new RgbImage(width, height, rgb);
    }

    private static int[] unsigned(RgbImage image) {
        int[] values = new int[image.rgb().length];
        for (int i = 0; i < values.length; i++) {
            values[i] = image.rgb()[i] & 0xff;
        }
        return values;
    }

    @Test
    void kernelHasTheCubicConvolutionValuesForAMinusOneHalf() {
        // 1.5|x|^3 - 2.5|x|^2 + 1 inside 1, -0.5(|x|^3 - 5|x|^2 + 8|x| - 4) between 1 and 2
        assertThat(BicubicResampler.bicubic(0)).isEqualTo(1.0);
        assertThat(BicubicResampler.bicubic(0.5)).isEqualTo(0.5625);   // 0.1875 - 0.625 + 1
        assertThat(BicubicResampler.bicubic(-0.5)).isEqualTo(0.5625);
        assertThat(BicubicResampler.bicubic(1.0)).isEqualTo(0.0);
        assertThat(BicubicResampler.bicubic(1.5)).isEqualTo(-0.0625);  // -0.5 * (3.375 - 11.25 + 12 - 4)
        assertThat(BicubicResampler.bicubic(2.0)).isEqualTo(0.0);
    }

    @Test
    void twoToOneTapsAreTheStretchedKernelInFixedPoint() {
        // 8 -> 4: scale 2, support 4; output 0 is centred at 1.0 and reads inputs 0..4 (xmax = (int)(5.5) = 5);
        // weights are bicubic((x - 1 + 0.5) / 2) for x = 0..4: k(-0.25), k(0.25), k(0.75), k(1.25), k(1.75)
        // = 111/128, 111/128, 29/128, -9/128, -3/128, summing to 239/128; normalised: 111/239, 111/239, 29/239,
        // -9/239, -3/239; times 2^22 (4194304/239 = 17549.389) and rounded half away from zero: 1947982.2 -> 1947982,
        // 508932.3 -> 508932, -157944.5 -> -157945, -52648.2 -> -52648.
        BicubicResampler.Taps taps = BicubicResampler.Taps.compute(8, 4);
        assertThat(taps.ksize).isEqualTo(9); // ceil(4) * 2 + 1
        assertThat(taps.first[0]).isEqualTo(0);
        assertThat(taps.count[0]).isEqualTo(5);
        assertThat(new int[] {taps.weights[0], taps.weights[1], taps.weights[2], taps.weights[3], taps.weights[4]})
                .containsExactly(1947982, 1947982, 508932, -157945, -52648);
        // output 1 is centred at 3.0 and reads inputs 0..6 (xmin = (int)(-0.5) = 0, xmax = (int)(7.5) = 7)
        assertThat(taps.first[1]).isEqualTo(0);
        assertThat(taps.count[1]).isEqualTo(7);
    }

    @Test
    void unchangedSizeReturnsTheInput() {
        RgbImage image = pattern(13, 7);
        assertThat(BicubicResampler.resize(image, 13, 7)).isSameAs(image);
    }

    @Test
    void constantImageStaysConstant() {
        RgbImage grey = RgbImage.filled(37, 23, 10, 200, 255);
        for (int[] size : new int[][] {{56, 28}, {13, 9}, {37, 5}, {80, 23}, {1, 1}}) {
            RgbImage resized = BicubicResampler.resize(grey, size[0], size[1]);
            assertThat(resized).isEqualTo(RgbImage.filled(size[0], size[1], 10, 200, 255));
        }
    }

    @Test
    void downscalesByTwoExactlyAsPillow() {
        // numpy.asarray(Image.fromarray(pattern).resize((4, 3), Image.BICUBIC)), Pillow 9.4
        assertThat(unsigned(BicubicResampler.resize(pattern(8, 6), 4, 3))).containsExactly(
                85, 128, 155, 135, 141, 149, 131, 145, 144, 121, 121, 111, 131, 139, 117, 135, 125, 105,
                120, 119, 112, 136, 135, 118, 114, 177, 122, 120, 113, 132, 105, 134, 143, 144, 130, 119);
    }

    @Test
    void runsOnlyTheHorizontalPassWhenOnlyTheWidthChanges() {
        // Pillow, 6x4 -> 3x4: one horizontal pass, no vertical rounding
        assertThat(unsigned(BicubicResampler.resize(pattern(6, 4), 3, 4))).containsExactly(
                20, 73, 126, 93, 146, 207, 165, 218, 152, 120, 183, 205, 191, 136, 81, 67, 89, 152,
                196, 130, 67, 93, 127, 160, 186, 123, 57, 58, 121, 143, 172, 117, 62, 91, 113, 176);
    }

    @Test
    void runsOnlyTheVerticalPassWhenOnlyTheHeightChanges() {
        // Pillow, 6x4 -> 6x2
        assertThat(unsigned(BicubicResampler.resize(pattern(6, 4), 6, 2))).containsExactly(
                63, 116, 138, 106, 129, 182, 119, 172, 117, 163, 108, 161, 98, 151, 173, 142, 164, 100,
                102, 155, 91, 166, 101, 154, 112, 165, 70, 175, 80, 133, 91, 144, 79, 154, 90, 152);
    }

    @Test
    void upscalesWithClippingExactlyAsPillow() {
        // Pillow, 5x4 -> 9x7; first two rows (the pattern wraps at 256, so the kernel's overshoot clips at 0 and 255)
        int[] out = unsigned(BicubicResampler.resize(pattern(5, 4), 9, 7));
        int[] firstRows = new int[54];
        System.arraycopy(out, 0, firstRows, 0, 54);
        assertThat(firstRows).containsExactly(
                0, 43, 96, 2, 55, 107, 25, 78, 130, 45, 96, 159, 65, 118, 191, 84, 150, 213, 107, 179, 231,
                143, 202, 255, 162, 214, 255, 23, 73, 137, 33, 90, 152, 59, 121, 179, 85, 149, 160, 114, 167, 132,
                142, 140, 150, 151, 120, 178, 121, 147, 210, 102, 163, 225);
        assertThat(out[out.length - 3]).isEqualTo(15);
        assertThat(out[out.length - 1]).isEqualTo(165);
    }

    @Test
    void largerResizesMatchPillowByteForByte() throws Exception {
        // SHA-256 of Pillow 9.4's output for the same pattern and sizes
        assertThat(sha256(BicubicResampler.resize(pattern(97, 61), 56, 28)))
                .isEqualTo("cf75f6a53d9d499b33b5f948983ae45aec4edcf89cb5ca298f4276cecaeb34f8");
        assertThat(sha256(BicubicResampler.resize(pattern(97, 61), 140, 84)))
                .isEqualTo("2917e3b028879c63312680115e73ac273502f03415a7768ece1733d03068b83c");
    }

    @Test
    void agreesWithinOneLevelWithAPlainDoublePrecisionReference() {
        // Independent reference: Pillow's kernel and taps in doubles, rounded to 8 bits after each pass. The
        // fixed-point weights may flip a rounding tie, so +-1 is allowed; anything more is a wrong kernel or tap.
        RgbImage source = pattern(50, 31);
        for (int[] size : new int[][] {{25, 15}, {17, 31}, {50, 12}, {73, 44}, {28, 28}}) {
            int[] actual = unsigned(BicubicResampler.resize(source, size[0], size[1]));
            int[] expected = reference(source, size[0], size[1]);
            for (int i = 0; i < expected.length; i++) {
                assertThat(actual[i]).as("sample %d of %dx%d", i, size[0], size[1]).isBetween(expected[i] - 1, expected[i] + 1);
            }
        }
    }

    private static int[] reference(RgbImage source, int width, int height) {
        double[][] horizontal = weights(source.width(), width);
        double[][] vertical = weights(source.height(), height);
        int[] firstX = starts(source.width(), width);
        int[] firstY = starts(source.height(), height);
        int[] temp = new int[source.height() * width * 3];
        for (int y = 0; y < source.height(); y++) {
            for (int x = 0; x < width; x++) {
                for (int c = 0; c < 3; c++) {
                    double sum = 0;
                    for (int i = 0; i < horizontal[x].length; i++) {
                        sum += source.sample(firstX[x] + i, y, c) * horizontal[x][i];
                    }
                    temp[(y * width + x) * 3 + c] = clamp(sum);
                }
            }
        }
        if (width == source.width()) {
            temp = unsigned(source);
        }
        int[] out = new int[height * width * 3];
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                for (int c = 0; c < 3; c++) {
                    double sum = 0;
                    for (int i = 0; i < vertical[y].length; i++) {
                        sum += temp[((firstY[y] + i) * width + x) * 3 + c] * vertical[y][i];
                    }
                    out[(y * width + x) * 3 + c] = height == source.height() ? temp[(y * width + x) * 3 + c] : clamp(sum);
                }
            }
        }
        return out;
    }

    private static int clamp(double value) {
        return (int) Math.max(0, Math.min(255, Math.floor(value + 0.5)));
    }

    private static int[] starts(int in, int out) {
        double scale = (double) in / out;
        double support = 2 * Math.max(scale, 1);
        int[] first = new int[out];
        for (int i = 0; i < out; i++) {
            first[i] = Math.max(0, (int) ((i + 0.5) * scale - support + 0.5));
        }
        return first;
    }

    private static double[][] weights(int in, int out) {
        double scale = (double) in / out;
        double stretch = Math.max(scale, 1);
        double support = 2 * stretch;
        double[][] weights = new double[out][];
        int[] first = starts(in, out);
        for (int i = 0; i < out; i++) {
            double center = (i + 0.5) * scale;
            int end = Math.min(in, (int) (center + support + 0.5));
            weights[i] = new double[end - first[i]];
            double total = 0;
            for (int j = 0; j < weights[i].length; j++) {
                double t = Math.abs((first[i] + j + 0.5 - center) / stretch);
                double w = t < 1 ? 1.5 * t * t * t - 2.5 * t * t + 1 : t < 2 ? -0.5 * (t * t * t - 5 * t * t + 8 * t - 4) : 0;
                weights[i][j] = w;
                total += w;
            }
            for (int j = 0; j < weights[i].length; j++) {
                weights[i][j] /= total;
            }
        }
        return weights;
    }

    static String sha256(RgbImage image) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(image.rgb()));
    }
}

package dev.emloc.vision;

import java.util.Arrays;
import java.util.Objects;

/**
 * An 8-bit RGB image, rows top to bottom, pixels interleaved ({@code (height, width, 3)}, the layout of
 * {@code numpy.asarray(pil_image)}).
 *
 * <p>The array is not copied, to keep large images cheap to pass around; treat it as read-only. Equality
 * compares the pixels.
 *
 * @param width  columns, positive
 * @param height rows, positive
 * @param rgb    {@code height * width * 3} bytes, each an unsigned sample 0..255 // (height, width, 3)
 */
public record RgbImage(int width, int height, byte[] rgb) {

    public RgbImage {
        Objects.requireNonNull(rgb, "rgb");
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("Image size must be positive, got " + width + "x" + height);
        }
        if (rgb.length != (long) width * height * 3) {
            throw new IllegalArgumentException("A " + width + "x" + height + " RGB image needs " + (long) width * height * 3
                    + " bytes, got " + rgb.length);
        }
    }

    /** An image of one colour. */
    public static RgbImage filled(int width, int height, int red, int green, int blue) {
        byte[] rgb = new byte[width * height * 3];
        for (int i = 0; i < rgb.length; i += 3) {
            rgb[i] = (byte) red;
            rgb[i + 1] = (byte) green;
            rgb[i + 2] = (byte) blue;
        }
        return new RgbImage(width, height, rgb);
    }

    /** The sample 0..255 of {@code channel} (0 red, 1 green, 2 blue) at column {@code x}, row {@code y}. */
    public int sample(int x, int y, int channel) {
        Objects.checkIndex(x, width);
        Objects.checkIndex(y, height);
        Objects.checkIndex(channel, 3);
        return rgb[(y * width + x) * 3 + channel] & 0xff;
    }

    /** {@code height} and {@code width}. */
    public ImageSize size() {
        return new ImageSize(height, width);
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof RgbImage that && width == that.width && height == that.height
                && Arrays.equals(rgb, that.rgb);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * width + height) + Arrays.hashCode(rgb);
    }

    @Override
    public String toString() {
        return "RgbImage[" + width + "x" + height + "]";
    }
}

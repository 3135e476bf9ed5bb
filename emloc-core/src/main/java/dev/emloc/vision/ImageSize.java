package dev.emloc.vision;

/**
 * A height and width in pixels, in the order Hugging Face's image code uses.
 *
 * @param height rows, positive
 * @param width  columns, positive
 */
public record ImageSize(int height, int width) {

    public ImageSize {
        if (height <= 0 || width <= 0) {
            throw new IllegalArgumentException("Image size must be positive, got height " + height + " and width " + width);
        }
    }

    /** {@code height * width}. */
    public long pixels() {
        return (long) height * width;
    }

    @Override
    public String toString() {
        return width + "x" + height;
    }
}

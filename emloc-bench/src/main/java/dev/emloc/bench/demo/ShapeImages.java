package dev.emloc.bench.demo;

import java.awt.Graphics2D;
import java.awt.Polygon;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.SplittableRandom;

import javax.imageio.ImageIO;

import dev.emloc.vision.RgbImage;

/**
 * Procedurally drawn 56x56 pictures of visual classes for the in-context learning task. A class is a
 * (shape, colour) pair: 4 shapes x 6 colours = 24 classes. Everything else varies from picture to picture and
 * carries no class information: size, position (within {@link #JITTER} pixels of the centre), the colour's shade,
 * the texture inside the shape (solid, stripes, dots or grain) and the grey, noisy background. 56x56 is 4x4 patches
 * of 14 pixels, which the vision tower's 2x2 merger turns into 4 tokens.
 */
public final class ShapeImages {

    /** Side of every picture in pixels. */
    public static final int SIZE = 56;
    /** How far, in pixels, a shape's centre may be from the picture's centre, in each direction. */
    public static final int JITTER = 2;
    public static final String[] SHAPES = {"circle", "square", "triangle", "cross"};
    public static final String[] COLOURS = {"red", "green", "blue", "yellow", "magenta", "cyan"};
    private static final int[][] RGB = {{215, 35, 35}, {35, 165, 45}, {40, 70, 215}, {225, 200, 30}, {200, 45, 200},
            {30, 190, 200}};
    /** Number of visual classes. */
    public static final int CLASSES = SHAPES.length * COLOURS.length;

    private ShapeImages() {
    }

    /** Shape index of a class. */
    public static int shape(int visualClass) {
        return visualClass / COLOURS.length;
    }

    /** Colour index of a class. */
    public static int colour(int visualClass) {
        return visualClass % COLOURS.length;
    }

    /** A readable name, e.g. {@code "blue triangle"}. */
    public static String name(int visualClass) {
        return COLOURS[colour(visualClass)] + " " + SHAPES[shape(visualClass)];
    }

    /** Draws a new picture of {@code visualClass}; the same generator state gives the same pixels. */
    public static RgbImage draw(int visualClass, SplittableRandom random) {
        if (visualClass < 0 || visualClass >= CLASSES) {
            throw new IllegalArgumentException("Visual class " + visualClass + " is outside 0.." + (CLASSES - 1));
        }
        int side = 22 + random.nextInt(19);                     // 22..40 pixels
        // centred, give or take JITTER pixels: every shape, the smallest triangle too, spans the four 28x28 quadrants,
        // each of which becomes one image token, so every picture of a class spreads over the tokens the same way
        // (anywhere in the picture, a small shape fell into one quadrant and three tokens showed only background)
        int x0 = (SIZE - side) / 2 - JITTER + random.nextInt(2 * JITTER + 1);
        int y0 = (SIZE - side) / 2 - JITTER + random.nextInt(2 * JITTER + 1);
        boolean[] mask = mask(shape(visualClass), x0, y0, side);
        int[] base = RGB[colour(visualClass)];
        int[] shade = new int[3];
        for (int c = 0; c < 3; c++) {
            shade[c] = clamp(base[c] + random.nextInt(41) - 20);
        }
        int texture = random.nextInt(4);
        int period = 3 + random.nextInt(3);
        int background = 185 + random.nextInt(55);
        byte[] rgb = new byte[SIZE * SIZE * 3];
        for (int y = 0; y < SIZE; y++) {
            for (int x = 0; x < SIZE; x++) {
                int i = y * SIZE + x;
                int grain = random.nextInt(25) - 12;
                for (int c = 0; c < 3; c++) {
                    int value;
                    if (mask[i]) {
                        value = shade[c] + texture(texture, x, y, period, random) + grain / 2;
                    } else {
                        value = background + grain;
                    }
                    rgb[3 * i + c] = (byte) clamp(value);
                }
            }
        }
        return new RgbImage(SIZE, SIZE, rgb);
    }

    /** Brightness offset of the texture at (x, y): solid, diagonal stripes, dots or grain. */
    private static int texture(int kind, int x, int y, int period, SplittableRandom random) {
        return switch (kind) {
            case 1 -> ((x + y) / 2) % period == 0 ? -60 : 0;
            case 2 -> (x % period == 0 && y % period == 0) ? 60 : 0;
            case 3 -> random.nextInt(61) - 30;
            default -> 0;
        };
    }

    private static boolean[] mask(int shape, int x0, int y0, int side) {
        BufferedImage canvas = new BufferedImage(SIZE, SIZE, BufferedImage.TYPE_BYTE_GRAY);
        Graphics2D g = canvas.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_OFF);
            g.setColor(java.awt.Color.WHITE);
            switch (shape) {
                case 0 -> g.fillOval(x0, y0, side, side);
                case 1 -> g.fillRect(x0, y0, side, side);
                case 2 -> g.fillPolygon(new Polygon(new int[] {x0 + side / 2, x0, x0 + side},
                        new int[] {y0, y0 + side, y0 + side}, 3));
                default -> {
                    int bar = Math.max(4, side / 3);
                    g.fillRect(x0 + (side - bar) / 2, y0, bar, side);
                    g.fillRect(x0, y0 + (side - bar) / 2, side, bar);
                }
            }
        } finally {
            g.dispose();
        }
        boolean[] mask = new boolean[SIZE * SIZE];
        byte[] pixels = ((java.awt.image.DataBufferByte) canvas.getRaster().getDataBuffer()).getData();
        for (int i = 0; i < mask.length; i++) {
            mask[i] = pixels[i] != 0;
        }
        return mask;
    }

    private static int clamp(int value) {
        return Math.max(0, Math.min(255, value));
    }

    /** The picture as PNG bytes, for {@code ContentPart.image} (the decoder gives back exactly these samples). */
    public static byte[] png(RgbImage image) {
        BufferedImage buffered = new BufferedImage(image.width(), image.height(), BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < image.height(); y++) {
            for (int x = 0; x < image.width(); x++) {
                buffered.setRGB(x, y, image.sample(x, y, 0) << 16 | image.sample(x, y, 1) << 8 | image.sample(x, y, 2));
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            ImageIO.write(buffered, "png", out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }
}

package dev.emloc.sample;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.Polygon;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import javax.imageio.ImageIO;

/**
 * Draws the bundled example set {@code shapes} (src/main/resources/examples/shapes): 56x56 pictures of three
 * visual classes, each named by a made-up word the model cannot know beforehand, so that only the demonstrations
 * can teach it.
 *
 * <ul>
 * <li>{@code demos.jsonl}: 12 demonstrations, four of each class, shuffled; images under {@code demos/};</li>
 * <li>{@code held-out.jsonl}: one more picture of each class (new sizes and places), answers being the labels a
 * model taught with the demonstrations should give; images under {@code held-out/}.</li>
 * </ul>
 *
 * Deterministic (a fixed seed): {@code ShapesExampleTest} checks that the bundled files are what this draws. To
 * draw them again: {@code java -Djava.awt.headless=true sample-app/src/test/java/dev/emloc/sample/ShapesExample.java
 * sample-app/src/main/resources/examples/shapes}.
 */
public final class ShapesExample {

    /** The question of every demonstration and held-out query. */
    public static final String QUESTION = "What is this?";

    /** Pixels of a side of every picture: 2x2 merged patches of 14 pixels, four image tokens. */
    public static final int SIZE = 56;

    static final long SEED = 20250519L;
    static final int DEMOS_PER_CLASS = 4;

    /** A visual class: a shape in a colour, and its made-up name. */
    enum Shape {
        CIRCLE("dax", new Color(214, 48, 49)),
        SQUARE("wug", new Color(9, 132, 227)),
        TRIANGLE("fep", new Color(0, 148, 50));

        final String label;
        final Color colour;

        Shape(String label, Color colour) {
            this.label = label;
            this.colour = colour;
        }
    }

    /** One picture of the set and the line of JSONL that names it. */
    record Picture(String path, Shape shape, BufferedImage image) {
        String jsonLine() {
            return "{\"question\": \"" + QUESTION + "\", \"answer\": \"" + shape.label + "\", \"image\": \"" + path + "\"}";
        }
    }

    private ShapesExample() {
    }

    /** The demonstrations, in file order. */
    static List<Picture> demonstrations() {
        Random random = new Random(SEED);
        List<Shape> order = new ArrayList<>();
        for (int i = 0; i < DEMOS_PER_CLASS; i++) {
            order.addAll(List.of(Shape.values()));
        }
        Collections.shuffle(order, random);
        List<Picture> pictures = new ArrayList<>();
        for (int i = 0; i < order.size(); i++) {
            pictures.add(new Picture(String.format("demos/%02d.png", i + 1), order.get(i), draw(order.get(i), random)));
        }
        return pictures;
    }

    /** One held-out query per class, in a fixed order that is not the class order. */
    static List<Picture> heldOut() {
        Random random = new Random(SEED + 1);
        List<Shape> order = List.of(Shape.SQUARE, Shape.TRIANGLE, Shape.CIRCLE);
        List<Picture> pictures = new ArrayList<>();
        for (int i = 0; i < order.size(); i++) {
            pictures.add(new Picture("held-out/q" + (i + 1) + ".png", order.get(i), draw(order.get(i), random)));
        }
        return pictures;
    }

    /** A shape of 22 to 34 pixels, anywhere it fits, on a light grey background. */
    static BufferedImage draw(Shape shape, Random random) {
        BufferedImage image = new BufferedImage(SIZE, SIZE, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            int shade = 236 + random.nextInt(16);
            g.setColor(new Color(shade, shade, shade));
            g.fillRect(0, 0, SIZE, SIZE);
            int side = 22 + random.nextInt(13);
            int x = 3 + random.nextInt(SIZE - side - 5);
            int y = 3 + random.nextInt(SIZE - side - 5);
            g.setColor(shape.colour);
            switch (shape) {
                case CIRCLE -> g.fillOval(x, y, side, side);
                case SQUARE -> g.fillRect(x, y, side, side);
                case TRIANGLE -> g.fillPolygon(new Polygon(new int[] {x, x + side / 2, x + side},
                        new int[] {y + side, y, y + side}, 3));
            }
            g.setColor(shape.colour.darker());
            g.setStroke(new BasicStroke(1.5f));
            switch (shape) {
                case CIRCLE -> g.drawOval(x, y, side, side);
                case SQUARE -> g.drawRect(x, y, side, side);
                case TRIANGLE -> g.drawPolygon(new Polygon(new int[] {x, x + side / 2, x + side},
                        new int[] {y + side, y, y + side}, 3));
            }
        } finally {
            g.dispose();
        }
        return image;
    }

    /** Writes the set into {@code directory}: both JSONL files and every picture. */
    static void write(Path directory) {
        try {
            writeSet(directory, "demos.jsonl", demonstrations());
            writeSet(directory, "held-out.jsonl", heldOut());
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot write the shapes example to " + directory, e);
        }
    }

    private static void writeSet(Path directory, String jsonl, List<Picture> pictures) throws IOException {
        StringBuilder lines = new StringBuilder();
        for (Picture picture : pictures) {
            Path file = directory.resolve(picture.path());
            Files.createDirectories(file.getParent());
            if (!ImageIO.write(picture.image(), "png", file.toFile())) {
                throw new IOException("No PNG writer");
            }
            lines.append(picture.jsonLine()).append('\n');
        }
        Files.writeString(directory.resolve(jsonl), lines, StandardCharsets.UTF_8);
    }

    /** Writes the set into the directory given as the only argument. */
    public static void main(String[] args) {
        if (args.length != 1) {
            throw new IllegalArgumentException("Usage: ShapesExample <output directory>");
        }
        write(Path.of(args[0]));
    }
}

package dev.emloc.sample;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;

import dev.emloc.bench.demo.IclEpisodes;
import dev.emloc.bench.demo.ShapeImages;
import dev.emloc.vision.RgbImage;

/**
 * Draws the bundled example set {@code shapes} (src/main/resources/examples/shapes): 56x56 pictures of three
 * visual classes drawn exactly as the demo model's training pictures are ({@link ShapeImages}: size, place, shade,
 * texture and background vary), each named by a made-up two-letter word the model cannot know beforehand, so that
 * only the demonstrations can teach it.
 *
 * <ul>
 * <li>{@code demos.jsonl}: 15 demonstrations, five of each class, shuffled; images under {@code demos/};</li>
 * <li>{@code held-out.jsonl}: two more pictures of each class, answers being the labels a model taught with the
 * demonstrations should give; images under {@code held-out/}.</li>
 * </ul>
 *
 * Deterministic (a fixed seed): {@code ShapesExampleTest} checks that the bundled files are what this draws. To
 * draw them again: {@code ./mvnw -pl sample-app -am test -Dtest=ShapesExampleTest -Dsurefire.failIfNoSpecifiedTests=false
 * -Demloc.sample.rewrite-shapes=true}.
 */
public final class ShapesExample {

    /** The question of every demonstration and held-out query: the demo model's in-context question. */
    public static final String QUESTION = IclEpisodes.QUESTION;

    /** Pixels of a side of every picture: 2x2 merged patches of 14 pixels, four image tokens. */
    public static final int SIZE = ShapeImages.SIZE;

    static final long SEED = 20250519L;
    static final int DEMOS_PER_CLASS = 5;
    static final int HELD_OUT_PER_CLASS = 2;

    /** A visual class of {@link ShapeImages} and its made-up name in this set. */
    enum Shape {
        RED_CIRCLE("ko", 0, 0),
        BLUE_SQUARE("zu", 1, 2),
        GREEN_TRIANGLE("pi", 2, 1);

        final String label;
        final int visualClass;

        Shape(String label, int shape, int colour) {
            this.label = label;
            this.visualClass = shape * ShapeImages.COLOURS.length + colour;
        }
    }

    /** One picture of the set and the line of JSONL that names it. */
    record Picture(String path, Shape shape, RgbImage image) {
        String jsonLine() {
            return "{\"question\": \"" + QUESTION + "\", \"answer\": \"" + shape.label + "\", \"image\": \"" + path + "\"}";
        }
    }

    private ShapesExample() {
    }

    /** The demonstrations, in file order. */
    static List<Picture> demonstrations() {
        return pictures(SEED, DEMOS_PER_CLASS, "demos/%02d.png");
    }

    /** The held-out queries, shuffled too. */
    static List<Picture> heldOut() {
        return pictures(SEED + 1, HELD_OUT_PER_CLASS, "held-out/q%d.png");
    }

    private static List<Picture> pictures(long seed, int perClass, String pathFormat) {
        List<Shape> order = new ArrayList<>();
        for (int i = 0; i < perClass; i++) {
            order.addAll(List.of(Shape.values()));
        }
        Collections.shuffle(order, new Random(seed));
        SplittableRandom random = new SplittableRandom(seed);
        List<Picture> pictures = new ArrayList<>();
        for (int i = 0; i < order.size(); i++) {
            Shape shape = order.get(i);
            pictures.add(new Picture(String.format(pathFormat, i + 1), shape, ShapeImages.draw(shape.visualClass, random)));
        }
        return pictures;
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
            Files.write(file, ShapeImages.png(picture.image()));
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

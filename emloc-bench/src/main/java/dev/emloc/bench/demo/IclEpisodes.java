package dev.emloc.bench.demo;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.SplittableRandom;

import dev.emloc.compress.Demonstration;
import dev.emloc.text.ChatMessage;
import dev.emloc.text.ContentPart;
import dev.emloc.vision.RgbImage;

/**
 * Episodes of the synthetic in-context task: {@code ways} visual classes ({@link ShapeImages}) get fresh,
 * arbitrary two-letter label words (first letters distinct within the episode); demonstrations show a picture
 * and its label; a query shows a new picture of one of the classes. The label can only come from the
 * demonstrations, so a model without them is at chance, {@code 1 / ways}.
 *
 * <p>Demonstrations are balanced: the classes take turns in a random order, then the list is shuffled, so each
 * class appears {@code floor(n / ways)} or {@code ceil(n / ways)} times.
 *
 * <p>The text-only variant replaces each class's picture by a fresh random upper-case code of one to three letters
 * in the question ({@code "What is QXT?"}, {@code "What is Q?"}): the same structure without vision.
 */
public final class IclEpisodes {

    /** The question of every turn with a picture. */
    public static final String QUESTION = "What is this?";
    /** Letters in a text-only code by default. */
    public static final int CODE_LETTERS = 3;
    /** Letters in a label word. */
    public static final int LABEL_LETTERS = 2;
    /**
     * The question of the auxiliary description task used in training ({@link #describe}): the answer is the class's
     * fixed two-letter code, colour then shape ({@code "rc"} is a red circle). It has as many tokens as
     * {@link #QUESTION}, so description and in-context sequences render to the same layout.
     */
    public static final String DESCRIBE_QUESTION = "Describe this";
    /**
     * The text-only auxiliary task's question prefix ({@link #spell}): {@code "Spell QXT?"} is answered by the code's
     * first and last letters in lower case ({@code "qt"}).
     */
    public static final String SPELL_QUESTION = "Spell ";
    private static final String COLOUR_LETTERS = "rgbymc";
    private static final String SHAPE_LETTERS = "cstx";

    private IclEpisodes() {
    }

    /**
     * One example: a class, its picture (null in the text-only variant) or code, and its label in this episode.
     */
    public record Item(int visualClass, RgbImage image, String code, String label, boolean description) {

        /** An in-context item. */
        public Item(int visualClass, RgbImage image, String code, String label) {
            this(visualClass, image, code, label, false);
        }

        /** The user turn: picture then question, or the code's question. */
        public ChatMessage user() {
            return image == null ? ChatMessage.user((description ? SPELL_QUESTION : "What is ") + code + "?")
                    : ChatMessage.user(ContentPart.image(ShapeImages.png(image)),
                            ContentPart.text(description ? DESCRIBE_QUESTION : QUESTION));
        }

        public Demonstration demonstration() {
            return new Demonstration(user(), label);
        }
    }

    /**
     * @param classes the episode's classes, their labels at the same index
     * @param demos   demonstrations in order
     * @param queries held-out queries: new pictures of the episode's classes
     */
    public record Episode(List<Integer> classes, List<String> labels, List<Item> demos, List<Item> queries) {

        public Episode {
            classes = List.copyOf(classes);
            labels = List.copyOf(labels);
            demos = List.copyOf(demos);
            queries = List.copyOf(queries);
        }

        public List<Demonstration> demonstrations() {
            return demos.stream().map(Item::demonstration).toList();
        }
    }

    /** Draws an episode (text-only codes of {@value #CODE_LETTERS} letters); the same generator state gives the same episode. */
    public static Episode draw(SplittableRandom random, int ways, int demos, int queries, boolean textOnly) {
        return draw(random, ways, demos, queries, textOnly, CODE_LETTERS);
    }

    /**
     * Draws an episode whose text-only codes have {@code codeLetters} letters (1 to 3; ignored with pictures); the same
     * generator state gives the same episode.
     */
    public static Episode draw(SplittableRandom random, int ways, int demos, int queries, boolean textOnly, int codeLetters) {
        return draw(random, ways, demos, queries, textOnly, codeLetters, false);
    }

    /**
     * Draws an episode; with {@code samePicture} every picture of a class in this episode (demonstrations and queries)
     * is one and the same drawing, which makes the task an exact copy, like the text-only one. Training mixes such
     * episodes in as a curriculum: matching identical pictures forms the copy mechanism that matching different
     * pictures of a class then reuses.
     */
    public static Episode draw(SplittableRandom random, int ways, int demos, int queries, boolean textOnly, int codeLetters,
            boolean samePicture) {
        if (codeLetters < 1 || codeLetters > 3) {
            throw new IllegalArgumentException("codeLetters must be in 1..3, got " + codeLetters);
        }
        if (ways < 2 || ways > Math.min(ShapeImages.CLASSES, 26)) {
            throw new IllegalArgumentException("ways must be in 2.." + Math.min(ShapeImages.CLASSES, 26) + ", got " + ways);
        }
        List<Integer> classes = new ArrayList<>();
        List<String> labels = new ArrayList<>();
        List<String> codes = new ArrayList<>();
        Set<Character> firstLetters = new HashSet<>();
        Set<String> usedCodes = new HashSet<>();
        while (classes.size() < ways) {
            int visualClass = random.nextInt(ShapeImages.CLASSES);
            if (classes.contains(visualClass)) {
                continue;
            }
            String label = word(random, LABEL_LETTERS, 'a');
            if (!firstLetters.add(label.charAt(0))) {
                continue;
            }
            String code;
            do {
                code = word(random, codeLetters, 'A');
            } while (!usedCodes.add(code));
            classes.add(visualClass);
            labels.add(label);
            codes.add(code);
        }
        List<Integer> order = new ArrayList<>(demos);
        List<Integer> round = new ArrayList<>();
        for (int i = 0; i < ways; i++) {
            round.add(i);
        }
        Random shuffler = new Random(random.nextLong());
        while (order.size() < demos) {
            Collections.shuffle(round, shuffler);
            order.addAll(round.subList(0, Math.min(ways, demos - order.size())));
        }
        Collections.shuffle(order, shuffler);
        RgbImage[] pictures = null;
        if (samePicture && !textOnly) {
            pictures = new RgbImage[ways];
            for (int i = 0; i < ways; i++) {
                pictures[i] = ShapeImages.draw(classes.get(i), random);
            }
        }
        List<Item> demoItems = new ArrayList<>(demos);
        for (int slot : order) {
            demoItems.add(item(random, classes, labels, codes, slot, textOnly, pictures));
        }
        List<Item> queryItems = new ArrayList<>(queries);
        for (int q = 0; q < queries; q++) {
            queryItems.add(item(random, classes, labels, codes, random.nextInt(ways), textOnly, pictures));
        }
        return new Episode(classes, labels, demoItems, queryItems);
    }

    /**
     * A training sequence of the auxiliary description task: {@code items} new pictures of random classes, each
     * answered by its fixed code ({@link #descriptionCode}). It teaches the vision tower to tell the classes apart
     * directly; its question differs from the in-context one, so the in-context labels still come only from the
     * demonstrations.
     */
    public static List<Item> describe(SplittableRandom random, int items) {
        List<Item> sequence = new ArrayList<>(items);
        for (int i = 0; i < items; i++) {
            int visualClass = random.nextInt(ShapeImages.CLASSES);
            sequence.add(new Item(visualClass, ShapeImages.draw(visualClass, random), null, descriptionCode(visualClass), true));
        }
        return sequence;
    }

    /**
     * A training sequence of the text-only auxiliary task: {@code items} fresh codes, each answered by its first and
     * last letters in lower case. It teaches the model to carry a code from the question to the answer, the step
     * the in-context task needs before it can match codes; its question differs from the in-context one.
     */
    public static List<Item> spell(SplittableRandom random, int items, int codeLetters) {
        List<Item> sequence = new ArrayList<>(items);
        for (int i = 0; i < items; i++) {
            String code = word(random, codeLetters, 'A');
            String label = ("" + code.charAt(0) + code.charAt(code.length() - 1)).toLowerCase(java.util.Locale.ROOT);
            sequence.add(new Item(-1, null, code, label, true));
        }
        return sequence;
    }

    /**
     * The letters that the snap loss ({@code TrainDemoModel --snap}) pulls a picture's merged vision tokens towards,
     * one upper-case letter per token: fixed for each class (seeded by it), the same for every picture of the class.
     * Trained this way, the vision tower writes a picture into the language model as a code it already knows how
     * to match in context (the text-only task's codes are upper-case letters too). The first letter differs between
     * classes ({@code 'A' + 11 * class mod 26}, injective for the {@value ShapeImages#CLASSES} classes), so even a
     * one-token code tells every two classes apart; the other letters are seeded by the class.
     */
    public static String visualCode(int visualClass, int tokens) {
        if (visualClass < 0 || visualClass >= ShapeImages.CLASSES || tokens < 1) {
            throw new IllegalArgumentException("visualCode needs a class in 0.." + (ShapeImages.CLASSES - 1)
                    + " and at least one token, got class " + visualClass + ", " + tokens + " tokens");
        }
        String rest = word(new SplittableRandom(0x5EEDL * 31 + visualClass), tokens, 'A').substring(1);
        return (char) ('A' + visualClass * 11 % 26) + rest;
    }

    /** The fixed answer of the description task: colour letter then shape letter. */
    public static String descriptionCode(int visualClass) {
        return "" + COLOUR_LETTERS.charAt(ShapeImages.colour(visualClass)) + SHAPE_LETTERS.charAt(ShapeImages.shape(visualClass));
    }

    private static Item item(SplittableRandom random, List<Integer> classes, List<String> labels, List<String> codes, int slot,
            boolean textOnly, RgbImage[] pictures) {
        int visualClass = classes.get(slot);
        RgbImage image = textOnly ? null : pictures != null ? pictures[slot] : ShapeImages.draw(visualClass, random);
        return new Item(visualClass, image, codes.get(slot), labels.get(slot));
    }

    private static String word(SplittableRandom random, int letters, char first) {
        StringBuilder word = new StringBuilder(letters);
        for (int i = 0; i < letters; i++) {
            word.append((char) (first + random.nextInt(26)));
        }
        return word.toString();
    }
}

package dev.emloc.bench.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

class IclEpisodesTest {

    @Test
    void everyClassKeepsOneLabelAndLabelsAreFreshPerEpisode() {
        SplittableRandom random = new SplittableRandom(3);
        IclEpisodes.Episode first = IclEpisodes.draw(random, 5, 23, 7, false);
        IclEpisodes.Episode second = IclEpisodes.draw(random, 5, 23, 7, false);
        for (IclEpisodes.Episode episode : List.of(first, second)) {
            assertThat(episode.classes()).doesNotHaveDuplicates().hasSize(5);
            assertThat(episode.labels()).allMatch(l -> l.matches("[a-z]{2}"));
            assertThat(episode.labels().stream().map(l -> l.charAt(0)).distinct()).hasSize(5);
            Map<Integer, String> labelOf = new HashMap<>();
            for (IclEpisodes.Item item : episode.demos()) {
                assertThat(labelOf.computeIfAbsent(item.visualClass(), c -> item.label())).isEqualTo(item.label());
                assertThat(item.label()).isEqualTo(episode.labels().get(episode.classes().indexOf(item.visualClass())));
            }
            for (IclEpisodes.Item query : episode.queries()) {
                assertThat(labelOf).containsEntry(query.visualClass(), query.label());
            }
            Map<Integer, Integer> counts = new HashMap<>();
            episode.demos().forEach(d -> counts.merge(d.visualClass(), 1, Integer::sum));
            assertThat(counts.values()).allMatch(c -> c == 4 || c == 5); // 23 demonstrations over 5 classes, balanced
        }
        assertThat(first.labels()).isNotEqualTo(second.labels());
    }

    @Test
    void aSeedReproducesTheSamePicturesAndDifferentDrawsDiffer() {
        IclEpisodes.Episode a = IclEpisodes.draw(new SplittableRandom(11), 4, 6, 2, false);
        IclEpisodes.Episode b = IclEpisodes.draw(new SplittableRandom(11), 4, 6, 2, false);
        assertThat(a).isEqualTo(b);
        Set<Integer> distinct = new HashSet<>();
        a.demos().forEach(d -> distinct.add(java.util.Arrays.hashCode(d.image().rgb())));
        assertThat(distinct).hasSize(6);
        assertThat(a.demos().get(0).image().width()).isEqualTo(ShapeImages.SIZE);
    }

    @Test
    void picturesShowTheirClassColourInsideTheShape() {
        SplittableRandom random = new SplittableRandom(5);
        for (int visualClass = 0; visualClass < ShapeImages.CLASSES; visualClass++) {
            var image = ShapeImages.draw(visualClass, random);
            long saturated = 0;
            for (int y = 0; y < image.height(); y++) {
                for (int x = 0; x < image.width(); x++) {
                    saturated += saturated(image, x, y) ? 1 : 0;
                }
            }
            assertThat(saturated).as(ShapeImages.name(visualClass)).isGreaterThan(150);
        }
    }

    @Test
    void everyShapeCoversAllFourQuadrantsSoEachImageTokenShowsPartOfIt() {
        SplittableRandom random = new SplittableRandom(8);
        int half = ShapeImages.SIZE / 2;
        for (int draw = 0; draw < 200; draw++) {
            int visualClass = draw % ShapeImages.CLASSES;
            var image = ShapeImages.draw(visualClass, random);
            int[] saturatedPerQuadrant = new int[4];
            for (int y = 0; y < image.height(); y++) {
                for (int x = 0; x < image.width(); x++) {
                    if (saturated(image, x, y)) {
                        saturatedPerQuadrant[(y / half) * 2 + x / half]++;
                    }
                }
            }
            assertThat(saturatedPerQuadrant).as("%s, draw %d", ShapeImages.name(visualClass), draw).doesNotContain(0);
        }
    }

    @Test
    void withSamePictureEveryPictureOfAClassIsOneDrawing() {
        IclEpisodes.Episode episode = IclEpisodes.draw(new SplittableRandom(4), 3, 9, 3, false, IclEpisodes.CODE_LETTERS, true);
        Map<Integer, byte[]> pictureOf = new HashMap<>();
        for (IclEpisodes.Item item : concat(episode.demos(), episode.queries())) {
            assertThat(pictureOf.computeIfAbsent(item.visualClass(), c -> item.image().rgb())).isEqualTo(item.image().rgb());
        }
        assertThat(pictureOf).hasSize(3);
        IclEpisodes.Episode varied = IclEpisodes.draw(new SplittableRandom(4), 3, 9, 3, false, IclEpisodes.CODE_LETTERS, false);
        assertThat(varied.demos().stream().map(d -> java.util.Arrays.hashCode(d.image().rgb())).distinct()).hasSize(9);
        assertThat(varied).isEqualTo(IclEpisodes.draw(new SplittableRandom(4), 3, 9, 3, false));
    }

    /** A strongly coloured pixel: inside a shape; the grey background never is. */
    private static boolean saturated(dev.emloc.vision.RgbImage image, int x, int y) {
        int max = Math.max(image.sample(x, y, 0), Math.max(image.sample(x, y, 1), image.sample(x, y, 2)));
        int min = Math.min(image.sample(x, y, 0), Math.min(image.sample(x, y, 1), image.sample(x, y, 2)));
        return max - min > 80;
    }

    private static List<IclEpisodes.Item> concat(List<IclEpisodes.Item> a, List<IclEpisodes.Item> b) {
        List<IclEpisodes.Item> all = new java.util.ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    @Test
    void theTextOnlyVariantUsesCodesInsteadOfPictures() {
        IclEpisodes.Episode episode = IclEpisodes.draw(new SplittableRandom(1), 3, 5, 1, true);
        assertThat(episode.demos()).allMatch(d -> d.image() == null && d.code().matches("[A-Z]{3}"));
        assertThat(episode.demos().get(0).user().text()).isEqualTo("What is " + episode.demos().get(0).code() + "?");
        IclEpisodes.Episode short1 = IclEpisodes.draw(new SplittableRandom(1), 5, 9, 1, true, 1);
        assertThat(short1.demos()).allMatch(d -> d.code().matches("[A-Z]"));
        assertThat(short1.demos().stream().map(IclEpisodes.Item::code).distinct()).hasSize(5);
        assertThatThrownBy(() -> IclEpisodes.draw(new SplittableRandom(1), 3, 5, 1, true, 4))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("codeLetters");
    }

    @Test
    void descriptionSequencesAnswerEachPictureWithItsFixedCodeAndAQuestionOfTheSameLength() {
        List<IclEpisodes.Item> sequence = IclEpisodes.describe(new SplittableRandom(5), 40);
        assertThat(sequence).hasSize(40).allMatch(IclEpisodes.Item::description)
                .allMatch(item -> item.label().equals(IclEpisodes.descriptionCode(item.visualClass())));
        assertThat(sequence.get(0).user().text()).isEqualTo(IclEpisodes.DESCRIBE_QUESTION);
        assertThat(IclEpisodes.DESCRIBE_QUESTION).hasSameSizeAs(IclEpisodes.QUESTION);
        assertThat(IclEpisodes.descriptionCode(0)).isEqualTo("rc");
        assertThat(java.util.stream.IntStream.range(0, ShapeImages.CLASSES).mapToObj(IclEpisodes::descriptionCode).distinct())
                .hasSize(ShapeImages.CLASSES);
        assertThat(IclEpisodes.draw(new SplittableRandom(1), 3, 5, 1, false).demos()).noneMatch(IclEpisodes.Item::description);
    }

    @Test
    void spellingSequencesAnswerEachCodeWithItsFirstAndLastLetters() {
        List<IclEpisodes.Item> sequence = IclEpisodes.spell(new SplittableRandom(3), 20, 3);
        assertThat(sequence).hasSize(20).allMatch(IclEpisodes.Item::description).allMatch(item -> item.image() == null);
        for (IclEpisodes.Item item : sequence) {
            assertThat(item.code()).matches("[A-Z]{3}");
            assertThat(item.label()).isEqualTo(("" + item.code().charAt(0) + item.code().charAt(2)).toLowerCase());
            assertThat(item.user().text()).isEqualTo("Spell " + item.code() + "?");
        }
        assertThat(IclEpisodes.spell(new SplittableRandom(3), 5, 1)).allMatch(item -> item.label().equals(
                (item.code() + item.code()).toLowerCase()));
    }

    @Test
    void visualCodesTellEveryTwoClassesApartByTheirFirstLetter() {
        Set<Character> first = new HashSet<>();
        for (int c = 0; c < ShapeImages.CLASSES; c++) {
            String code = IclEpisodes.visualCode(c, 4);
            assertThat(code).matches("[A-Z]{4}").startsWith(IclEpisodes.visualCode(c, 1));
            assertThat(IclEpisodes.visualCode(c, 4)).isEqualTo(code);
            first.add(code.charAt(0));
        }
        assertThat(first).hasSize(ShapeImages.CLASSES);
        assertThatThrownBy(() -> IclEpisodes.visualCode(ShapeImages.CLASSES, 1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("class in 0..23");
        assertThatThrownBy(() -> IclEpisodes.visualCode(0, 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("0 tokens");
    }
}

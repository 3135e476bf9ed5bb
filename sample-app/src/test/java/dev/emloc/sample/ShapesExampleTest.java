package dev.emloc.sample;

import static org.assertj.core.api.Assertions.assertThat;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import javax.imageio.ImageIO;

import dev.emloc.compress.Demonstration;
import dev.emloc.spring.ai.DemonstrationFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The bundled {@code shapes} set is what {@link ShapesExample} draws, small, and readable as demonstrations. With
 * {@code -Demloc.sample.rewrite-shapes=true} it first draws the set again into the source tree.
 */
class ShapesExampleTest {

    static final Path BUNDLED = Path.of("src/main/resources/examples/shapes");

    @Test
    void theBundledFilesAreWhatTheGeneratorDraws(@TempDir Path fresh) throws IOException {
        if (Boolean.getBoolean("emloc.sample.rewrite-shapes")) {
            org.springframework.util.FileSystemUtils.deleteRecursively(BUNDLED);
            ShapesExample.write(BUNDLED);
        }
        ShapesExample.write(fresh);

        assertThat(BUNDLED.resolve("demos.jsonl")).hasSameTextualContentAs(fresh.resolve("demos.jsonl"));
        assertThat(BUNDLED.resolve("held-out.jsonl")).hasSameTextualContentAs(fresh.resolve("held-out.jsonl"));
        List<Path> pictures = pngs(fresh);
        assertThat(pictures).hasSize(21);
        for (Path picture : pictures) {
            BufferedImage expected = ImageIO.read(fresh.resolve(picture).toFile());
            BufferedImage bundled = ImageIO.read(BUNDLED.resolve(picture).toFile());
            assertThat(bundled.getWidth()).isEqualTo(ShapesExample.SIZE);
            assertThat(bundled.getHeight()).isEqualTo(ShapesExample.SIZE);
            // shapes are filled without antialiasing: the same pixels on every JDK
            assertThat(differingPixels(bundled, expected)).as("pixels of %s that differ", picture).isZero();
        }
        assertThat(pngs(BUNDLED)).containsExactlyInAnyOrderElementsOf(pictures);
    }

    @Test
    void theSetIsSmallAndEachLabelNamesOneShape() throws IOException {
        long bytes;
        try (Stream<Path> files = Files.walk(BUNDLED)) {
            bytes = files.filter(Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
        }
        assertThat(bytes).isLessThan(160 * 1024);

        List<Demonstration> demos = DemonstrationFiles.readJsonl(BUNDLED.resolve("demos.jsonl"), BUNDLED);
        List<Demonstration> heldOut = DemonstrationFiles.readJsonl(BUNDLED.resolve("held-out.jsonl"), BUNDLED);
        Map<String, Long> perLabel = demos.stream().collect(Collectors.groupingBy(Demonstration::answer, Collectors.counting()));
        assertThat(perLabel).containsOnly(Map.entry("ko", 5L), Map.entry("zu", 5L), Map.entry("pi", 5L));
        assertThat(heldOut).extracting(Demonstration::answer).containsExactlyInAnyOrder("ko", "zu", "pi", "ko", "zu", "pi");
        for (ShapesExample.Picture query : ShapesExample.heldOut()) {
            assertThat(ShapesExample.demonstrations()).as("%s is held out", query.path())
                    .noneMatch(demo -> Arrays.equals(pixels(demo), pixels(query)));
        }
    }

    private static int differingPixels(BufferedImage a, BufferedImage b) {
        int differing = 0;
        for (int y = 0; y < ShapesExample.SIZE; y++) {
            for (int x = 0; x < ShapesExample.SIZE; x++) {
                int p = a.getRGB(x, y);
                int q = b.getRGB(x, y);
                for (int shift = 0; shift < 24; shift += 8) {
                    if (Math.abs((p >> shift & 0xff) - (q >> shift & 0xff)) > 24) {
                        differing++;
                        break;
                    }
                }
            }
        }
        return differing;
    }

    private static byte[] pixels(ShapesExample.Picture picture) {
        return picture.image().rgb();
    }

    private static List<Path> pngs(Path root) throws IOException {
        try (Stream<Path> files = Files.walk(root)) {
            return files.filter(f -> f.toString().endsWith(".png")).map(root::relativize).sorted().toList();
        }
    }
}

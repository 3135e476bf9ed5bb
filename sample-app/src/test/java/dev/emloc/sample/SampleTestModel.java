package dev.emloc.sample;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import dev.emloc.compress.CompressorFixtures;
import org.springframework.util.FileSystemUtils;

/**
 * The model the tests run the application on: the demo model when {@code models/emloc-demo} exists (found by
 * {@link SampleEnvironment}, as the application finds it), otherwise a tiny random Qwen2-VL generated once per JVM.
 * {@code -Demloc.sample.test-model=tiny} forces the tiny one.
 */
final class SampleTestModel {

    private static Path tiny;

    private SampleTestModel() {
    }

    /** The demo model's directory, when the tests should run on it. */
    static Optional<Path> demoModel() {
        if ("tiny".equals(System.getProperty("emloc.sample.test-model"))) {
            return Optional.empty();
        }
        return SampleEnvironment.findDemoModel(Path.of("").toAbsolutePath());
    }

    /** A tiny random checkpoint with a vision tower (56x56 images), written once and deleted when the JVM exits. */
    static synchronized Path tinyCheckpoint() {
        if (tiny == null) {
            try {
                Path dir = Files.createTempDirectory("emloc-sample-tiny-");
                Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                    try {
                        FileSystemUtils.deleteRecursively(dir);
                    } catch (IOException ignored) {
                        // the temporary directory is left for the system to clean
                    }
                }));
                tiny = CompressorFixtures.tinyCheckpoint(dir, true, 7);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return tiny;
    }
}

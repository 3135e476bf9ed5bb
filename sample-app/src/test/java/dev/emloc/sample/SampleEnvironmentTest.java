package dev.emloc.sample;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.entry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.diagnostics.FailureAnalysis;

/** The sample's defaults: where the demo model is looked for, and which store is used. */
class SampleEnvironmentTest {

    @TempDir
    Path root;

    @Test
    void theDemoModelIsFoundUnderTheWorkingDirectoryOrItsParent() throws IOException {
        Path repository = root.resolve("repo");
        Path module = Files.createDirectories(repository.resolve("sample-app"));
        Path demo = checkpoint(repository.resolve("models/emloc-demo"));

        assertThat(SampleEnvironment.defaults(Map.<String, String>of()::get, repository))
                .containsEntry(SampleEnvironment.MODEL_PATH, demo.toString())
                .containsEntry(SampleEnvironment.DEMO_MODEL, "true")
                .containsEntry(SampleEnvironment.RETENTION, "0.9");
        assertThat(SampleEnvironment.defaults(Map.of(SampleEnvironment.RETENTION, "0.1, 0.2")::get, repository))
                .containsEntry(SampleEnvironment.DEMO_MODEL, "true").doesNotContainKey(SampleEnvironment.RETENTION);
        assertThat(SampleEnvironment.defaults(Map.<String, String>of()::get, module))
                .containsEntry(SampleEnvironment.MODEL_PATH, demo.toString());

        Path nearer = checkpoint(module.resolve("models/emloc-demo"));
        assertThat(SampleEnvironment.findDemoModel(module)).contains(nearer);
    }

    @Test
    void withoutTheDemoModelOrAModelPathStartupFailsNamingThePlacesAndTheProperty() throws IOException {
        Path module = Files.createDirectories(root.resolve("repo/sample-app"));
        Files.createDirectories(root.resolve("repo/models/emloc-demo")); // a directory without config.json is no model

        assertThat(SampleEnvironment.defaults(Map.<String, String>of()::get, module))
                .doesNotContainKey(SampleEnvironment.MODEL_PATH);
        assertThatThrownBy(() -> SampleEnvironment.requireModelPath(Map.<String, String>of()::get, module))
                .isInstanceOfSatisfying(DemoModelNotFoundException.class, e -> assertThat(e.searched()).containsExactly(
                        module.resolve("models/emloc-demo"), root.resolve("repo/models/emloc-demo")));

        DemoModelNotFoundException failure = new DemoModelNotFoundException(java.util.List.of(module.resolve("models/emloc-demo")));
        FailureAnalysis analysis = new DemoModelFailureAnalyzer().analyze(failure);
        assertThat(analysis.getDescription()).contains(module.resolve("models/emloc-demo").toString());
        assertThat(analysis.getAction()).contains("spring.ai.emloc.model-path").contains("models/emloc-demo");
    }

    @Test
    void aModelPathSetByTheUserIsLeftAlone() {
        Map<String, Object> defaults = SampleEnvironment.defaults(
                Map.of(SampleEnvironment.MODEL_PATH, "/models/qwen")::get, root);
        assertThat(defaults).doesNotContainKeys(SampleEnvironment.MODEL_PATH, SampleEnvironment.DEMO_MODEL,
                SampleEnvironment.RETENTION);
        SampleEnvironment.requireModelPath(Map.of(SampleEnvironment.MODEL_PATH, "/models/qwen")::get, root);
        SampleEnvironment.requireModelPath(Map.of(SampleEnvironment.CHAT_MODEL, "none")::get, root);
    }

    @Test
    void theStoreIsRedisWhenSpringDataRedisPointsAtOneAndInMemoryOtherwise() {
        Map<String, String> model = Map.of(SampleEnvironment.MODEL_PATH, "/models/qwen");
        assertThat(SampleEnvironment.defaults(model::get, root)).containsExactly(entry(SampleEnvironment.STORE, "in-memory"));
        for (String redis : new String[] {"spring.data.redis.host", "spring.data.redis.url", "spring.data.redis.port",
                "spring.data.redis.sentinel.master", "spring.data.redis.cluster.nodes"}) {
            Map<String, String> set = Map.of(SampleEnvironment.MODEL_PATH, "/models/qwen", redis, "x");
            assertThat(SampleEnvironment.defaults(set::get, root)).as(redis)
                    .containsExactly(entry(SampleEnvironment.STORE, "redis"));
        }
        Map<String, String> explicit = Map.of(SampleEnvironment.MODEL_PATH, "/models/qwen",
                "spring.data.redis.host", "redis", SampleEnvironment.STORE, "in-memory");
        assertThat(SampleEnvironment.defaults(explicit::get, root)).isEmpty();
    }

    private static Path checkpoint(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), "{}");
        return dir;
    }
}

package dev.emloc.sample;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.function.Predicate;

import org.springframework.boot.EnvironmentPostProcessor;
import org.springframework.boot.SpringApplication;
import org.springframework.core.Ordered;
import org.springframework.core.env.ConfigurableEnvironment;
import org.springframework.core.env.MapPropertySource;

/**
 * The sample's defaults, added after every other source so that anything the user sets wins:
 *
 * <ul>
 * <li>{@code spring.ai.emloc.model-path}: the demo model, {@code models/emloc-demo} under the working directory or
 * under its parent (so both a run from the repository root and {@code spring-boot:run} in {@code sample-app/} find
 * it). When neither exists and nothing else sets the property, {@link SampleConfiguration} stops the application with
 * {@link DemoModelNotFoundException} before the model is loaded, and {@link DemoModelFailureAnalyzer} explains.</li>
 * <li>{@code spring.ai.emloc.compression.retention-candidates}: {@value #DEMO_MODEL_RETENTION} with the demo model
 * found here (and unset by the user). The demo model answers right only from nearly whole memories: every smaller
 * fraction passes EMLoC's per-layer divergence test on it and still turns its answers into one label
 * (docs/benchmarks.md, "The multimodal demo model"), so the sample keeps 90% of every chunk at every layer, pruned by
 * EMLoC's importance scores. Any other model gets the starter's defaults.</li>
 * <li>{@code spring.ai.emloc.memory.store}: {@code redis} when {@code spring.data.redis.*} points at a server (a
 * host, URL, port, Sentinel or Cluster), otherwise {@code in-memory}. Spring Data Redis is always on the classpath,
 * so without this the starter would pick Redis on localhost whether one runs there or not.</li>
 * </ul>
 */
public class SampleEnvironment implements EnvironmentPostProcessor, Ordered {

    static final String MODEL_PATH = "spring.ai.emloc.model-path";
    static final String STORE = "spring.ai.emloc.memory.store";
    /** Set to true when the model path is the demo model this class found; read by {@link ModelInfo}. */
    static final String DEMO_MODEL = "emloc.sample.demo-model";
    static final String CHAT_MODEL = "spring.ai.model.chat";
    static final String SOURCE_NAME = "emlocSampleDefaults";
    static final String RETENTION = "spring.ai.emloc.compression.retention-candidates";
    /** The retention candidates with the demo model. */
    static final String DEMO_MODEL_RETENTION = "0.9";

    /** Where the demo model is looked for, relative to the working directory, in this order. */
    static final List<Path> DEMO_MODEL_CANDIDATES = List.of(Path.of("models", "emloc-demo"), Path.of("..", "models", "emloc-demo"));

    private static final List<String> REDIS_PROPERTIES = List.of("spring.data.redis.host", "spring.data.redis.url",
            "spring.data.redis.port", "spring.data.redis.sentinel.master", "spring.data.redis.cluster.nodes");

    @Override
    public void postProcessEnvironment(ConfigurableEnvironment environment, SpringApplication application) {
        Map<String, Object> defaults = defaults(environment::getProperty, Path.of("").toAbsolutePath());
        if (!defaults.isEmpty()) {
            environment.getPropertySources().addLast(new MapPropertySource(SOURCE_NAME, defaults));
        }
    }

    /** After the configuration files are read, so that their settings count as the user's. */
    @Override
    public int getOrder() {
        return Ordered.LOWEST_PRECEDENCE;
    }

    /** What to add, given the properties already set (null when unset) and the working directory. */
    static Map<String, Object> defaults(Function<String, String> property, Path workingDirectory) {
        Predicate<String> isSet = name -> property.apply(name) != null;
        Map<String, Object> defaults = new LinkedHashMap<>();
        if (!isSet.test(MODEL_PATH)) {
            findDemoModel(workingDirectory).ifPresent(demo -> {
                defaults.put(MODEL_PATH, demo.toString());
                defaults.put(DEMO_MODEL, "true");
                if (!isSet.test(RETENTION)) {
                    defaults.put(RETENTION, DEMO_MODEL_RETENTION);
                }
            });
        }
        if (!isSet.test(STORE)) {
            boolean redis = REDIS_PROPERTIES.stream().anyMatch(isSet);
            defaults.put(STORE, redis ? "redis" : "in-memory");
        }
        return defaults;
    }

    /**
     * Stops the application when no model path is set by then (test contexts add theirs after this class ran), naming
     * where the demo model was looked for.
     *
     * @throws DemoModelNotFoundException when {@code spring.ai.emloc.model-path} is unset and the chat model is on
     */
    static void requireModelPath(Function<String, String> property, Path workingDirectory) {
        if (property.apply(MODEL_PATH) == null && !"none".equals(property.apply(CHAT_MODEL))) {
            throw new DemoModelNotFoundException(searched(workingDirectory));
        }
    }

    /** The places the demo model is looked for, absolute. */
    static List<Path> searched(Path workingDirectory) {
        return DEMO_MODEL_CANDIDATES.stream().map(c -> workingDirectory.resolve(c).normalize()).toList();
    }

    /** The first candidate that holds a checkpoint's config.json, as an absolute path. */
    static Optional<Path> findDemoModel(Path workingDirectory) {
        return searched(workingDirectory).stream().filter(dir -> Files.isRegularFile(dir.resolve("config.json"))).findFirst();
    }
}

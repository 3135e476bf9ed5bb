package dev.emloc.sample;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

import dev.emloc.compress.Demonstration;
import dev.emloc.spring.ai.DemonstrationFiles;
import dev.emloc.text.ContentPart;
import jakarta.annotation.PreDestroy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.core.io.Resource;
import org.springframework.core.io.support.PathMatchingResourcePatternResolver;
import org.springframework.stereotype.Component;
import org.springframework.util.FileSystemUtils;
import tools.jackson.databind.json.JsonMapper;

/**
 * The example sets bundled under {@code classpath:examples/<name>/}: {@code demos.jsonl} (the demonstrations, in
 * {@link DemonstrationFiles} format) and {@code held-out.jsonl} (queries the demonstrations do not contain, their
 * answers being the expected labels), with their images. They are copied to a temporary directory at startup,
 * because {@link DemonstrationFiles#readJsonl} reads files, and their images are served under {@code /examples/}.
 */
@Component
public class BundledExamples {

    /** Where the sets are on the classpath. */
    static final String ROOT = "examples";

    private static final Logger log = LoggerFactory.getLogger(BundledExamples.class);
    private static final JsonMapper JSON = JsonMapper.builder().build();

    /** A bundled set, as the page and the API show it. */
    public record Example(String name, int demonstrations, String question, List<HeldOut> heldOut) {
        public Example {
            heldOut = List.copyOf(heldOut);
        }
    }

    /** A held-out query: its picture (a URL of this application) and the label a taught model should answer. */
    public record HeldOut(String image, String question, String label) {
    }

    private final Path directory;
    private final Map<String, Example> examples = new LinkedHashMap<>();

    public BundledExamples() throws IOException {
        this.directory = Files.createTempDirectory("emloc-sample-examples-");
        PathMatchingResourcePatternResolver resolver = new PathMatchingResourcePatternResolver(getClass().getClassLoader());
        Resource[] sets = resolver.getResources("classpath*:" + ROOT + "/*/demos.jsonl");
        for (Resource demos : sets) {
            String base = demos.getURL().toString();
            base = base.substring(0, base.length() - "demos.jsonl".length());
            String name = base.substring(0, base.length() - 1);
            name = name.substring(name.lastIndexOf('/') + 1);
            Path target = directory.resolve(name);
            for (Resource file : resolver.getResources("classpath*:" + ROOT + "/" + name + "/**/*")) {
                String url = file.getURL().toString();
                if (!file.isReadable() || !url.startsWith(base) || url.endsWith("/")) {
                    continue;
                }
                Path copy = target.resolve(url.substring(base.length())).normalize();
                if (!copy.startsWith(target)) {
                    continue;
                }
                Files.createDirectories(copy.getParent());
                try (InputStream in = file.getInputStream()) {
                    Files.copy(in, copy, StandardCopyOption.REPLACE_EXISTING);
                }
            }
            examples.put(name, describe(name, target));
        }
        log.info("Bundled example sets: {}", examples.keySet());
    }

    private static Example describe(String name, Path set) {
        List<Demonstration> demos = DemonstrationFiles.readJsonl(set.resolve("demos.jsonl"), set);
        List<HeldOut> heldOut = new ArrayList<>();
        Path heldOutFile = set.resolve("held-out.jsonl");
        if (Files.exists(heldOutFile)) {
            List<String> images = imagePaths(heldOutFile);
            List<Demonstration> queries = DemonstrationFiles.readJsonl(heldOutFile, set);
            for (int i = 0; i < queries.size(); i++) {
                heldOut.add(new HeldOut("/" + ROOT + "/" + name + "/" + images.get(i), question(queries.get(i)),
                        queries.get(i).answer()));
            }
        }
        return new Example(name, demos.size(), demos.isEmpty() ? "" : question(demos.get(0)), heldOut);
    }

    /** The {@code image} of every line, in order (held-out files have one image per line). */
    private static List<String> imagePaths(Path jsonl) {
        try (Stream<String> lines = Files.lines(jsonl)) {
            return lines.filter(line -> !line.isBlank()).map(line -> JSON.readTree(line).path("image").asString()).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String question(Demonstration demonstration) {
        return demonstration.user().parts().stream().filter(ContentPart.Text.class::isInstance)
                .map(part -> ((ContentPart.Text) part).text()).findFirst().orElse("");
    }

    /** Every bundled set, by name. */
    public List<Example> list() {
        return List.copyOf(examples.values());
    }

    /** The set called {@code name}. */
    public Optional<Example> find(String name) {
        return Optional.ofNullable(examples.get(name));
    }

    /** The demonstrations of the set {@code name}, read from its copy. */
    public Optional<List<Demonstration>> demonstrations(String name) {
        if (!examples.containsKey(name)) {
            return Optional.empty();
        }
        Path set = directory.resolve(name);
        return Optional.of(DemonstrationFiles.readJsonl(set.resolve("demos.jsonl"), set));
    }

    @PreDestroy
    void deleteCopies() throws IOException {
        FileSystemUtils.deleteRecursively(directory);
    }
}

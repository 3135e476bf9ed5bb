package dev.emloc.text;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.zip.GZIPInputStream;

import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The vendored Qwen3 tokenizer ({@code tokenizers/qwen3}, see its NOTICE.md), decompressed once per test run, with
 * its vocabulary read directly from the JSON so that tests can check the tokenizer against it.
 */
final class QwenTokenizerFixture {

    private static final String RESOURCE = "/tokenizers/qwen3/tokenizer.json.gz";

    private static Path tokenizerJson;
    private static QwenTokenizer tokenizer;
    private static Map<String, Integer> vocabulary;

    private QwenTokenizerFixture() {
    }

    /** Path of the decompressed {@code tokenizer.json}, deleted when the JVM exits. */
    static synchronized Path tokenizerJson() {
        if (tokenizerJson == null) {
            try (InputStream in = new GZIPInputStream(QwenTokenizerFixture.class.getResourceAsStream(RESOURCE))) {
                Path dir = Files.createTempDirectory("qwen3-tokenizer");
                Path file = dir.resolve("tokenizer.json");
                Files.copy(in, file);
                dir.toFile().deleteOnExit();
                file.toFile().deleteOnExit();
                tokenizerJson = file;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return tokenizerJson;
    }

    /** One tokenizer shared by the test classes; closed when the JVM exits. */
    static synchronized QwenTokenizer tokenizer() {
        if (tokenizer == null) {
            tokenizer = QwenTokenizer.load(tokenizerJson());
            QwenTokenizer loaded = tokenizer;
            Runtime.getRuntime().addShutdownHook(new Thread(loaded::close));
        }
        return tokenizer;
    }

    /** model.vocab and the added tokens of the JSON, read with Jackson rather than through the tokenizer. */
    static synchronized Map<String, Integer> vocabulary() {
        if (vocabulary == null) {
            JsonNode root;
            try {
                root = JsonMapper.builder().build().readTree(tokenizerJson().toFile());
            } catch (RuntimeException e) {
                throw new IllegalStateException("Cannot read " + tokenizerJson(), e);
            }
            Map<String, Integer> ids = new HashMap<>();
            root.get("model").get("vocab").properties().forEach(entry -> ids.put(entry.getKey(), entry.getValue().asInt()));
            for (JsonNode added : root.get("added_tokens")) {
                ids.put(added.get("content").asString(), added.get("id").asInt());
            }
            vocabulary = ids;
        }
        return vocabulary;
    }

    /** The id of a vocabulary entry (byte-level form), failing the test when the vocabulary lacks it. */
    static long id(String vocabularyEntry) {
        Integer id = vocabulary().get(vocabularyEntry);
        if (id == null) {
            throw new AssertionError("The Qwen3 vocabulary has no entry '" + vocabularyEntry + "'");
        }
        return id;
    }
}

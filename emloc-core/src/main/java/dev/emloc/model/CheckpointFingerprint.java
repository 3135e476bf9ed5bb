package dev.emloc.model;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Collection;
import java.util.HexFormat;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;

import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/** Computes {@link Checkpoint#fingerprint()}: see there for what it distinguishes. */
final class CheckpointFingerprint {

    /** Bumped whenever the hashed content changes, so that old and new fingerprints never collide by accident. */
    private static final String VERSION = "emloc-checkpoint-fingerprint-v1";
    /** Windows sampled per tensor, evenly spaced from its first to its last bytes. */
    static final int SAMPLE_WINDOWS = 8;
    /** Bytes per window. */
    static final int SAMPLE_BYTES = 64;

    /**
     * Bookkeeping keys of {@code config.json} that cannot change what the model computes: the library version and
     * source path that {@code save_pretrained} records, and the declared dtype (the tensors' own dtypes count).
     */
    static final Set<String> IGNORED_CONFIG_KEYS = Set.of("transformers_version", "_name_or_path", "torch_dtype", "dtype");

    private static final ObjectMapper JSON = JsonMapper.builder().build();

    private CheckpointFingerprint() {
    }

    static String compute(JsonNode config, Collection<TensorInfo> tensorsByName, Function<TensorInfo, Safetensors> files) {
        MessageDigest digest = sha256();
        update(digest, VERSION + "\nconfig\n" + JSON.writeValueAsString(canonical(config)) + "\n");
        for (TensorInfo tensor : tensorsByName) {
            update(digest, "tensor\n" + tensor.name() + "\n" + tensor.dtype() + "\n" + tensor.shape() + "\n");
            Safetensors file = files.apply(tensor);
            long length = tensor.byteLength();
            if (length <= (long) SAMPLE_WINDOWS * SAMPLE_BYTES) {
                digest.update(file.read(tensor, 0, (int) length));
            } else {
                for (int window = 0; window < SAMPLE_WINDOWS; window++) {
                    long offset = (length - SAMPLE_BYTES) * window / (SAMPLE_WINDOWS - 1);
                    digest.update(file.read(tensor, offset, SAMPLE_BYTES));
                }
            }
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    /**
     * The same JSON with every object's keys sorted and {@link #IGNORED_CONFIG_KEYS} left out, recursively; arrays keep
     * their order.
     */
    static JsonNode canonical(JsonNode node) {
        if (node.isObject()) {
            Map<String, JsonNode> sorted = new TreeMap<>();
            node.properties().stream().filter(entry -> !IGNORED_CONFIG_KEYS.contains(entry.getKey()))
                    .forEach(entry -> sorted.put(entry.getKey(), canonical(entry.getValue())));
            ObjectNode result = JSON.createObjectNode();
            sorted.forEach(result::set);
            return result;
        }
        if (node.isArray()) {
            ArrayNode result = JSON.createArrayNode();
            node.forEach(element -> result.add(canonical(element)));
            return result;
        }
        return node;
    }

    private static void update(MessageDigest digest, String text) {
        digest.update(text.getBytes(StandardCharsets.UTF_8));
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("The JVM lacks SHA-256, which every Java platform must provide", e);
        }
    }
}

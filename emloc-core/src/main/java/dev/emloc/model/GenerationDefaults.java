package dev.emloc.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalInt;

import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * The sampling defaults a checkpoint ships in {@code generation_config.json}; every field is optional because
 * the file, and each of its keys, may be absent. Request options override these.
 *
 * @param eosTokenIds       ids that end generation ({@code eos_token_id}, a number or a list); empty when unset
 * @param bosTokenId        {@code bos_token_id}
 * @param padTokenId        {@code pad_token_id}
 * @param doSample          {@code do_sample}: false means greedy decoding
 * @param temperature       {@code temperature}, non-negative
 * @param topP              {@code top_p}, in (0, 1]
 * @param topK              {@code top_k}, non-negative (0 disables it)
 * @param repetitionPenalty {@code repetition_penalty}, positive
 * @param maxNewTokens      {@code max_new_tokens}, positive
 */
public record GenerationDefaults(
        List<Integer> eosTokenIds,
        OptionalInt bosTokenId,
        OptionalInt padTokenId,
        Optional<Boolean> doSample,
        OptionalDouble temperature,
        OptionalDouble topP,
        OptionalInt topK,
        OptionalDouble repetitionPenalty,
        OptionalInt maxNewTokens) {

    private static final ObjectMapper JSON = JsonMapper.builder().build();

    public GenerationDefaults {
        eosTokenIds = List.copyOf(eosTokenIds);
        Objects.requireNonNull(bosTokenId, "bosTokenId");
        Objects.requireNonNull(padTokenId, "padTokenId");
        Objects.requireNonNull(doSample, "doSample");
        Objects.requireNonNull(temperature, "temperature");
        Objects.requireNonNull(topP, "topP");
        Objects.requireNonNull(topK, "topK");
        Objects.requireNonNull(repetitionPenalty, "repetitionPenalty");
        Objects.requireNonNull(maxNewTokens, "maxNewTokens");
        for (int id : eosTokenIds) {
            if (id < 0) {
                throw new CheckpointException("eos_token_id " + id + " is negative; token ids start at 0");
            }
        }
        require(temperature.isEmpty() || temperature.getAsDouble() >= 0, "temperature", temperature.orElse(0), "be non-negative");
        require(topP.isEmpty() || (topP.getAsDouble() > 0 && topP.getAsDouble() <= 1), "top_p", topP.orElse(0), "lie in (0, 1]");
        require(topK.isEmpty() || topK.getAsInt() >= 0, "top_k", topK.orElse(0), "be non-negative");
        require(repetitionPenalty.isEmpty() || repetitionPenalty.getAsDouble() > 0, "repetition_penalty",
                repetitionPenalty.orElse(0), "be positive");
        require(maxNewTokens.isEmpty() || maxNewTokens.getAsInt() > 0, "max_new_tokens", maxNewTokens.orElse(0), "be positive");
    }

    private static void require(boolean valid, String key, Number value, String rule) {
        if (!valid) {
            throw new CheckpointException(key + " " + value + " must " + rule);
        }
    }

    /** No defaults: the checkpoint has no {@code generation_config.json}. */
    public static GenerationDefaults empty() {
        return new GenerationDefaults(List.of(), OptionalInt.empty(), OptionalInt.empty(), Optional.empty(),
                OptionalDouble.empty(), OptionalDouble.empty(), OptionalInt.empty(), OptionalDouble.empty(), OptionalInt.empty());
    }

    /** Greedy decoding ({@code do_sample: false}) that stops at any of {@code eosTokenIds}. */
    public static GenerationDefaults greedy(List<Integer> eosTokenIds) {
        return new GenerationDefaults(eosTokenIds, OptionalInt.empty(), OptionalInt.empty(), Optional.of(false),
                OptionalDouble.empty(), OptionalDouble.empty(), OptionalInt.empty(), OptionalDouble.empty(), OptionalInt.empty());
    }

    /** Reads a {@code generation_config.json}. */
    public static GenerationDefaults read(Path file) {
        try {
            return fromJson(JSON.readTree(Files.readString(file)));
        } catch (IOException e) {
            throw new CheckpointException("Cannot read " + file + ": " + e.getMessage(), e);
        } catch (JacksonException e) {
            throw new CheckpointException(file + " is not valid JSON: " + e.getOriginalMessage() + "; fix or delete it", e);
        } catch (CheckpointException e) {
            throw new CheckpointException(file + ": " + e.getMessage() + "; fix or delete the file", e);
        }
    }

    /** Parses the tree of a {@code generation_config.json}; unknown keys are ignored. */
    public static GenerationDefaults fromJson(JsonNode root) {
        if (root == null || !root.isObject()) {
            throw new CheckpointException("generation config must be a JSON object, got " + root);
        }
        List<Integer> eos = new ArrayList<>();
        JsonNode eosNode = root.path("eos_token_id");
        if (eosNode.isArray()) {
            for (JsonNode id : eosNode) {
                eos.add(tokenId(id, "eos_token_id"));
            }
        } else if (!eosNode.isMissingNode() && !eosNode.isNull()) {
            eos.add(tokenId(eosNode, "eos_token_id"));
        }
        JsonNode doSample = root.path("do_sample");
        return new GenerationDefaults(eos, optionalInt(root, "bos_token_id"), optionalInt(root, "pad_token_id"),
                doSample.isBoolean() ? Optional.of(doSample.booleanValue()) : Optional.empty(),
                optionalDouble(root, "temperature"), optionalDouble(root, "top_p"), optionalInt(root, "top_k"),
                optionalDouble(root, "repetition_penalty"), optionalInt(root, "max_new_tokens"));
    }

    /** Renders these defaults as a {@code generation_config.json}; unset fields are left out. */
    public String toJson() {
        Map<String, Object> map = new LinkedHashMap<>();
        bosTokenId.ifPresent(id -> map.put("bos_token_id", id));
        if (eosTokenIds.size() == 1) {
            map.put("eos_token_id", eosTokenIds.get(0));
        } else if (!eosTokenIds.isEmpty()) {
            map.put("eos_token_id", eosTokenIds);
        }
        padTokenId.ifPresent(id -> map.put("pad_token_id", id));
        doSample.ifPresent(sample -> map.put("do_sample", sample));
        temperature.ifPresent(value -> map.put("temperature", value));
        topP.ifPresent(value -> map.put("top_p", value));
        topK.ifPresent(value -> map.put("top_k", value));
        repetitionPenalty.ifPresent(value -> map.put("repetition_penalty", value));
        maxNewTokens.ifPresent(value -> map.put("max_new_tokens", value));
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(map);
    }

    private static int tokenId(JsonNode node, String key) {
        if (!node.isIntegralNumber() || !node.canConvertToInt()) {
            throw new CheckpointException(key + " " + node + " is not an integer token id");
        }
        return node.intValue();
    }

    private static OptionalInt optionalInt(JsonNode root, String key) {
        JsonNode node = root.path(key);
        if (node.isMissingNode() || node.isNull()) {
            return OptionalInt.empty();
        }
        if (!node.isIntegralNumber() || !node.canConvertToInt()) {
            throw new CheckpointException(key + " " + node + " is not an integer");
        }
        return OptionalInt.of(node.intValue());
    }

    private static OptionalDouble optionalDouble(JsonNode root, String key) {
        JsonNode node = root.path(key);
        if (node.isMissingNode() || node.isNull()) {
            return OptionalDouble.empty();
        }
        if (!node.isNumber()) {
            throw new CheckpointException(key + " " + node + " is not a number");
        }
        return OptionalDouble.of(node.doubleValue());
    }
}

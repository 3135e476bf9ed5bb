package dev.emloc.text;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * Writes a tiny Qwen-compatible {@code tokenizer.json} for generated test checkpoints and benchmarks.
 *
 * <p>It is a byte-level BPE without merges: ids 0..255 are the 256 bytes (in GPT-2's byte-to-character
 * alphabet, id = byte value), so every UTF-8 text round-trips, one token per byte. Qwen's special tokens follow as
 * added tokens from id 256, in Qwen's order, so that a model with {@value #VOCAB_SIZE} embedding rows can run the
 * real chat template and vision placeholders.
 *
 * <p>{@link #json(List)} may add whole words after them (ids from {@value #VOCAB_SIZE}) as ordinary, non-special
 * added tokens, so that frequent template words such as {@code "assistant"} are one token each, as in Qwen's own
 * vocabulary.
 */
public final class TinyTokenizerJson {

    /** Ids in the tiny vocabulary: 256 bytes and 14 special tokens. */
    public static final int VOCAB_SIZE = 270;

    private static final int FIRST_SPECIAL_ID = 256;

    private static final List<String> SPECIAL_TOKENS = List.of(
            "<|endoftext|>", "<|im_start|>", "<|im_end|>",
            "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
            "<|quad_start|>", "<|quad_end|>",
            "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>");

    private static final ObjectMapper JSON = JsonMapper.builder().build();

    private TinyTokenizerJson() {
    }

    /** Qwen's special tokens in id order, the first being id 256. */
    public static List<String> specialTokens() {
        return SPECIAL_TOKENS;
    }

    /** Each special token with its id (256..269), in id order. */
    public static Map<String, Integer> specialTokenIds() {
        Map<String, Integer> ids = new LinkedHashMap<>();
        for (int i = 0; i < SPECIAL_TOKENS.size(); i++) {
            ids.put(SPECIAL_TOKENS.get(i), FIRST_SPECIAL_ID + i);
        }
        return Collections.unmodifiableMap(ids);
    }

    /** The text of the {@code tokenizer.json}. */
    public static String json() {
        return json(List.of());
    }

    /**
     * The text of a {@code tokenizer.json} with {@code words} added as single tokens, ids {@value #VOCAB_SIZE},
     * {@value #VOCAB_SIZE} + 1, … in order (the vocabulary then has {@code VOCAB_SIZE + words.size()} ids). Where two
     * words could match at one place, the longer wins.
     *
     * @throws IllegalArgumentException if a word is empty, repeated or one of the special tokens
     */
    public static String json(List<String> words) {
        for (String word : words) {
            if (word.isEmpty() || SPECIAL_TOKENS.contains(word)) {
                throw new IllegalArgumentException("Added word '" + word + "' is empty or a special token");
            }
        }
        if (words.stream().distinct().count() != words.size()) {
            throw new IllegalArgumentException("Added words repeat: " + words);
        }
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("version", "1.0");
        root.put("truncation", null);
        root.put("padding", null);
        root.put("added_tokens", addedTokens(words));
        root.put("normalizer", null);
        root.put("pre_tokenizer", byteLevel());
        root.put("post_processor", null);
        root.put("decoder", byteLevel());
        root.put("model", model());
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root);
    }

    /**
     * Writes the {@code tokenizer.json} to {@code file}, creating its directory if needed.
     *
     * @throws TokenizerException if the file cannot be written
     */
    public static void write(Path file) {
        write(file, List.of());
    }

    /**
     * Writes the {@code tokenizer.json} of {@link #json(List)} to {@code file}, creating its directory if needed.
     *
     * @throws TokenizerException if the file cannot be written
     */
    public static void write(Path file, List<String> words) {
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            Files.writeString(file, json(words));
        } catch (IOException e) {
            throw new TokenizerException("Cannot write the tiny tokenizer to " + file + ": " + e.getMessage(), e);
        }
    }

    private static List<Map<String, Object>> addedTokens(List<String> words) {
        List<Map<String, Object>> tokens = new ArrayList<>();
        specialTokenIds().forEach((content, id) -> tokens.add(addedToken(id, content, true)));
        for (int i = 0; i < words.size(); i++) {
            tokens.add(addedToken(VOCAB_SIZE + i, words.get(i), false));
        }
        return tokens;
    }

    private static Map<String, Object> addedToken(int id, String content, boolean special) {
        Map<String, Object> token = new LinkedHashMap<>();
        token.put("id", id);
        token.put("content", content);
        token.put("single_word", false);
        token.put("lstrip", false);
        token.put("rstrip", false);
        token.put("normalized", false);
        token.put("special", special);
        return token;
    }

    private static Map<String, Object> byteLevel() {
        Map<String, Object> byteLevel = new LinkedHashMap<>();
        byteLevel.put("type", "ByteLevel");
        byteLevel.put("add_prefix_space", false);
        byteLevel.put("trim_offsets", false);
        byteLevel.put("use_regex", true);
        return byteLevel;
    }

    private static Map<String, Object> model() {
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int b = 0; b < 256; b++) {
            vocab.put(String.valueOf(ByteLevel.charOf(b)), b);
        }
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", null);
        model.put("continuing_subword_prefix", null);
        model.put("end_of_word_suffix", null);
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("ignore_merges", false);
        model.put("vocab", vocab);
        model.put("merges", List.of());
        return model;
    }
}

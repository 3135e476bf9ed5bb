package dev.emloc.text;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.PropertyNamingStrategies;
import tools.jackson.databind.json.JsonMapper;

/**
 * A Qwen (byte-level BPE) tokenizer read from a Hugging Face {@code tokenizer.json}.
 *
 * <p>Encoding and decoding run in DJL's binding of the Hugging Face {@code tokenizers} library, built with
 * truncation, padding and automatic special tokens all off: DJL would otherwise cut every text to 512 tokens.
 * Special tokens written in the text, such as {@code <|im_start|>}, become their single ids. The vocabulary,
 * the added tokens and the bytes behind each token are read from the same file, so that ids of special tokens
 * are looked up rather than hard-coded and text can be decoded one token at a time
 * ({@link IncrementalDetokenizer}).
 *
 * <p>Instances are safe for concurrent use. Close the tokenizer to free its native memory.
 */
public final class QwenTokenizer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(QwenTokenizer.class);

    private static final ObjectMapper JSON = JsonMapper.builder()
            .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .build();

    private final Path path;
    private final HuggingFaceTokenizer tokenizer;
    private final Map<String, Integer> idsByToken;
    private final String[] tokenById;       // (vocabularySize) vocabulary form of each token, null for unused ids
    private final byte[][] bytesById;       // (vocabularySize) bytes each token adds to decoded text
    private final BitSet addedTokenIds;
    private final BitSet specialTokenIds;
    private final Map<String, Integer> specialTokens;

    private QwenTokenizer(Path path, HuggingFaceTokenizer tokenizer, TokenizerFile file) {
        this.path = path;
        this.tokenizer = tokenizer;
        List<AddedToken> added = file.addedTokens() == null ? List.of() : file.addedTokens();
        int size = 0;
        for (int id : file.model().vocab().values()) {
            size = Math.max(size, id + 1);
        }
        for (AddedToken token : added) {
            size = Math.max(size, token.id() + 1);
        }
        this.tokenById = new String[size];
        this.bytesById = new byte[size][];
        this.idsByToken = new HashMap<>(file.model().vocab());
        for (Map.Entry<String, Integer> entry : file.model().vocab().entrySet()) {
            tokenById[entry.getValue()] = entry.getKey();
            bytesById[entry.getValue()] = ByteLevel.bytesOf(entry.getKey());
        }
        this.addedTokenIds = new BitSet(size);
        this.specialTokenIds = new BitSet(size);
        Map<String, Integer> specials = new LinkedHashMap<>();
        for (AddedToken token : added) {
            // The tokenizers library decodes added tokens through the byte-level alphabet too.
            tokenById[token.id()] = token.content();
            bytesById[token.id()] = ByteLevel.bytesOf(token.content());
            idsByToken.put(token.content(), token.id());
            addedTokenIds.set(token.id());
            if (token.special()) {
                specialTokenIds.set(token.id());
                specials.put(token.content(), token.id());
            }
        }
        this.specialTokens = Collections.unmodifiableMap(specials);
    }

    /**
     * Loads a {@code tokenizer.json}.
     *
     * @throws TokenizerException if the file is missing, unreadable, not JSON, or not a byte-level BPE tokenizer
     */
    public static QwenTokenizer load(Path tokenizerJson) {
        Objects.requireNonNull(tokenizerJson, "tokenizerJson");
        long start = System.nanoTime();
        if (Files.isDirectory(tokenizerJson)) {
            throw new TokenizerException(tokenizerJson + " is a directory; pass the tokenizer.json file inside it ("
                    + tokenizerJson.resolve("tokenizer.json") + ")");
        }
        TokenizerFile file = readTokenizerFile(tokenizerJson);
        HuggingFaceTokenizer tokenizer;
        try {
            tokenizer = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(tokenizerJson)
                    .optAddSpecialTokens(false)
                    .optTruncation(false)
                    .optPadding(false)
                    .build();
        } catch (IOException | RuntimeException e) {
            throw new TokenizerException("The Hugging Face tokenizers library could not load " + tokenizerJson + ": "
                    + e.getMessage() + "; check that the file is a tokenizer.json written by the tokenizers library", e);
        }
        QwenTokenizer loaded;
        try {
            loaded = new QwenTokenizer(tokenizerJson, tokenizer, file);
        } catch (RuntimeException e) {
            tokenizer.close();
            throw e;
        }
        LOG.debug("Loaded tokenizer {} ({} ids, {} special tokens) in {} ms", tokenizerJson, loaded.vocabularySize(),
                loaded.specialTokens.size(), (System.nanoTime() - start) / 1_000_000);
        return loaded;
    }

    private static TokenizerFile readTokenizerFile(Path tokenizerJson) {
        TokenizerFile file;
        try (InputStream in = new BufferedInputStream(Files.newInputStream(tokenizerJson), 1 << 16)) {
            file = JSON.readValue(in, TokenizerFile.class);
        } catch (NoSuchFileException e) {
            throw new TokenizerException("Tokenizer file " + tokenizerJson + " does not exist; point at the tokenizer.json"
                    + " of a Hugging Face Qwen2 / Qwen2-VL checkpoint");
        } catch (IOException e) {
            throw new TokenizerException("Cannot read tokenizer file " + tokenizerJson + ": " + e.getMessage(), e);
        } catch (JacksonException e) {
            throw new TokenizerException("Tokenizer file " + tokenizerJson + " is not valid tokenizer JSON: "
                    + e.getOriginalMessage(), e);
        }
        if (file == null || file.model() == null || file.model().vocab() == null) {
            throw new TokenizerException("Tokenizer file " + tokenizerJson + " has no model.vocab; is it a Hugging Face"
                    + " tokenizer.json?");
        }
        if (!"BPE".equals(file.model().type())) {
            throw new TokenizerException("Tokenizer file " + tokenizerJson + " holds a '" + file.model().type()
                    + "' model; only byte-level BPE tokenizers (Qwen2, Qwen2-VL) are supported");
        }
        boolean negativeId = file.model().vocab().values().stream().anyMatch(id -> id == null || id < 0)
                || (file.addedTokens() != null && file.addedTokens().stream().anyMatch(token -> token.id() < 0));
        if (negativeId) {
            throw new TokenizerException("Tokenizer file " + tokenizerJson + " has a missing or negative token id;"
                    + " is it a Hugging Face tokenizer.json?");
        }
        String decoder = file.decoder() == null ? null : file.decoder().type();
        if (!"ByteLevel".equals(decoder)) {
            throw new TokenizerException("Tokenizer file " + tokenizerJson + " has decoder '" + decoder
                    + "'; only byte-level BPE tokenizers (decoder ByteLevel, as in Qwen2 and Qwen2-VL) are supported");
        }
        return file;
    }

    /** The {@code tokenizer.json} this tokenizer was loaded from. */
    public Path path() {
        return path;
    }

    /** Token ids of {@code text}; special tokens written in the text become their single ids. Never truncates. */
    public long[] encode(String text) {
        Objects.requireNonNull(text, "text");
        return tokenizer.encode(text, false, false).getIds();
    }

    /** The text of {@code ids}, special tokens included; ids unknown to the tokenizer are left out. */
    public String decode(long[] ids) {
        return decode(ids, false);
    }

    /** The text of {@code ids}, leaving out special tokens when {@code skipSpecial}; unknown ids are left out. */
    public String decode(long[] ids, boolean skipSpecial) {
        Objects.requireNonNull(ids, "ids");
        return tokenizer.decode(ids, skipSpecial);
    }

    /**
     * The id of a token as written in the vocabulary: an added token such as {@code <|im_end|>}, or a BPE token
     * in byte-level form ({@code Ġ} for a space, {@code Ċ} for a newline).
     *
     * @throws TokenizerException if the tokenizer has no such token
     */
    public int tokenId(String token) {
        return findTokenId(token).orElseThrow(() -> new TokenizerException("Tokenizer " + path + " has no token '"
                + token + "'; is it the tokenizer of a Qwen2 / Qwen2-VL checkpoint?"));
    }

    /** The id of a token as written in the vocabulary, if the tokenizer has it. */
    public OptionalInt findTokenId(String token) {
        Integer id = idsByToken.get(Objects.requireNonNull(token, "token"));
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** The vocabulary form of token {@code id}, if the tokenizer has it. */
    public Optional<String> findToken(long id) {
        return known(id) ? Optional.of(tokenById[(int) id]) : Optional.empty();
    }

    /** Number of token ids, one more than the largest id (the model's embedding may have more rows). */
    public int vocabularySize() {
        return tokenById.length;
    }

    /** The bytes token {@code id} adds to decoded text (empty for an unknown id); may end inside a character. */
    public byte[] tokenBytes(long id) {
        return tokenBytesView(id).clone();
    }

    byte[] tokenBytesView(long id) {
        return known(id) ? bytesById[(int) id] : new byte[0];
    }

    /** Whether {@code id} is an added token declared special, such as {@code <|im_start|>}. */
    public boolean isSpecial(long id) {
        return known(id) && specialTokenIds.get((int) id);
    }

    /** Whether {@code id} is an added token, special or not (such as Qwen3's {@code <think>}). */
    public boolean isAddedToken(long id) {
        return known(id) && addedTokenIds.get((int) id);
    }

    /** The special tokens and their ids, in the order of the file. */
    public Map<String, Integer> specialTokens() {
        return specialTokens;
    }

    private boolean known(long id) {
        return id >= 0 && id < tokenById.length && tokenById[(int) id] != null;
    }

    /** Frees the native tokenizer. */
    @Override
    public void close() {
        tokenizer.close();
    }

    @Override
    public String toString() {
        return "QwenTokenizer[" + path + ", " + vocabularySize() + " ids]";
    }

    /** The parts of {@code tokenizer.json} read on the Java side; merges and the rest stay in the native library. */
    record TokenizerFile(List<AddedToken> addedTokens, BpeModel model, TypedSection decoder) {
    }

    record BpeModel(String type, Map<String, Integer> vocab) {
    }

    record AddedToken(int id, String content, boolean special) {
    }

    record TypedSection(String type) {
    }
}

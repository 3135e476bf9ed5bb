package dev.emloc.spring.ai;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import dev.emloc.compress.Demonstration;
import dev.emloc.text.ChatMessage;
import dev.emloc.text.ContentPart;
import tools.jackson.core.JacksonException;
import tools.jackson.core.StreamReadFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * Reads demonstrations from files. The JSONL format: one JSON object per line, blank lines skipped, UTF-8.
 *
 * <pre>
 * {"question": "What is the total?", "answer": "42.50 EUR", "image": "receipts/001.png"}
 * {"question": "Which shop?", "answer": "Bakery Miller", "images": ["receipts/002-front.png", "receipts/002-back.png"]}
 * {"question": "Colour of code 417?", "answer": "amber"}
 * </pre>
 *
 * <ul>
 * <li>{@code answer} (string, not blank) is required; so is {@code question} (string), which may be empty only when
 * the line has images.</li>
 * <li>{@code image} (one path) or {@code images} (an array of paths), not both: PNG, JPEG, GIF or BMP files, relative
 * to the image directory and inside it (absolute paths and {@code ..} escapes, symbolic links included, are
 * refused). In the user turn the images come first, then the question, in the order given.</li>
 * <li>Any other key is refused, so a typo such as {@code "anwser"} is caught rather than ignored.</li>
 * </ul>
 *
 * Errors are {@link DemonstrationFileException}s naming the file, the line and what to fix; the {@link Limits} bound
 * the file, the number of demonstrations and the images.
 */
public final class DemonstrationFiles {

    /**
     * Bounds on what a file may hold.
     *
     * @param maxFileBytes              largest JSONL file
     * @param maxDemonstrations         most lines with a demonstration
     * @param maxImagesPerDemonstration most images on one line
     * @param maxImageBytes             largest image file
     * @param maxTotalImageBytes        largest sum of the image files
     */
    public record Limits(long maxFileBytes, int maxDemonstrations, int maxImagesPerDemonstration, long maxImageBytes,
            long maxTotalImageBytes) {

        /** Checks that every bound is positive. */
        public Limits {
            if (maxFileBytes < 1 || maxDemonstrations < 1 || maxImagesPerDemonstration < 0 || maxImageBytes < 1
                    || maxTotalImageBytes < 1) {
                throw new IllegalArgumentException("Demonstration file limits must be positive (images per demonstration"
                        + " may be 0), got " + this);
            }
        }

        /** 64 MiB of JSONL, 10,000 demonstrations, 16 images of at most 20 MiB each per line, 2 GiB of images. */
        public static Limits defaults() {
            return new Limits(64L << 20, 10_000, 16, 20L << 20, 2L << 30);
        }
    }

    private static final Set<String> KEYS = Set.of("question", "answer", "image", "images");
    private static final ObjectMapper JSON = JsonMapper.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

    private DemonstrationFiles() {
    }

    /** Reads {@code jsonl} with {@link Limits#defaults()}; images relative to {@code imageDirectory} (null: no images). */
    public static List<Demonstration> readJsonl(Path jsonl, Path imageDirectory) {
        return readJsonl(jsonl, imageDirectory, Limits.defaults());
    }

    /**
     * Reads the demonstrations of {@code jsonl}, in file order.
     *
     * @param imageDirectory where image paths are resolved; null when the file has no images
     * @throws DemonstrationFileException naming the line, for a missing or unreadable file, invalid JSON, a missing or
     *                                    wrong field, an image outside the directory, missing or too large, or a limit
     *                                    exceeded
     */
    public static List<Demonstration> readJsonl(Path jsonl, Path imageDirectory, Limits limits) {
        Path root = imageDirectory == null ? null : realDirectory(jsonl, imageDirectory);
        long size;
        try {
            size = Files.size(jsonl);
        } catch (NoSuchFileException e) {
            throw new DemonstrationFileException(jsonl, 0, "no such file; check the path");
        } catch (IOException e) {
            throw new DemonstrationFileException(jsonl, 0, "cannot be read (" + e.getMessage() + ")", e);
        }
        if (size > limits.maxFileBytes()) {
            throw new DemonstrationFileException(jsonl, 0, "is " + size + " bytes, more than the limit of "
                    + limits.maxFileBytes() + "; split it, or raise maxFileBytes");
        }
        byte[] content;
        try {
            content = Files.readAllBytes(jsonl);
        } catch (IOException e) {
            throw new DemonstrationFileException(jsonl, 0, "cannot be read (" + e.getMessage() + ")", e);
        }
        if (content.length > limits.maxFileBytes()) {
            throw new DemonstrationFileException(jsonl, 0, "is more than the limit of " + limits.maxFileBytes()
                    + " bytes; split it, or raise maxFileBytes");
        }
        List<Demonstration> demonstrations = new ArrayList<>();
        long[] imageBytes = {0};
        int lineNumber = 0;
        for (int start = 0; start < content.length; ) {
            int end = start;
            while (end < content.length && content[end] != '\n') {
                end++;
            }
            lineNumber++;
            String line = decode(jsonl, lineNumber, content, start, end);
            start = end + 1;
            if (lineNumber == 1 && line.startsWith("\uFEFF")) {
                line = line.substring(1);
            }
            if (line.isBlank()) {
                continue;
            }
            if (demonstrations.size() == limits.maxDemonstrations()) {
                throw new DemonstrationFileException(jsonl, lineNumber, "exceeds the limit of "
                        + limits.maxDemonstrations() + " demonstrations; split the file, or raise maxDemonstrations");
            }
            demonstrations.add(demonstration(jsonl, lineNumber, line, root, limits, imageBytes));
        }
        if (demonstrations.isEmpty()) {
            throw new DemonstrationFileException(jsonl, 0, "holds no demonstrations; write one JSON object per line:"
                    + " {\"question\": \"...\", \"answer\": \"...\"}");
        }
        return List.copyOf(demonstrations);
    }

    /** Bytes {@code [start, end)} as strict UTF-8, a trailing carriage return dropped. */
    private static String decode(Path file, int line, byte[] content, int start, int end) {
        int length = end - start;
        if (length > 0 && content[end - 1] == '\r') {
            length--;
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(content, start, length)).toString();
        } catch (CharacterCodingException e) {
            throw new DemonstrationFileException(file, line, "is not valid UTF-8; save the file as UTF-8");
        }
    }

    private static Path realDirectory(Path jsonl, Path imageDirectory) {
        try {
            Path real = imageDirectory.toRealPath();
            if (!Files.isDirectory(real)) {
                throw new DemonstrationFileException(jsonl, 0, "image directory " + imageDirectory + " is not a directory");
            }
            return real;
        } catch (IOException e) {
            throw new DemonstrationFileException(jsonl, 0, "image directory " + imageDirectory + " does not exist or cannot"
                    + " be read (" + e.getMessage() + ")", e);
        }
    }

    private static Demonstration demonstration(Path file, int line, String text, Path root, Limits limits, long[] imageBytes) {
        JsonNode node;
        try {
            node = JSON.readTree(text);
        } catch (JacksonException e) {
            throw new DemonstrationFileException(file, line, "is not valid JSON (" + e.getOriginalMessage() + "); write one"
                    + " object per line: {\"question\": \"...\", \"answer\": \"...\"}");
        }
        if (node == null || !node.isObject()) {
            throw new DemonstrationFileException(file, line, "is not a JSON object; write {\"question\": \"...\","
                    + " \"answer\": \"...\"}");
        }
        for (Map.Entry<String, JsonNode> property : node.properties()) {
            if (!KEYS.contains(property.getKey())) {
                throw new DemonstrationFileException(file, line, "has an unknown key \"" + property.getKey()
                        + "\"; the keys are question, answer, image and images");
            }
        }
        String answer = string(file, line, node, "answer");
        if (answer == null || answer.isBlank()) {
            throw new DemonstrationFileException(file, line, "needs a non-blank \"answer\"");
        }
        String question = string(file, line, node, "question");
        if (question == null) {
            throw new DemonstrationFileException(file, line, "needs a \"question\" (a string; it may be empty when the line"
                    + " has images)");
        }
        List<String> paths = imagePaths(file, line, node, limits);
        if (question.isEmpty() && paths.isEmpty()) {
            throw new DemonstrationFileException(file, line, "has an empty \"question\" and no image; give one or both");
        }
        List<ContentPart> parts = new ArrayList<>();
        for (String path : paths) {
            parts.add(ContentPart.image(readImage(file, line, root, path, limits, imageBytes)));
        }
        if (!question.isEmpty()) {
            parts.add(ContentPart.text(question));
        }
        return new Demonstration(new ChatMessage(ChatMessage.Role.USER, parts), answer);
    }

    private static String string(Path file, int line, JsonNode node, String key) {
        JsonNode value = node.get(key);
        if (value == null || value.isNull()) {
            return null;
        }
        if (!value.isString()) {
            throw new DemonstrationFileException(file, line, "has a \"" + key + "\" that is not a string");
        }
        return value.stringValue();
    }

    private static List<String> imagePaths(Path file, int line, JsonNode node, Limits limits) {
        JsonNode one = node.get("image");
        JsonNode many = node.get("images");
        if (one != null && many != null) {
            throw new DemonstrationFileException(file, line, "has both \"image\" and \"images\"; use \"images\": [...] for"
                    + " several");
        }
        List<String> paths = new ArrayList<>();
        if (one != null) {
            if (!one.isString()) {
                throw new DemonstrationFileException(file, line, "has an \"image\" that is not a string path");
            }
            paths.add(one.stringValue());
        } else if (many != null) {
            if (!many.isArray()) {
                throw new DemonstrationFileException(file, line, "has an \"images\" that is not an array of paths");
            }
            for (JsonNode path : many.values()) {
                if (!path.isString()) {
                    throw new DemonstrationFileException(file, line, "has an \"images\" entry that is not a string path");
                }
                paths.add(path.stringValue());
            }
        }
        if (paths.size() > limits.maxImagesPerDemonstration()) {
            throw new DemonstrationFileException(file, line, "has " + paths.size() + " images, more than the limit of "
                    + limits.maxImagesPerDemonstration());
        }
        return paths;
    }

    private static byte[] readImage(Path file, int line, Path root, String relative, Limits limits, long[] total) {
        if (root == null) {
            throw new DemonstrationFileException(file, line, "names image \"" + relative + "\" but no image directory was"
                    + " given; pass the directory the image paths are relative to");
        }
        if (relative.isBlank() || relative.indexOf('\0') >= 0) {
            throw new DemonstrationFileException(file, line, "has an empty or invalid image path");
        }
        Path path;
        try {
            Path given = Path.of(relative);
            if (given.isAbsolute() || given.getRoot() != null) {
                throw new DemonstrationFileException(file, line, "names image \"" + relative + "\" by an absolute path;"
                        + " give it relative to the image directory " + root);
            }
            path = root.resolve(given).normalize();
        } catch (java.nio.file.InvalidPathException e) {
            throw new DemonstrationFileException(file, line, "has an invalid image path \"" + relative + "\"");
        }
        if (!path.startsWith(root)) {
            throw new DemonstrationFileException(file, line, "names image \"" + relative + "\", which lies outside the image"
                    + " directory " + root + "; images must be inside it ('..' may not leave it)");
        }
        Path real;
        long size;
        try {
            real = path.toRealPath();
            size = Files.size(real);
        } catch (NoSuchFileException e) {
            throw new DemonstrationFileException(file, line, "names image \"" + relative + "\", which does not exist in "
                    + root);
        } catch (IOException e) {
            throw new DemonstrationFileException(file, line, "cannot read image \"" + relative + "\" (" + e.getMessage() + ")",
                    e);
        }
        if (!real.startsWith(root)) {
            throw new DemonstrationFileException(file, line, "names image \"" + relative + "\", a link to " + real
                    + " outside the image directory " + root + "; images must be inside it");
        }
        if (!Files.isRegularFile(real)) {
            throw new DemonstrationFileException(file, line, "names image \"" + relative + "\", which is not a file");
        }
        if (size > limits.maxImageBytes()) {
            throw new DemonstrationFileException(file, line, "names image \"" + relative + "\" of " + size + " bytes, more"
                    + " than the limit of " + limits.maxImageBytes());
        }
        if (size == 0) {
            throw new DemonstrationFileException(file, line, "names image \"" + relative + "\", which is empty");
        }
        total[0] += size;
        if (total[0] > limits.maxTotalImageBytes()) {
            throw new DemonstrationFileException(file, line, "brings the images to more than the limit of "
                    + limits.maxTotalImageBytes() + " bytes in all; split the file, or raise maxTotalImageBytes");
        }
        try {
            return Files.readAllBytes(real);
        } catch (IOException e) {
            throw new DemonstrationFileException(file, line, "cannot read image \"" + relative + "\" (" + e.getMessage() + ")",
                    e);
        }
    }
}

package dev.emloc.text;

import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Qwen's chat template (ChatML), as used by Qwen2 and Qwen2-VL:
 *
 * <pre>
 * &lt;|im_start|&gt;system
 * You are a helpful assistant.&lt;|im_end|&gt;
 * &lt;|im_start|&gt;user
 * Hello&lt;|im_end|&gt;
 * &lt;|im_start|&gt;assistant
 * </pre>
 *
 * <p>Each message renders as {@code <|im_start|>{role}\n{content}<|im_end|>\n}, so the rendering of a
 * conversation is the concatenation of the renderings of its parts: a task memory rendered with the system turn
 * and no generation prompt, followed by a query rendered without the system turn, gives the same ids as the whole
 * conversation rendered at once. As in Hugging Face's {@code apply_chat_template}, special tokens written inside
 * a message's content are encoded as special tokens.
 *
 * <p>The ids of the template's tokens are read from the tokenizer, never hard-coded.
 */
public final class ChatFormat {

    /** Opens a turn. */
    public static final String IM_START = "<|im_start|>";
    /** Closes a turn; the model emits it when its answer is complete. */
    public static final String IM_END = "<|im_end|>";
    /** Ends a document; also a stop token. */
    public static final String END_OF_TEXT = "<|endoftext|>";
    /** Opens an image or a video. */
    public static final String VISION_START = "<|vision_start|>";
    /** Closes an image or a video. */
    public static final String VISION_END = "<|vision_end|>";
    /** Stands for one merged image token; an image occupies {@code t*h*w/4} of them. */
    public static final String IMAGE_PAD = "<|image_pad|>";
    /** Stands for one merged video token. */
    public static final String VIDEO_PAD = "<|video_pad|>";

    private final QwenTokenizer tokenizer;
    private final int imStartId;
    private final int imEndId;
    private final int endOfTextId;
    private final Set<Integer> stopTokenIds;

    /**
     * A chat format over {@code tokenizer}.
     *
     * @throws TokenizerException if the tokenizer lacks {@code <|im_start|>}, {@code <|im_end|>} or
     *                            {@code <|endoftext|>}
     */
    public ChatFormat(QwenTokenizer tokenizer) {
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.imStartId = tokenizer.tokenId(IM_START);
        this.imEndId = tokenizer.tokenId(IM_END);
        this.endOfTextId = tokenizer.tokenId(END_OF_TEXT);
        this.stopTokenIds = Collections.unmodifiableSet(new LinkedHashSet<>(List.of(imEndId, endOfTextId)));
    }

    /** The tokenizer that encodes renderings. */
    public QwenTokenizer tokenizer() {
        return tokenizer;
    }

    /**
     * The prompt text of {@code messages}.
     *
     * @throws IllegalArgumentException if {@code options} leave the system turn out but the conversation has a
     *                                  system message
     */
    public String render(List<ChatMessage> messages, RenderOptions options) {
        Objects.requireNonNull(messages, "messages");
        Objects.requireNonNull(options, "options");
        StringBuilder text = new StringBuilder();
        boolean startsWithSystem = !messages.isEmpty() && messages.get(0).role() == ChatMessage.Role.SYSTEM;
        if (options.includeSystem() && !startsWithSystem) {
            appendTurn(text, ChatMessage.Role.SYSTEM.templateName(), options.defaultSystemPrompt());
        }
        for (int i = 0; i < messages.size(); i++) {
            ChatMessage message = Objects.requireNonNull(messages.get(i), "messages must not contain null");
            if (!options.includeSystem() && message.role() == ChatMessage.Role.SYSTEM) {
                throw new IllegalArgumentException("Message " + i + " is a system message, but the render options leave"
                        + " the system turn out (includeSystem=false), as for a query after a task memory that already"
                        + " holds it; drop the system message or render with includeSystem(true)");
            }
            appendTurn(text, message);
        }
        if (options.addGenerationPrompt()) {
            text.append(IM_START).append(ChatMessage.Role.ASSISTANT.templateName()).append('\n');
        }
        return text.toString();
    }

    /**
     * The prompt token ids of text-only {@code messages}: the tokenized {@link #render rendering}.
     *
     * @throws IllegalArgumentException if a message carries an image or video (use the overload with token counts)
     */
    public long[] encode(List<ChatMessage> messages, RenderOptions options) {
        if (messages.stream().anyMatch(ChatMessage::hasVision)) {
            throw new IllegalArgumentException("The conversation carries images or videos; encode it with"
                    + " encode(messages, options, visionTokenCounts), giving each one's number of merged tokens");
        }
        return tokenizer.encode(render(messages, options));
    }

    /**
     * The prompt token ids of a conversation with images and videos: each one renders as
     * {@code <|vision_start|>} + N x {@code <|image_pad|>} (or {@code <|video_pad|>}) + {@code <|vision_end|>},
     * N being its entry in {@code visionTokenCounts} (in order of appearance; {@code t*h*w/4} for Qwen2-VL).
     *
     * @throws IllegalArgumentException if the counts do not match the images and videos, or if message text
     *                                  itself contains a pad token
     */
    public long[] encode(List<ChatMessage> messages, RenderOptions options, List<Integer> visionTokenCounts) {
        List<ContentPart> vision = visionParts(messages);
        if (vision.size() != visionTokenCounts.size()) {
            throw new IllegalArgumentException("The conversation has " + vision.size() + " images/videos but "
                    + visionTokenCounts.size() + " token counts were given");
        }
        long[] rendered = tokenizer.encode(render(messages, options));
        if (vision.isEmpty()) {
            return rendered;
        }
        long imagePad = tokenizer.tokenId(IMAGE_PAD);
        long videoPad = tokenizer.tokenId(VIDEO_PAD);
        long total = rendered.length;
        for (int count : visionTokenCounts) {
            if (count <= 0) {
                throw new IllegalArgumentException("Vision token counts must be positive, got " + visionTokenCounts);
            }
            total += count - 1;
        }
        long[] ids = new long[Math.toIntExact(total)];
        int out = 0;
        int next = 0;
        for (long id : rendered) {
            if (id == imagePad || id == videoPad) {
                boolean expected = next < vision.size()
                        && (vision.get(next) instanceof ContentPart.Image ? id == imagePad : id == videoPad);
                if (!expected) {
                    throw new IllegalArgumentException("Message text contains " + (id == imagePad ? IMAGE_PAD : VIDEO_PAD)
                            + " written out; remove it from the text and pass images and videos as content parts");
                }
                int count = visionTokenCounts.get(next++);
                java.util.Arrays.fill(ids, out, out + count, id);
                out += count;
            } else {
                ids[out++] = id;
            }
        }
        if (next != vision.size()) {
            throw new IllegalArgumentException("Expected " + vision.size() + " vision placeholders in the rendering but"
                    + " found " + next + "; does the tokenizer define " + IMAGE_PAD + " and " + VIDEO_PAD + " as special tokens?");
        }
        return ids;
    }

    /** The images and videos of {@code messages}, in order of appearance. */
    public static List<ContentPart> visionParts(List<ChatMessage> messages) {
        List<ContentPart> vision = new java.util.ArrayList<>();
        for (ChatMessage message : messages) {
            for (ContentPart part : message.parts()) {
                if (!(part instanceof ContentPart.Text)) {
                    vision.add(part);
                }
            }
        }
        return vision;
    }

    private static void appendTurn(StringBuilder text, String role, String content) {
        text.append(IM_START).append(role).append('\n').append(content).append(IM_END).append('\n');
    }

    private static void appendTurn(StringBuilder text, ChatMessage message) {
        text.append(IM_START).append(message.role().templateName()).append('\n');
        for (ContentPart part : message.parts()) {
            if (part instanceof ContentPart.Text t) {
                text.append(t.text());
            } else {
                text.append(VISION_START).append(part instanceof ContentPart.Image ? IMAGE_PAD : VIDEO_PAD).append(VISION_END);
            }
        }
        text.append(IM_END).append('\n');
    }

    /** Id of {@code <|im_start|>}. */
    public int imStartId() {
        return imStartId;
    }

    /** Id of {@code <|im_end|>}. */
    public int imEndId() {
        return imEndId;
    }

    /** Id of {@code <|endoftext|>}. */
    public int endOfTextId() {
        return endOfTextId;
    }

    /** The ids that end generation: {@code <|im_end|>} and {@code <|endoftext|>}. */
    public Set<Integer> stopTokenIds() {
        return stopTokenIds;
    }

    /** Whether {@code id} ends generation. */
    public boolean isStopToken(long id) {
        return id == imEndId || id == endOfTextId;
    }
}

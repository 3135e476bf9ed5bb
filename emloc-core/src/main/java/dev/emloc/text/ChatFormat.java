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
            appendTurn(text, message.role().templateName(), message.content());
        }
        if (options.addGenerationPrompt()) {
            text.append(IM_START).append(ChatMessage.Role.ASSISTANT.templateName()).append('\n');
        }
        return text.toString();
    }

    /** The prompt token ids of {@code messages}: the tokenized {@link #render rendering}. */
    public long[] encode(List<ChatMessage> messages, RenderOptions options) {
        return tokenizer.encode(render(messages, options));
    }

    private static void appendTurn(StringBuilder text, String role, String content) {
        text.append(IM_START).append(role).append('\n').append(content).append(IM_END).append('\n');
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

package dev.emloc.text;

import java.util.Objects;

/**
 * How {@link ChatFormat} renders a conversation.
 *
 * @param includeSystem       whether the rendering opens with a system turn: the conversation's own system message
 *                            if it starts with one, otherwise {@code defaultSystemPrompt}. Off for a query that
 *                            follows a task memory, which already holds the system turn; the conversation must then
 *                            have no system message.
 * @param addGenerationPrompt whether to end with an open assistant turn, {@code <|im_start|>assistant\n}, for the
 *                            model to complete
 * @param defaultSystemPrompt the system prompt used when the conversation has none
 */
public record RenderOptions(boolean includeSystem, boolean addGenerationPrompt, String defaultSystemPrompt) {

    /** Qwen's default system prompt. */
    public static final String DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant.";

    public RenderOptions {
        Objects.requireNonNull(defaultSystemPrompt, "defaultSystemPrompt");
    }

    /** System turn and generation prompt: the prompt of a fresh conversation. */
    public static RenderOptions prompt() {
        return builder().build();
    }

    /** A builder that starts from {@link #prompt()}. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding these options. */
    public Builder mutate() {
        return new Builder().includeSystem(includeSystem).addGenerationPrompt(addGenerationPrompt)
                .defaultSystemPrompt(defaultSystemPrompt);
    }

    /** Builder for {@link RenderOptions}; by default system turn and generation prompt are both on. */
    public static final class Builder {
        private boolean includeSystem = true;
        private boolean addGenerationPrompt = true;
        private String defaultSystemPrompt = DEFAULT_SYSTEM_PROMPT;

        private Builder() {
        }

        /** Whether to open with a system turn. */
        public Builder includeSystem(boolean value) {
            includeSystem = value;
            return this;
        }

        /** Whether to end with {@code <|im_start|>assistant\n}. */
        public Builder addGenerationPrompt(boolean value) {
            addGenerationPrompt = value;
            return this;
        }

        /** The system prompt used when the conversation has none. */
        public Builder defaultSystemPrompt(String value) {
            defaultSystemPrompt = value;
            return this;
        }

        public RenderOptions build() {
            return new RenderOptions(includeSystem, addGenerationPrompt, defaultSystemPrompt);
        }
    }
}

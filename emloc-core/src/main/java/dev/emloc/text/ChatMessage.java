package dev.emloc.text;

import java.util.Locale;
import java.util.Objects;

/**
 * One turn of a conversation: who speaks and what they say.
 *
 * @param role    the speaker
 * @param content the text of the turn, written into the prompt as is
 */
public record ChatMessage(Role role, String content) {

    /** The speaker of a turn, with the name the chat template writes after {@code <|im_start|>}. */
    public enum Role {
        SYSTEM, USER, ASSISTANT;

        /** The name in the template: {@code system}, {@code user} or {@code assistant}. */
        public String templateName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, () -> "content of a " + role.templateName() + " message must not be null");
    }

    /** A system message. */
    public static ChatMessage system(String content) {
        return new ChatMessage(Role.SYSTEM, content);
    }

    /** A user message. */
    public static ChatMessage user(String content) {
        return new ChatMessage(Role.USER, content);
    }

    /** An assistant message. */
    public static ChatMessage assistant(String content) {
        return new ChatMessage(Role.ASSISTANT, content);
    }
}

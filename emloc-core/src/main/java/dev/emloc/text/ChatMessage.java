package dev.emloc.text;

import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * One turn of a conversation: who speaks and what they say, as text, images and videos in order.
 *
 * @param role  the speaker
 * @param parts the content of the turn, at least one part
 */
public record ChatMessage(Role role, List<ContentPart> parts) {

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
        Objects.requireNonNull(parts, () -> "content of a " + role.templateName() + " message must not be null");
        parts = List.copyOf(parts);
        if (role != Role.USER && parts.stream().anyMatch(p -> !(p instanceof ContentPart.Text))) {
            throw new IllegalArgumentException("Only user messages can carry images or videos; a " + role.templateName()
                    + " message holds text only");
        }
    }

    /** A text-only turn. */
    public ChatMessage(Role role, String content) {
        this(role, List.of(new ContentPart.Text(Objects.requireNonNull(content,
                () -> "content of a " + Objects.requireNonNull(role, "role").templateName() + " message must not be null"))));
    }

    /** A system message. */
    public static ChatMessage system(String content) {
        return new ChatMessage(Role.SYSTEM, content);
    }

    /** A user message. */
    public static ChatMessage user(String content) {
        return new ChatMessage(Role.USER, content);
    }

    /** A user message of text, images and videos in the given order. */
    public static ChatMessage user(ContentPart... parts) {
        return new ChatMessage(Role.USER, List.of(parts));
    }

    /** An assistant message. */
    public static ChatMessage assistant(String content) {
        return new ChatMessage(Role.ASSISTANT, content);
    }

    /** The text parts joined, without images or videos. */
    public String text() {
        StringBuilder text = new StringBuilder();
        for (ContentPart part : parts) {
            if (part instanceof ContentPart.Text t) {
                text.append(t.text());
            }
        }
        return text.toString();
    }

    /** Whether the turn carries an image or a video. */
    public boolean hasVision() {
        return parts.stream().anyMatch(p -> !(p instanceof ContentPart.Text));
    }
}

package dev.emloc.compress;

import java.util.List;
import java.util.Objects;

import dev.emloc.text.ChatMessage;
import dev.emloc.text.ContentPart;

/**
 * One example of a task: a user turn (text, images or a video) and the assistant's answer.
 *
 * @param user   the user turn
 * @param answer the answer the model should learn to give
 */
public record Demonstration(ChatMessage user, String answer) {

    public Demonstration {
        Objects.requireNonNull(user, "user");
        Objects.requireNonNull(answer, "answer");
        if (user.role() != ChatMessage.Role.USER) {
            throw new IllegalArgumentException("A demonstration's first turn must be a user message, got " + user.role());
        }
        if (answer.isBlank()) {
            throw new IllegalArgumentException("A demonstration needs a non-blank answer: the answer tokens are what EMLoC"
                    + " measures and keeps");
        }
    }

    /** A text demonstration. */
    public static Demonstration of(String question, String answer) {
        return new Demonstration(ChatMessage.user(question), answer);
    }

    /** An image demonstration: the picture first, then the question, as Qwen2-VL's examples do. */
    public static Demonstration withImage(byte[] image, String question, String answer) {
        return new Demonstration(ChatMessage.user(ContentPart.image(image), ContentPart.text(question)), answer);
    }

    /** The two turns. */
    public List<ChatMessage> messages() {
        return List.of(user, ChatMessage.assistant(answer));
    }
}

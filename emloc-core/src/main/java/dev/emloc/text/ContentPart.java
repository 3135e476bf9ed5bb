package dev.emloc.text;

import java.util.List;
import java.util.Objects;

/**
 * One piece of a message: text, an image or a video, in the order they appear in the turn.
 *
 * <p>Images and videos are carried as encoded bytes (PNG, JPEG, ...); the vision processor decodes them.
 * The arrays are not copied: do not change them after handing them over.
 */
public sealed interface ContentPart {

    /** Plain text, written into the prompt as is. */
    record Text(String text) implements ContentPart {
        public Text {
            Objects.requireNonNull(text, "text");
        }
    }

    /** An encoded image (PNG, JPEG, GIF, BMP, ...). */
    record Image(byte[] bytes) implements ContentPart {
        public Image {
            Objects.requireNonNull(bytes, "image bytes");
        }
    }

    /** A video as its encoded frames, in order. */
    record Video(List<byte[]> frames) implements ContentPart {
        public Video {
            frames = List.copyOf(frames);
            if (frames.isEmpty()) {
                throw new IllegalArgumentException("A video needs at least one frame");
            }
        }
    }

    static Text text(String text) {
        return new Text(text);
    }

    static Image image(byte[] bytes) {
        return new Image(bytes);
    }

    static Video video(List<byte[]> frames) {
        return new Video(frames);
    }
}

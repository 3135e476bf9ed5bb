package dev.emloc.sample;

import java.nio.charset.StandardCharsets;

import dev.emloc.vision.ImageDecoder;
import org.springframework.http.HttpStatus;
import org.springframework.util.MimeType;
import org.springframework.util.MimeTypeUtils;
import org.springframework.web.server.ResponseStatusException;

/**
 * Checks an uploaded image before any work is queued for it, so that a bad upload gets its error at once instead of
 * failing a compression or an answer later: its size (413), its type (415) and that it decodes within the model's
 * limits (400).
 */
public final class ImageChecks {

    private final ImageDecoder decoder;
    private final long maxImageBytes;

    ImageChecks(ImageDecoder decoder, long maxImageBytes) {
        this.decoder = decoder;
        this.maxImageBytes = maxImageBytes;
    }

    /**
     * The image's type, after checking it.
     *
     * @param name what to call it in errors (the uploaded file name)
     * @throws ResponseStatusException 413 when larger than {@code spring.ai.emloc.vision.max-image-size}, 415 when
     *                                 not PNG, JPEG, GIF or BMP
     * @throws dev.emloc.vision.ImageInputException when it does not decode or has too many pixels
     */
    public MimeType check(String name, byte[] bytes) {
        if (bytes.length > maxImageBytes) {
            throw new ResponseStatusException(HttpStatus.CONTENT_TOO_LARGE, "Image '" + name + "' is " + bytes.length
                    + " bytes, more than the " + maxImageBytes + " bytes allowed (spring.ai.emloc.vision.max-image-size);"
                    + " send a smaller image");
        }
        MimeType type = sniff(bytes);
        if (type == null) {
            throw new ResponseStatusException(HttpStatus.UNSUPPORTED_MEDIA_TYPE, "File '" + name + "' is not a PNG, JPEG,"
                    + " GIF or BMP image" + (bytes.length == 0 ? " (it is empty)" : "") + "; send one of those");
        }
        decoder.decode(bytes);
        return type;
    }

    /** Largest image accepted, in bytes. */
    public long maxImageBytes() {
        return maxImageBytes;
    }

    /** The type the first bytes announce, or null for anything but PNG, JPEG, GIF and BMP. */
    static MimeType sniff(byte[] b) {
        if (b.length >= 8 && (b[0] & 0xff) == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') {
            return MimeTypeUtils.IMAGE_PNG;
        }
        if (b.length >= 3 && (b[0] & 0xff) == 0xff && (b[1] & 0xff) == 0xd8 && (b[2] & 0xff) == 0xff) {
            return MimeTypeUtils.IMAGE_JPEG;
        }
        if (b.length >= 6 && new String(b, 0, 4, StandardCharsets.ISO_8859_1).equals("GIF8")) {
            return MimeTypeUtils.IMAGE_GIF;
        }
        if (b.length >= 2 && b[0] == 'B' && b[1] == 'M') {
            return MimeType.valueOf("image/bmp");
        }
        return null;
    }
}

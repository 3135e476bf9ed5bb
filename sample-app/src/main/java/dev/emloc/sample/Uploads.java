package dev.emloc.sample;

import java.io.IOException;
import java.io.UncheckedIOException;

import org.springframework.web.multipart.MultipartFile;

/** Reading multipart uploads. */
final class Uploads {

    private Uploads() {
    }

    /** Whether a file was sent: browsers send an empty part without a file name for a file input left empty. */
    static boolean isPresent(MultipartFile file) {
        return file != null && !(file.isEmpty() && (file.getOriginalFilename() == null
                || file.getOriginalFilename().isEmpty()));
    }

    /** The upload's bytes. */
    static byte[] bytes(MultipartFile file) {
        try {
            return file.getBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("Could not read the upload '" + file.getOriginalFilename() + "'", e);
        }
    }

    /** A file name safe to use inside a temporary directory: its last path element, with odd characters replaced. */
    static String safeFileName(String original, int index) {
        String name = original == null ? "" : original.replace('\\', '/');
        name = name.substring(name.lastIndexOf('/') + 1).replaceAll("[^A-Za-z0-9._-]", "_");
        if (name.isEmpty() || name.startsWith(".")) {
            name = "image-" + index + name;
        }
        return name;
    }
}

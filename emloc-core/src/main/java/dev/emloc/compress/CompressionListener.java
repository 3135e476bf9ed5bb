package dev.emloc.compress;

/** Receives compression progress; called on the compressing thread, so keep it quick. */
@FunctionalInterface
public interface CompressionListener {

    CompressionListener NONE = progress -> { };

    void onProgress(CompressionProgress progress);
}

package dev.emloc.generate;

import java.util.List;

/**
 * Watches generated text for stop strings. Text that could still turn into a stop string is held back
 * from the stream, so a client never sees part of a stop string.
 */
final class StopStrings {

    private final List<String> stops;
    private final StringBuilder text = new StringBuilder();
    private int released;
    private int cut = -1;

    StopStrings(List<String> stops) {
        this.stops = stops;
    }

    /** Adds decoded text and returns the part that is now safe to stream. */
    String accept(String delta) {
        if (cut >= 0) {
            return "";
        }
        int searchFrom = Math.max(0, text.length() - longestStop());
        text.append(delta);
        int found = -1;
        for (String stop : stops) {
            int at = text.indexOf(stop, searchFrom);
            if (at >= 0 && (found < 0 || at < found)) {
                found = at;
            }
        }
        int safe;
        if (found >= 0) {
            cut = found;
            safe = found;
        } else {
            safe = text.length() - heldBack();
        }
        return release(safe);
    }

    /** Releases everything not yet streamed (generation ended without a stop string). */
    String finish() {
        return release(cut >= 0 ? cut : text.length());
    }

    boolean stopped() {
        return cut >= 0;
    }

    /** The whole output, cut before the first stop string. */
    String text() {
        return cut >= 0 ? text.substring(0, cut) : text.toString();
    }

    private String release(int upTo) {
        if (upTo <= released) {
            return "";
        }
        String out = text.substring(released, upTo);
        released = upTo;
        return out;
    }

    private int longestStop() {
        int max = 0;
        for (String stop : stops) {
            max = Math.max(max, stop.length());
        }
        return max;
    }

    /** Length of the longest suffix of the text that is a proper prefix of some stop string. */
    private int heldBack() {
        int held = 0;
        int tail = Math.min(text.length(), longestStop());
        String end = text.substring(text.length() - tail);
        for (String stop : stops) {
            for (int k = Math.min(stop.length() - 1, tail); k > held; k--) {
                if (end.regionMatches(tail - k, stop, 0, k)) {
                    held = k;
                    break;
                }
            }
        }
        return held;
    }
}

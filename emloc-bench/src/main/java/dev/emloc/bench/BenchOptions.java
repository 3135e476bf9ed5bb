package dev.emloc.bench;

import java.util.LinkedHashMap;
import java.util.Map;

/** {@code --key=value} command-line options of the benchmark programs. */
public final class BenchOptions {

    private BenchOptions() {
    }

    public static Map<String, String> parse(String[] args) {
        Map<String, String> options = new LinkedHashMap<>();
        for (String arg : args) {
            if (arg.isBlank()) {
                continue;
            }
            if (!arg.startsWith("--") || !arg.contains("=")) {
                throw new IllegalArgumentException("Unrecognised argument '" + arg + "'; expected --key=value");
            }
            options.put(arg.substring(2, arg.indexOf('=')), arg.substring(arg.indexOf('=') + 1));
        }
        return options;
    }
}

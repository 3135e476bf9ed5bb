package dev.emloc.memory;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Where a task memory lives: a namespace (an application or a tenant) and a task id.
 *
 * <p>Both are validated so that no id can reach another namespace's storage: 1 to 128 characters (64 for a
 * namespace) of letters, digits, {@code .}, {@code _} and {@code -}, starting with a letter or a digit. In
 * particular neither may hold {@code :}, braces or spaces, which Redis keys use as separators and hash tags.
 */
public record TaskKey(String namespace, String taskId) {

    /** The namespace used when an application sets none. */
    public static final String DEFAULT_NAMESPACE = "default";
    public static final int MAX_TASK_ID_LENGTH = 128;
    public static final int MAX_NAMESPACE_LENGTH = 64;

    private static final Pattern ALLOWED = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*");

    public TaskKey {
        requireValid("namespace", namespace, MAX_NAMESPACE_LENGTH);
        requireValid("task id", taskId, MAX_TASK_ID_LENGTH);
    }

    /** A task in the {@link #DEFAULT_NAMESPACE default namespace}. */
    public static TaskKey of(String taskId) {
        return new TaskKey(DEFAULT_NAMESPACE, taskId);
    }

    public static TaskKey of(String namespace, String taskId) {
        return new TaskKey(namespace, taskId);
    }

    /** Throws {@link IllegalArgumentException} naming what is wrong with {@code value}. */
    public static void requireValid(String what, String value, int maxLength) {
        Objects.requireNonNull(value, what);
        if (value.isEmpty() || value.length() > maxLength) {
            throw new IllegalArgumentException("A " + what + " must be 1 to " + maxLength + " characters long, got "
                    + value.length() + (value.isEmpty() ? "" : ": '" + abbreviate(value) + "'"));
        }
        if (!ALLOWED.matcher(value).matches()) {
            throw new IllegalArgumentException("Invalid " + what + " '" + abbreviate(value) + "': use letters, digits, '.', '_'"
                    + " and '-' only, starting with a letter or a digit (for example 'invoices' or 'acme-support.v2')");
        }
    }

    private static String abbreviate(String value) {
        String printable = value.replaceAll("\\p{Cntrl}", "?");
        return printable.length() <= 40 ? printable : printable.substring(0, 40) + "…";
    }

    @Override
    public String toString() {
        return namespace + "/" + taskId;
    }
}

package dev.emloc.memory;

/**
 * A task memory built for another model (its fingerprint differs from the running model's) or another shape.
 * The memory itself is intact: load the model it was built with, or teach the task again on this one.
 */
public class IncompatibleTaskMemoryException extends IllegalArgumentException {

    private final String taskId;
    private final String memoryFingerprint;
    private final String modelFingerprint;

    public IncompatibleTaskMemoryException(String taskId, String memoryFingerprint, String modelFingerprint) {
        super("Task memory '" + taskId + "' was built for model " + memoryFingerprint + " but the running model is "
                + modelFingerprint + "; rebuild it by teaching the task again on this model, or load the model it was built with");
        this.taskId = taskId;
        this.memoryFingerprint = memoryFingerprint;
        this.modelFingerprint = modelFingerprint;
    }

    public IncompatibleTaskMemoryException(String taskId, String message) {
        super(message);
        this.taskId = taskId;
        this.memoryFingerprint = null;
        this.modelFingerprint = null;
    }

    public String taskId() { return taskId; }
    /** Fingerprint of the model the memory was built with; null when the mismatch is of shape. */
    public String memoryFingerprint() { return memoryFingerprint; }
    /** Fingerprint of the running model; null when the mismatch is of shape. */
    public String modelFingerprint() { return modelFingerprint; }
}

package dev.emloc.spring.ai;

import dev.emloc.memory.TaskKey;

/**
 * A request named a task that has no memory in the store (never taught, forgotten, or expired) and the chat model's
 * {@link OnMissingTask} policy is {@link OnMissingTask#ERROR}.
 */
public class UnknownTaskException extends IllegalArgumentException {

    private final TaskKey key;

    /** A missing task met by a chat request: the message says how to teach it or to answer zero-shot. */
    public UnknownTaskException(TaskKey key, String storeEndpoint) {
        super("No task memory for task '" + key.taskId() + "' in namespace '" + key.namespace() + "' (store " + storeEndpoint
                + "); teach it first with TaskAdapters.teach(\"" + key.taskId() + "\", demonstrations), check the task id"
                + " and namespace, or set the chat model's onMissingTask to ZERO_SHOT to answer without a memory");
        this.key = key;
    }

    /** For {@code key} with a message of the caller's. */
    public UnknownTaskException(TaskKey key, String storeEndpoint, String whatToDo) {
        super("No task memory for task '" + key.taskId() + "' in namespace '" + key.namespace() + "' (store " + storeEndpoint
                + "); " + whatToDo);
        this.key = key;
    }

    /** Namespace and task id that were asked for. */
    public TaskKey key() {
        return key;
    }
}

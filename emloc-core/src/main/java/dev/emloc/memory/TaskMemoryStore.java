package dev.emloc.memory;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * Where task memories live between teaching and asking: saved once, found by (namespace, task id) by every later
 * request, listed and deleted. Implementations: {@link InMemoryTaskMemoryStore} (one process) and
 * {@code RedisTaskMemoryStore} (module emloc-spring-ai: shared by all instances, survives restarts).
 *
 * <p>A store never returns a memory built for another model ({@link IncompatibleTaskMemoryException} names
 * both), never a torn or mixed one, and reports a backend failure as {@link TaskMemoryStoreException}. Thread-safe.
 */
public interface TaskMemoryStore extends AutoCloseable {

    /**
     * Saves {@code memory} under {@code key}, replacing what was there as one atomic step. The caller keeps owning
     * {@code memory}.
     *
     * @param ttl how long it lives, or null for the store's default (by default: forever)
     * @return the descriptor of the stored generation
     */
    TaskMemoryDescriptor save(TaskKey key, TaskMemory memory, Duration ttl);

    default TaskMemoryDescriptor save(TaskKey key, TaskMemory memory) {
        return save(key, memory, null);
    }

    /**
     * The memory of {@code key}, loaded for {@code target}, or empty when there is none. Close the handle after use.
     *
     * @throws IncompatibleTaskMemoryException when it was built for another model
     */
    Optional<TaskMemoryHandle> find(TaskKey key, MemoryTarget target);

    /** What is stored under {@code key}, without its keys and values. */
    Optional<TaskMemoryDescriptor> describe(TaskKey key);

    /** Descriptors of all memories of {@code namespace}, sorted by task id; no keys or values are read. */
    List<TaskMemoryDescriptor> list(String namespace);

    /** Deletes the memory of {@code key}; false when there was none. */
    boolean delete(TaskKey key);

    /**
     * Teaches a task once however many callers (threads, or instances sharing the store) ask at the same time: one
     * caller runs {@code teach} and saves the result while the others wait for it and read it.
     *
     * <p>Under the task's lock, a stored memory that {@code upToDate} accepts (same demonstrations, settings and
     * model, say) is returned without teaching.
     *
     * @param upToDate whether a stored memory already answers the request
     * @param teach    builds the memory; called at most once per call, and not at all when one is up to date
     * @param ttl      as for {@link #save}
     */
    TaskMemoryHandle teachOnce(TaskKey key, Predicate<TaskMemoryDescriptor> upToDate, MemoryTarget target,
            Supplier<TaskMemory> teach, Duration ttl);

    /**
     * What {@link #teachOnce} does once it holds the task's lock, for implementations: returns the stored memory if
     * {@code upToDate} accepts it, and otherwise runs {@code teach}, saves its result (closing it) and loads it back.
     */
    static TaskMemoryHandle teachHoldingLock(TaskMemoryStore store, TaskKey key, Predicate<TaskMemoryDescriptor> upToDate,
            MemoryTarget target, Supplier<TaskMemory> teach, Duration ttl) {
        Optional<TaskMemoryDescriptor> current = store.describe(key);
        if (current.isPresent() && upToDate.test(current.get())) {
            Optional<TaskMemoryHandle> found = store.find(key, target);
            if (found.isPresent()) {
                return found.get();
            }
        }
        try (TaskMemory memory = teach.get()) {
            store.save(key, memory, ttl);
        }
        return store.find(key, target).orElseThrow(() -> new TaskMemoryStoreException("Task " + key + " was saved to "
                + store.endpoint() + " but is gone: it was deleted or expired at once"));
    }

    /** A short description for logs and health checks, such as {@code in-memory} or {@code redis://host:6379}. */
    String endpoint();

    /** Releases decoded memories this store keeps; handles already lent stay valid. */
    @Override
    void close();
}

package dev.emloc.memory;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Decoded task memories kept in process, keyed by task and generation, bounded by bytes (least recently used
 * first out). A store answers a query from here when the stored generation has not changed. Evicting or
 * replacing a memory never frees it under a request that still holds a {@link TaskMemoryHandle}.
 */
public final class TaskMemoryCache implements AutoCloseable {

    private final long maxBytes;
    private final LinkedHashMap<TaskKey, TaskMemoryHandle.Shared> entries = new LinkedHashMap<>(16, 0.75f, true);
    private long bytes;
    private long hits;
    private long misses;

    /** A cache of at most {@code maxBytes} of keys and values; 0 keeps nothing. */
    public TaskMemoryCache(long maxBytes) {
        if (maxBytes < 0) {
            throw new IllegalArgumentException("A cache size must be >= 0 bytes, got " + maxBytes);
        }
        this.maxBytes = maxBytes;
    }

    /** A handle on the cached memory of {@code key} if it is of {@code generation}. */
    public synchronized Optional<TaskMemoryHandle> acquire(TaskKey key, String generation) {
        TaskMemoryHandle.Shared shared = entries.get(key);
        if (shared == null || !shared.descriptor.generation().equals(generation)) {
            misses++;
            return Optional.empty();
        }
        hits++;
        return Optional.of(shared.share());
    }

    /**
     * Takes ownership of {@code memory}, caches it (replacing any other generation of its task) unless it alone is
     * larger than the cache, and returns a handle on it.
     */
    public synchronized TaskMemoryHandle put(TaskMemoryDescriptor descriptor, TaskMemory memory) {
        invalidate(descriptor.key());
        TaskMemoryHandle.Shared shared = new TaskMemoryHandle.Shared(descriptor, memory);
        long size = memory.sizeInBytes();
        if (size > maxBytes) {
            return shared.acquire();          // the handle holds the only reference
        }
        TaskMemoryHandle handle = shared.share(); // the cache keeps the creator's reference
        entries.put(descriptor.key(), shared);
        bytes += size;
        Iterator<Map.Entry<TaskKey, TaskMemoryHandle.Shared>> oldest = entries.entrySet().iterator();
        while (bytes > maxBytes && oldest.hasNext()) {
            TaskMemoryHandle.Shared evicted = oldest.next().getValue();
            oldest.remove();
            bytes -= evicted.memory.sizeInBytes();
            evicted.release();
        }
        return handle;
    }

    /** Drops the cached memory of {@code key}, if any. */
    public synchronized void invalidate(TaskKey key) {
        TaskMemoryHandle.Shared old = entries.remove(key);
        if (old != null) {
            bytes -= old.memory.sizeInBytes();
            old.release();
        }
    }

    public synchronized long sizeInBytes() { return bytes; }
    public synchronized int size() { return entries.size(); }
    public synchronized long hits() { return hits; }
    public synchronized long misses() { return misses; }

    @Override
    public synchronized void close() {
        for (TaskMemoryHandle.Shared shared : entries.values()) {
            shared.release();
        }
        entries.clear();
        bytes = 0;
    }
}

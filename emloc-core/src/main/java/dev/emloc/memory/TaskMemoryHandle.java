package dev.emloc.memory;

import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A loaded task memory lent by a store: read it while the handle is open, then close the handle. Several
 * requests may hold handles on one shared memory; it is freed when the store no longer keeps it and the last
 * handle is closed, so a memory evicted or replaced while a request uses it stays valid for that request.
 */
public final class TaskMemoryHandle implements AutoCloseable {

    private final Shared shared;
    private final AtomicBoolean closed = new AtomicBoolean();

    private TaskMemoryHandle(Shared shared) {
        this.shared = shared;
    }

    /** A handle that owns {@code memory} alone: closing it closes the memory. */
    public static TaskMemoryHandle owning(TaskMemoryDescriptor descriptor, TaskMemory memory) {
        return new Shared(descriptor, memory).acquire();
    }

    public TaskMemory memory() {
        if (closed.get()) {
            throw new IllegalStateException("This handle on task " + shared.descriptor.key() + " is closed");
        }
        return shared.memory;
    }

    public TaskMemoryDescriptor descriptor() {
        return shared.descriptor;
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            shared.release();
        }
    }

    /** A memory with a reference count: the creator's reference plus one per open handle. */
    static final class Shared {
        final TaskMemoryDescriptor descriptor;
        final TaskMemory memory;
        private final AtomicInteger references = new AtomicInteger(1);

        Shared(TaskMemoryDescriptor descriptor, TaskMemory memory) {
            this.descriptor = Objects.requireNonNull(descriptor, "descriptor");
            this.memory = Objects.requireNonNull(memory, "memory");
        }

        /** A new handle; the creator's reference is handed to it when the creator has none of its own to keep. */
        TaskMemoryHandle acquire() {
            return new TaskMemoryHandle(this);
        }

        TaskMemoryHandle share() {
            references.incrementAndGet();
            return new TaskMemoryHandle(this);
        }

        void release() {
            if (references.decrementAndGet() == 0) {
                memory.close();
            }
        }
    }
}

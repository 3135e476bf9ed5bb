package dev.emloc.spring.ai;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.function.Supplier;

import dev.emloc.compress.CompressionListener;
import dev.emloc.compress.Demonstration;
import dev.emloc.compress.EmlocCompressor;
import dev.emloc.memory.CompressionReport;
import dev.emloc.memory.CompressionSettings;
import dev.emloc.memory.MemoryTarget;
import dev.emloc.memory.TaskKey;
import dev.emloc.memory.TaskMemory;
import dev.emloc.memory.TaskMemoryDescriptor;
import dev.emloc.memory.TaskMemoryHandle;
import dev.emloc.memory.TaskMemoryStore;
import dev.emloc.model.GradMode;
import dev.emloc.vision.VisionLanguageModel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The few-shot adapter API: teach a task from demonstrations, add more, look at it, forget it. Teaching compresses
 * the demonstrations with EMLoC ({@link EmlocCompressor}) into a task memory and saves it in the
 * {@link TaskMemoryStore} under (namespace, task id), where {@link EmlocChatModel} finds it.
 *
 * <pre>{@code
 * TaskAdapters adapters = TaskAdapters.builder(model, store).namespace("acme").build();
 * adapters.teach("invoices", DemonstrationFiles.readJsonl(Path.of("invoices.jsonl"), Path.of("scans")));
 * adapters.teachAsync("invoices", demos, p -> bar.set(p.completion())).thenAccept(d -> log.info("taught {}", d));
 * }</pre>
 *
 * <p><b>Teaching once.</b> {@link #teach} goes through {@link TaskMemoryStore#teachOnce}: a stored memory with the
 * same demonstrations (digest and count), the same compression settings and the same model fingerprint is kept as it
 * is, without compressing; concurrent teaching of one task (threads, or instances sharing Redis) compresses once.
 *
 * <p><b>Threads.</b> Compression takes seconds to minutes, so it runs on its own single worker thread behind a bounded
 * queue ({@code queueCapacity}, default {@value #DEFAULT_QUEUE_CAPACITY}), never on the chat model's workers: queries
 * keep being answered while a task is taught. The engine allows this (the model's weights are read-only and every
 * call works in its own arrays; see docs/engine.md), and one teaching thread keeps the extra memory to one chunk's
 * work. A full queue refuses new work at once with {@link EmlocOverloadedException}. The blocking methods
 * ({@link #teach}, {@link #append}) run on the same thread and wait for it.
 */
public final class TaskAdapters implements AutoCloseable {

    /** Teaching jobs that may wait for the teaching thread. */
    public static final int DEFAULT_QUEUE_CAPACITY = 4;

    private static final Logger log = LoggerFactory.getLogger(TaskAdapters.class);
    private static final long CLOSE_WAIT_MILLIS = 30_000;

    private final VisionLanguageModel model;
    private final TaskMemoryStore store;
    private final String namespace;
    private final CompressionSettings settings;
    private final Duration defaultTtl;
    private final EmlocCompressor compressor;
    private final MemoryTarget target;
    private final WorkerPool worker;
    private volatile boolean closed;

    private final AtomicInteger active = new AtomicInteger();
    private final AtomicLong compressions = new AtomicLong();
    private final AtomicLong upToDate = new AtomicLong();

    private TaskAdapters(Builder b) {
        this.model = b.model;
        this.store = b.store;
        this.namespace = b.namespace;
        this.settings = b.settings;
        this.defaultTtl = b.defaultTtl;
        this.compressor = new EmlocCompressor(model);
        // Memories teachOnce loads live in sub-managers of this child of the model's manager, owned by the store's
        // cache; it is not closed here, so cached memories outlive these adapters (they go with the model).
        this.target = new MemoryTarget(model.language().fingerprint(), model.language().newRequestManager(),
                model.language().dtype());
        this.worker = new WorkerPool("emloc-teach-", 1, b.queueCapacity);
    }

    /** A builder for adapters that teach {@code model}'s tasks into {@code store}. */
    public static Builder builder(VisionLanguageModel model, TaskMemoryStore store) {
        return new Builder(model, store);
    }

    /**
     * Teaches {@code taskId} from {@code demonstrations} (in order) with the configured settings and default TTL, and
     * waits for it. Returns at once, compressing nothing, when the stored memory is up to date.
     *
     * @return the stored memory's descriptor
     * @throws EmlocOverloadedException when the teaching queue is full
     * @throws IllegalArgumentException for an invalid task id or no demonstrations
     */
    public TaskMemoryDescriptor teach(String taskId, List<Demonstration> demonstrations) {
        return teach(taskId, demonstrations, defaultTtl);
    }

    /** As {@link #teach(String, List)}, the memory living {@code ttl} (null: the store's default). */
    public TaskMemoryDescriptor teach(String taskId, List<Demonstration> demonstrations, Duration ttl) {
        return await(teachAsync(taskId, demonstrations, ttl, null));
    }

    /**
     * Teaches {@code taskId} on the teaching thread. The future completes with the stored memory's descriptor;
     * cancelling it ({@code future.cancel(true)}) takes a waiting job off the queue or stops the compression at its
     * next chunk or layer, leaving the stored memory as it was. Cancel the returned future itself: futures derived
     * from it with {@code thenApply} and the like do not pass cancellation back.
     *
     * @param progress receives {@link TeachProgress} events on the teaching thread (keep it quick); may be null
     * @throws EmlocOverloadedException at once when the teaching queue is full
     */
    public CompletableFuture<TaskMemoryDescriptor> teachAsync(String taskId, List<Demonstration> demonstrations,
            Consumer<TeachProgress> progress) {
        return teachAsync(taskId, demonstrations, defaultTtl, progress);
    }

    /** As {@link #teachAsync(String, List, Consumer)}, the memory living {@code ttl} (null: the store's default). */
    public CompletableFuture<TaskMemoryDescriptor> teachAsync(String taskId, List<Demonstration> demonstrations,
            Duration ttl, Consumer<TeachProgress> progress) {
        TaskKey key = key(taskId);
        List<Demonstration> demos = requireDemonstrations(key, demonstrations, "teach");
        return submit(key, progress, (report, cancelled) -> teachNow(key, demos, ttl, report, cancelled));
    }

    /**
     * Compresses {@code more} demonstrations onto the stored memory of {@code taskId} (as if they had followed the
     * first ones) and saves the result as the task's new generation. It keeps the taught memory's expiry: the new
     * generation lives for what remained of the old one's lifetime, or without expiry (the store's default) if the old
     * one had none. Waits for it.
     *
     * @throws UnknownTaskException when the task has no memory
     */
    public TaskMemoryDescriptor append(String taskId, List<Demonstration> more) {
        return await(appendAsync(taskId, more, null));
    }

    /** As {@link #append}, on the teaching thread, with progress and cancellation as {@link #teachAsync}. */
    public CompletableFuture<TaskMemoryDescriptor> appendAsync(String taskId, List<Demonstration> more,
            Consumer<TeachProgress> progress) {
        TaskKey key = key(taskId);
        List<Demonstration> demos = requireDemonstrations(key, more, "append");
        return submit(key, progress, (report, cancelled) -> appendNow(key, demos, report, cancelled));
    }

    /** What is stored for {@code taskId}, without loading its keys and values; empty when nothing is. */
    public Optional<TaskMemoryDescriptor> describe(String taskId) {
        return store.describe(key(taskId));
    }

    /**
     * The compression report of {@code taskId} (tokens seen and kept per layer and modality, per-chunk decisions,
     * phase times). It is stored with the memory, so this loads the memory (from the store's cache when it is there).
     */
    public Optional<CompressionReport> report(String taskId) {
        Optional<TaskMemoryHandle> found = store.find(key(taskId), target);
        if (found.isEmpty()) {
            return Optional.empty();
        }
        try (TaskMemoryHandle handle = found.get()) {
            return Optional.of(handle.memory().report());
        }
    }

    /** Descriptors of every task of the namespace, sorted by task id. */
    public List<TaskMemoryDescriptor> list() {
        return store.list(namespace);
    }

    /** Deletes the memory of {@code taskId}; false when there was none. Requests already using it finish with it. */
    public boolean forget(String taskId) {
        return store.delete(key(taskId));
    }

    /** Whether the stored memory of {@code taskId} was taught from exactly {@code demonstrations} with these settings. */
    public boolean isUpToDate(String taskId, List<Demonstration> demonstrations) {
        return store.describe(key(taskId)).filter(upToDate(List.copyOf(demonstrations))).isPresent();
    }

    /** The namespace of the tasks. */
    public String namespace() {
        return namespace;
    }

    /** The settings tasks are compressed with. */
    public CompressionSettings compressionSettings() {
        return settings;
    }

    /** Compressions run (teaching or appending), for metrics. */
    public long compressions() {
        return compressions.get();
    }

    /** Teach requests answered by a stored memory that was already up to date. */
    public long upToDateHits() {
        return upToDate.get();
    }

    /** Jobs waiting for the teaching thread. */
    public int queueDepth() {
        return worker.queued();
    }

    /** Jobs running (0 or 1). */
    public int activeJobs() {
        return active.get();
    }

    /**
     * Stops taking jobs: waiting ones fail with {@link IllegalStateException}, a running compression stops at its next
     * chunk or layer; waits up to 30 seconds for it. The model and the store stay open.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Runnable waiting : worker.shutdown()) {
            ((Job) waiting).completeExceptionally(new IllegalStateException("TaskAdapters was closed before this job ran"));
        }
        try {
            if (!worker.awaitTermination(CLOSE_WAIT_MILLIS)) {
                log.warn("TaskAdapters closed while a teaching job was still running after {} ms", CLOSE_WAIT_MILLIS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private TaskKey key(String taskId) {
        return new TaskKey(namespace, taskId);
    }

    private static List<Demonstration> requireDemonstrations(TaskKey key, List<Demonstration> demonstrations, String verb) {
        Objects.requireNonNull(demonstrations, "demonstrations");
        if (demonstrations.isEmpty()) {
            throw new IllegalArgumentException("Nothing to " + verb + " for task '" + key.taskId()
                    + "': give at least one demonstration");
        }
        for (int i = 0; i < demonstrations.size(); i++) {
            if (demonstrations.get(i) == null) {
                throw new IllegalArgumentException("Demonstration " + i + " of task '" + key.taskId() + "' is null");
            }
        }
        return List.copyOf(demonstrations);
    }

    private Predicate<TaskMemoryDescriptor> upToDate(List<Demonstration> demos) {
        String digest = EmlocCompressor.demonstrationsDigest(demos);
        String fingerprint = model.language().fingerprint();
        return d -> fingerprint.equals(d.modelFingerprint()) && digest.equals(d.demonstrationsDigest())
                && d.demonstrationCount() == demos.size() && settings.equals(d.settings());
    }

    private TaskMemoryDescriptor teachNow(TaskKey key, List<Demonstration> demos, Duration ttl, Consumer<TeachProgress> report,
            BooleanSupplier cancelled) {
        Predicate<TaskMemoryDescriptor> upToDate = upToDate(demos);
        int layers = model.language().config().numLayers();
        Optional<TaskMemoryDescriptor> stored = store.describe(key);
        if (stored.isPresent() && upToDate.test(stored.get())) {
            this.upToDate.incrementAndGet();
            report.accept(TeachProgress.done(key.taskId(), layers, 0));
            return stored.get();
        }
        Supplier<TaskMemory> compress = () -> {
            if (cancelled.getAsBoolean()) {
                throw new CancellationException("Teaching task " + key + " was cancelled");
            }
            compressions.incrementAndGet();
            return compressor.compress(key.taskId(), demos, settings, listener(key, report), cancelled);
        };
        try (TaskMemoryHandle handle = store.teachOnce(key, upToDate, target, compress, ttl)) {
            report.accept(TeachProgress.done(key.taskId(), layers, demos.size()));
            log.info("Task {} is taught: {} demonstrations, generation {}, {} of {} tokens kept per layer on average",
                    key, demos.size(), handle.descriptor().generation(),
                    handle.descriptor().tokensKept() / Math.max(1, handle.descriptor().numLayers()),
                    handle.descriptor().tokensSeen());
            return handle.descriptor();
        }
    }

    private TaskMemoryDescriptor appendNow(TaskKey key, List<Demonstration> more, Consumer<TeachProgress> report,
            BooleanSupplier cancelled) {
        TaskMemoryHandle handle = store.find(key, target).orElseThrow(() -> new UnknownTaskException(key, store.endpoint(),
                "teach it with TaskAdapters.teach before appending demonstrations to it"));
        try (handle) {
            compressions.incrementAndGet();
            try (TaskMemory appended = compressor.append(handle.memory(), more, listener(key, report), cancelled)) {
                TaskMemoryDescriptor saved = store.save(key, appended, remainingLifetime(handle.descriptor()));
                report.accept(TeachProgress.done(key.taskId(), model.language().config().numLayers(), more.size()));
                log.info("Appended {} demonstrations to task {}: now {}, generation {}", more.size(), key,
                        saved.demonstrationCount(), saved.generation());
                return saved;
            }
        }
    }

    /** What remains of a stored memory's lifetime (at least a second), or null when it does not expire. */
    private static Duration remainingLifetime(TaskMemoryDescriptor stored) {
        if (stored.expiresAt() == null) {
            return null;
        }
        Duration left = Duration.between(Instant.now(), stored.expiresAt());
        return left.compareTo(Duration.ofSeconds(1)) < 0 ? Duration.ofSeconds(1) : left;
    }

    private static CompressionListener listener(TaskKey key, Consumer<TeachProgress> report) {
        return p -> report.accept(TeachProgress.of(key.taskId(), p));
    }

    private CompletableFuture<TaskMemoryDescriptor> submit(TaskKey key, Consumer<TeachProgress> progress, Work work) {
        if (closed) {
            throw new IllegalStateException("TaskAdapters is closed; it takes no more jobs");
        }
        Job job = new Job(key, progress, work);
        if (!worker.offer(job)) {
            if (closed || worker.isShutdown()) {
                throw new IllegalStateException("TaskAdapters is closed; it takes no more jobs");
            }
            int queued = worker.queued();
            throw new EmlocOverloadedException("The teaching queue is full: " + active.get() + " job running and " + queued
                    + " waiting (queue capacity " + worker.queueCapacity() + "); retry when a job is done, or raise the"
                    + " adapters' queueCapacity", active.get(), queued, worker.queueCapacity());
        }
        return job;
    }

    private static TaskMemoryDescriptor await(CompletableFuture<TaskMemoryDescriptor> future) {
        try {
            return future.get();
        } catch (InterruptedException e) {
            future.cancel(true);
            Thread.currentThread().interrupt();
            throw new CancellationException("Interrupted while waiting for teaching to finish; it was cancelled");
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException runtime) {
                throw runtime;
            }
            if (cause instanceof Error error) {
                throw error;
            }
            throw new IllegalStateException("Teaching failed: " + cause, cause);
        }
    }

    @FunctionalInterface
    private interface Work {
        TaskMemoryDescriptor run(Consumer<TeachProgress> report, BooleanSupplier cancelled);
    }

    /** A teaching job: the future its caller holds, and the runnable the teaching thread runs. */
    private final class Job extends CompletableFuture<TaskMemoryDescriptor> implements Runnable {
        private final TaskKey key;
        private final Consumer<TeachProgress> progress;
        private final Work work;

        Job(TaskKey key, Consumer<TeachProgress> progress, Work work) {
            this.key = key;
            this.progress = progress;
            this.work = work;
        }

        @Override
        public boolean cancel(boolean mayInterruptIfRunning) {
            boolean cancelled = super.cancel(mayInterruptIfRunning);
            if (cancelled) {
                worker.remove(this);
            }
            return cancelled;
        }

        @Override
        public void run() {
            if (isDone()) {
                return;
            }
            active.incrementAndGet();
            try {
                GradMode.disableOnThisThread();
                report(TeachProgress.started(key.taskId(), model.language().config().numLayers()));
                complete(work.run(this::report, () -> closed || isCancelled()));
            } catch (Throwable t) {
                if (!isCancelled()) {
                    log.warn("Teaching task {} failed: {}", key, t.toString());
                }
                completeExceptionally(t);
            } finally {
                active.decrementAndGet();
            }
        }

        /** Passes an event on; a failing progress consumer is logged, never allowed to break the compression. */
        private void report(TeachProgress event) {
            if (progress == null) {
                return;
            }
            try {
                progress.accept(event);
            } catch (RuntimeException e) {
                log.warn("Progress consumer of task {} failed on {}: {}", key, event.phase(), e.toString());
            }
        }
    }

    /** Builds {@link TaskAdapters}; every setting but the model and the store has a default. */
    public static final class Builder {
        private final VisionLanguageModel model;
        private final TaskMemoryStore store;
        private String namespace = TaskKey.DEFAULT_NAMESPACE;
        private CompressionSettings settings = CompressionSettings.defaults();
        private Duration defaultTtl;
        private int queueCapacity = DEFAULT_QUEUE_CAPACITY;

        private Builder(VisionLanguageModel model, TaskMemoryStore store) {
            this.model = Objects.requireNonNull(model, "model");
            this.store = Objects.requireNonNull(store, "store");
        }

        /** Namespace of the tasks; must match the chat model's. Default {@value TaskKey#DEFAULT_NAMESPACE}. */
        public Builder namespace(String namespace) {
            TaskKey.requireValid("namespace", namespace, TaskKey.MAX_NAMESPACE_LENGTH);
            this.namespace = namespace;
            return this;
        }

        /** How tasks are compressed; default {@link CompressionSettings#defaults()}. */
        public Builder compressionSettings(CompressionSettings settings) {
            this.settings = Objects.requireNonNull(settings, "settings");
            return this;
        }

        /** Lifetime of memories taught without one; default null: the store's own default (by default, forever). */
        public Builder defaultTtl(Duration defaultTtl) {
            if (defaultTtl != null && (defaultTtl.isNegative() || defaultTtl.isZero())) {
                throw new IllegalArgumentException("defaultTtl must be positive (or null for none), got " + defaultTtl);
            }
            this.defaultTtl = defaultTtl;
            return this;
        }

        /** Jobs that may wait for the teaching thread; default {@value TaskAdapters#DEFAULT_QUEUE_CAPACITY}. */
        public Builder queueCapacity(int queueCapacity) {
            this.queueCapacity = queueCapacity;
            return this;
        }

        /** The adapters; their teaching thread starts with them. */
        public TaskAdapters build() {
            return new TaskAdapters(this);
        }
    }
}

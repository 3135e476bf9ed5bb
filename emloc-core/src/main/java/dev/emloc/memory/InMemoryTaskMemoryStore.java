package dev.emloc.memory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * Task memories in this process only, for embedded use and tests: lost on restart, not shared between instances.
 *
 * <p>Memories are kept encoded ({@link TaskMemoryCodec}, so exactly what Redis would hold) up to a bound in bytes;
 * a save beyond it is refused with {@link TaskMemoryStoreException}, never by silently dropping another task. Loaded
 * memories are kept decoded in a {@link TaskMemoryCache}, so a query decodes nothing while its task is unchanged.
 */
public final class InMemoryTaskMemoryStore implements TaskMemoryStore {

    private record Entry(MemoryHeader header, byte[] headerBytes, List<byte[]> layers, String generation, long bytes,
            Instant expiresAt) {
        TaskMemoryDescriptor descriptor() {
            return header.describe(generation, bytes, expiresAt);
        }
    }

    private final long maxBytes;
    private final TaskMemoryCodec codec;
    private final TaskMemoryCache cache;
    private final Duration defaultTtl;
    private final Clock clock;
    private final Map<TaskKey, Entry> entries = new ConcurrentHashMap<>();
    private final Map<TaskKey, ReentrantLock> teachLocks = new ConcurrentHashMap<>();
    private final AtomicLong generations = new AtomicLong();
    private long bytes;

    /** A store of at most {@code maxBytes} encoded, float32, caching as many bytes decoded, no TTL. */
    public InMemoryTaskMemoryStore(long maxBytes) {
        this(maxBytes, new TaskMemoryCodec(), maxBytes, null, Clock.systemUTC());
    }

    /**
     * @param maxBytes   bound on the encoded memories kept
     * @param codec      how memories are encoded (precision, limits)
     * @param cacheBytes bound on the decoded memories kept for queries
     * @param defaultTtl lifetime of a memory saved without one, or null for none
     * @param clock      time source of TTLs
     */
    public InMemoryTaskMemoryStore(long maxBytes, TaskMemoryCodec codec, long cacheBytes, Duration defaultTtl, Clock clock) {
        if (maxBytes <= 0) {
            throw new IllegalArgumentException("An in-memory store needs a positive size in bytes, got " + maxBytes);
        }
        this.maxBytes = maxBytes;
        this.codec = Objects.requireNonNull(codec, "codec");
        this.cache = new TaskMemoryCache(cacheBytes);
        this.defaultTtl = defaultTtl;
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    @Override
    public TaskMemoryDescriptor save(TaskKey key, TaskMemory memory, Duration ttl) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(memory, "memory");
        Duration lifetime = ttl != null ? ttl : defaultTtl;
        if (lifetime != null && (lifetime.isNegative() || lifetime.isZero())) {
            throw new IllegalArgumentException("A TTL must be positive, got " + lifetime);
        }
        MemoryHeader header = codec.header(key, memory, clock.instant());
        byte[] headerBytes = codec.encodeHeader(header);
        long size = headerBytes.length;
        List<byte[]> layers = new ArrayList<>();
        for (int l = 0; l < memory.numLayers(); l++) {
            byte[] layer = codec.encodeLayer(header, memory, l);
            layers.add(layer);
            size += layer.length;
        }
        Instant expiresAt = lifetime == null ? null : header.createdAt().plus(lifetime);
        Entry entry = new Entry(header, headerBytes, List.copyOf(layers), "g" + generations.incrementAndGet(), size, expiresAt);
        synchronized (this) {
            Entry old = live(key);
            long after = bytes - (old == null ? 0 : old.bytes) + size;
            if (after > maxBytes) {
                throw new TaskMemoryStoreException("The in-memory task memory store is full: task " + key + " needs " + size
                        + " bytes and " + (maxBytes - bytes + (old == null ? 0 : old.bytes)) + " of " + maxBytes
                        + " are free; forget tasks, raise the store's size, or use the Redis store");
            }
            entries.put(key, entry);
            bytes = after;
            cache.invalidate(key);
        }
        return entry.descriptor();
    }

    @Override
    public Optional<TaskMemoryHandle> find(TaskKey key, MemoryTarget target) {
        Entry entry;
        synchronized (this) {
            entry = live(key);
        }
        if (entry == null) {
            return Optional.empty();
        }
        target.requireCompatible(entry.header);
        Optional<TaskMemoryHandle> cached = cache.acquire(key, entry.generation);
        if (cached.isPresent()) {
            return cached;
        }
        TaskMemory memory;
        try {
            memory = codec.readLayers(entry.header, l -> TaskMemoryCodec.source(List.of(entry.layers.get(l))), target.manager(),
                    target.dtype());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        synchronized (this) {
            if (entries.get(key) != entry) {          // replaced or deleted meanwhile: lend it without caching
                return Optional.of(TaskMemoryHandle.owning(entry.descriptor(), memory));
            }
            return Optional.of(cache.put(entry.descriptor(), memory));
        }
    }

    @Override
    public synchronized Optional<TaskMemoryDescriptor> describe(TaskKey key) {
        return Optional.ofNullable(live(key)).map(Entry::descriptor);
    }

    @Override
    public synchronized List<TaskMemoryDescriptor> list(String namespace) {
        TaskKey.requireValid("namespace", namespace, TaskKey.MAX_NAMESPACE_LENGTH);
        List<TaskMemoryDescriptor> result = new ArrayList<>();
        for (TaskKey key : List.copyOf(entries.keySet())) {
            if (key.namespace().equals(namespace)) {
                Entry entry = live(key);
                if (entry != null) {
                    result.add(entry.descriptor());
                }
            }
        }
        result.sort(Comparator.comparing(d -> d.key().taskId()));
        return result;
    }

    @Override
    public synchronized boolean delete(TaskKey key) {
        Entry old = live(key);
        if (old == null) {
            return false;
        }
        remove(key, old);
        return true;
    }

    @Override
    public TaskMemoryHandle teachOnce(TaskKey key, Predicate<TaskMemoryDescriptor> upToDate, MemoryTarget target,
            Supplier<TaskMemory> teach, Duration ttl) {
        ReentrantLock lock = teachLocks.computeIfAbsent(key, k -> new ReentrantLock());
        lock.lock();
        try {
            return TaskMemoryStore.teachHoldingLock(this, key, upToDate, target, teach, ttl);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public String endpoint() {
        return "in-memory";
    }

    /** Bytes of encoded memories held. */
    public synchronized long sizeInBytes() {
        return bytes;
    }

    /** The cache of decoded memories (for metrics and tests). */
    public TaskMemoryCache cache() {
        return cache;
    }

    @Override
    public synchronized void close() {
        cache.close();
    }

    /** The entry of {@code key}, dropping it first if it has expired. Call holding the lock. */
    private Entry live(TaskKey key) {
        Entry entry = entries.get(key);
        if (entry != null && entry.expiresAt != null && !clock.instant().isBefore(entry.expiresAt)) {
            remove(key, entry);
            return null;
        }
        return entry;
    }

    private void remove(TaskKey key, Entry entry) {
        if (entries.remove(key, entry)) {
            bytes -= entry.bytes;
            cache.invalidate(key);
        }
    }
}

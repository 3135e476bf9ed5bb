package dev.emloc.spring.redis;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.function.Supplier;

import dev.emloc.memory.IncompatibleTaskMemoryException;
import dev.emloc.memory.MemoryHeader;
import dev.emloc.memory.MemoryTarget;
import dev.emloc.memory.TaskKey;
import dev.emloc.memory.TaskMemory;
import dev.emloc.memory.TaskMemoryCache;
import dev.emloc.memory.TaskMemoryCodec;
import dev.emloc.memory.TaskMemoryDescriptor;
import dev.emloc.memory.TaskMemoryFormatException;
import dev.emloc.memory.TaskMemoryHandle;
import dev.emloc.memory.TaskMemoryStore;
import dev.emloc.memory.TaskMemoryStoreException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.dao.DataAccessException;
import org.springframework.data.redis.connection.RedisConnection;
import org.springframework.data.redis.connection.RedisConnectionFactory;
import org.springframework.data.redis.connection.RedisStringCommands.SetOption;
import org.springframework.data.redis.connection.ReturnType;
import org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory;
import org.springframework.data.redis.core.types.Expiration;

/**
 * Task memories in Redis, through Spring Data Redis' {@link RedisConnectionFactory} (so standalone, Sentinel,
 * Cluster, TLS and ACL all come from {@code spring.data.redis.*}): shared by every instance of an application and
 * kept across restarts.
 *
 * <p>Layout (all keys of one task share the Cluster hash tag {@code {namespace:taskId}}):
 * <ul>
 *   <li>{@code emloc:{ns:task}:manifest} — a hash: format, generation, header (the codec's header section),
 *       parts per layer, stored bytes, model fingerprint, creation time;</li>
 *   <li>{@code emloc:{ns:task}:<generation>:layer:<i>} (and {@code …:layer:<i>:<p>} for parts after the first) —
 *       the codec's section of layer i, split into parts of at most {@link Options#partBytes()};</li>
 *   <li>{@code emloc:{ns:task}:pending} — generations being written, with their deadline and parts;</li>
 *   <li>{@code emloc:{ns:task}:lock} — the single-flight teaching lock (owner token, expiry);</li>
 *   <li>{@code emloc:index:{ns}} — the set of task ids of a namespace, for listing without SCAN.</li>
 * </ul>
 *
 * <p>Saving writes the new generation's payloads first (each with a pending expiry, so a writer that dies leaves
 * nothing forever), then one Lua script checks they are all there, switches the manifest, gives the payloads the
 * task's TTL and unlinks the superseded generation, atomically. A reader reads the manifest, then the payloads of
 * its generation; if a concurrent save unlinked them it starts again from the new manifest, so it sees one
 * generation or the other, never a mix. Generations whose writer died are unlinked by the next save or delete
 * of the task once their pending deadline has passed.
 *
 * <p>Decoded memories are kept in a {@link TaskMemoryCache} by generation: a query reads the manifest's generation
 * and header (a few kilobytes), not the payloads, while nothing changed.
 */
public final class RedisTaskMemoryStore implements TaskMemoryStore {

    private static final Logger log = LoggerFactory.getLogger(RedisTaskMemoryStore.class);
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final int READ_ATTEMPTS = 5;
    private static final byte[] GENERATION = "generation".getBytes(StandardCharsets.UTF_8);

    /**
     * Tuning of the store.
     *
     * @param keyPrefix        first part of every key
     * @param precision        dtype keys and values are stored in
     * @param partBytes        largest Redis value; bigger layer sections are split
     * @param cacheBytes       bound on decoded memories kept in process
     * @param defaultTtl       lifetime of a memory saved without one, or null for none
     * @param pendingTimeout   how long a generation may take to be written before it counts as orphaned
     * @param lockTimeout      expiry of the teaching lock; the owner renews it every third of this
     * @param teachWaitTimeout how long a caller waits for another instance teaching the same task
     * @param pollInterval     how often a waiting caller checks the lock
     * @param supersededGrace  how long a replaced generation stays readable for loads already in flight
     */
    public record Options(String keyPrefix, TaskMemoryCodec.Precision precision, int partBytes, long cacheBytes,
            Duration defaultTtl, Duration pendingTimeout, Duration lockTimeout, Duration teachWaitTimeout,
            Duration pollInterval, Duration supersededGrace) {

        public Options {
            TaskKey.requireValid("key prefix", keyPrefix, 32);
            Objects.requireNonNull(precision, "precision");
            if (partBytes < 1024) {
                throw new IllegalArgumentException("partBytes must be at least 1024, got " + partBytes);
            }
            if (cacheBytes < 0) {
                throw new IllegalArgumentException("cacheBytes must be >= 0, got " + cacheBytes);
            }
            requirePositive("pendingTimeout", pendingTimeout);
            requirePositive("lockTimeout", lockTimeout);
            requirePositive("teachWaitTimeout", teachWaitTimeout);
            requirePositive("pollInterval", pollInterval);
            requirePositive("supersededGrace", supersededGrace);
            if (defaultTtl != null) {
                requirePositive("defaultTtl", defaultTtl);
            }
        }

        /**
         * Prefix {@code emloc}, float32, 4 MiB parts, 1 GiB cache, no TTL, 10 min pending, 30 s lock, 30 min wait,
         * 200 ms polls, 60 s grace for replaced generations.
         */
        public static Options defaults() {
            return new Options("emloc", TaskMemoryCodec.Precision.FLOAT32, 4 << 20, 1L << 30, null, Duration.ofMinutes(10),
                    Duration.ofSeconds(30), Duration.ofMinutes(30), Duration.ofMillis(200), Duration.ofSeconds(60));
        }

        public Options withPrecision(TaskMemoryCodec.Precision v) { return new Options(keyPrefix, v, partBytes, cacheBytes, defaultTtl, pendingTimeout, lockTimeout, teachWaitTimeout, pollInterval, supersededGrace); }
        public Options withPartBytes(int v) { return new Options(keyPrefix, precision, v, cacheBytes, defaultTtl, pendingTimeout, lockTimeout, teachWaitTimeout, pollInterval, supersededGrace); }
        public Options withCacheBytes(long v) { return new Options(keyPrefix, precision, partBytes, v, defaultTtl, pendingTimeout, lockTimeout, teachWaitTimeout, pollInterval, supersededGrace); }
        public Options withDefaultTtl(Duration v) { return new Options(keyPrefix, precision, partBytes, cacheBytes, v, pendingTimeout, lockTimeout, teachWaitTimeout, pollInterval, supersededGrace); }
        public Options withPendingTimeout(Duration v) { return new Options(keyPrefix, precision, partBytes, cacheBytes, defaultTtl, v, lockTimeout, teachWaitTimeout, pollInterval, supersededGrace); }
        public Options withLockTimeout(Duration v) { return new Options(keyPrefix, precision, partBytes, cacheBytes, defaultTtl, pendingTimeout, v, teachWaitTimeout, pollInterval, supersededGrace); }
        public Options withTeachWaitTimeout(Duration v) { return new Options(keyPrefix, precision, partBytes, cacheBytes, defaultTtl, pendingTimeout, lockTimeout, v, pollInterval, supersededGrace); }
        public Options withSupersededGrace(Duration v) { return new Options(keyPrefix, precision, partBytes, cacheBytes, defaultTtl, pendingTimeout, lockTimeout, teachWaitTimeout, pollInterval, v); }
        public Options withKeyPrefix(String v) { return new Options(v, precision, partBytes, cacheBytes, defaultTtl, pendingTimeout, lockTimeout, teachWaitTimeout, pollInterval, supersededGrace); }

        private static void requirePositive(String name, Duration d) {
            if (d == null || d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(name + " must be a positive duration, got " + d);
            }
        }
    }

    /**
     * KEYS: manifest, pending, new payload keys (ARGV[4] of them), old payload keys. ARGV: generation, expected
     * current generation ('' for none), TTL in ms (0 for none), number of new keys, grace of the old keys in ms,
     * manifest field/value pairs.
     */
    private static final byte[] PUBLISH = """
            local gen, expected, ttl, n = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
            if redis.call('HEXISTS', KEYS[2], gen) == 0 then return 'PENDING_GONE' end
            local current = redis.call('HGET', KEYS[1], 'generation')
            if (current or '') ~= expected then return 'RETRY' end
            for i = 3, 2 + n do
              if redis.call('EXISTS', KEYS[i]) == 0 then return 'PAYLOAD_GONE' end
            end
            for i = 3, 2 + n do
              if ttl > 0 then redis.call('PEXPIRE', KEYS[i], ttl) else redis.call('PERSIST', KEYS[i]) end
            end
            for i = 3 + n, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[5]) end
            redis.call('DEL', KEYS[1])
            redis.call('HSET', KEYS[1], unpack(ARGV, 6))
            if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
            redis.call('HDEL', KEYS[2], gen)
            return 'OK'
            """.getBytes(StandardCharsets.UTF_8);

    /** KEYS: manifest, payload keys. ARGV: expected generation. */
    private static final byte[] DELETE = """
            local current = redis.call('HGET', KEYS[1], 'generation')
            if (current or '') ~= ARGV[1] then return 'RETRY' end
            for i = 1, #KEYS do redis.call('UNLINK', KEYS[i]) end
            return 'OK'
            """.getBytes(StandardCharsets.UTF_8);

    /** KEYS: lock. ARGV: token, expiry ms (0 to release). */
    private static final byte[] LOCK_OWNER = """
            if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'NOT_OWNER' end
            if tonumber(ARGV[2]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) else redis.call('DEL', KEYS[1]) end
            return 'OK'
            """.getBytes(StandardCharsets.UTF_8);

    private final RedisConnectionFactory connections;
    private final String endpoint;
    private final Options options;
    private final TaskMemoryCodec codec;
    private final TaskMemoryCache cache;
    private final ScheduledExecutorService renewer;
    private final java.util.concurrent.ExecutorService prefetcher;
    /** Test hook: runs after the payloads are written and before the manifest is switched. */
    volatile Runnable beforePublish = () -> { };

    public RedisTaskMemoryStore(RedisConnectionFactory connections) {
        this(connections, Options.defaults());
    }

    public RedisTaskMemoryStore(RedisConnectionFactory connections, Options options) {
        this(connections, options, describe(connections));
    }

    /** @param endpoint how error messages and logs name the Redis server(s) */
    public RedisTaskMemoryStore(RedisConnectionFactory connections, Options options, String endpoint) {
        this.connections = Objects.requireNonNull(connections, "connections");
        this.options = Objects.requireNonNull(options, "options");
        this.endpoint = Objects.requireNonNull(endpoint, "endpoint");
        this.codec = new TaskMemoryCodec(options.precision());
        this.cache = new TaskMemoryCache(options.cacheBytes());
        this.renewer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "emloc-redis-lock-renewer");
            t.setDaemon(true);
            return t;
        });
        this.prefetcher = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "emloc-redis-prefetch");
            t.setDaemon(true);
            return t;
        });
    }

    /** {@code redis://host:port}, {@code redis-sentinel://master} or {@code redis-cluster://node,…} for a Lettuce factory. */
    public static String describe(RedisConnectionFactory factory) {
        if (factory instanceof LettuceConnectionFactory lettuce) {
            if (lettuce.getClusterConfiguration() != null) {
                return "redis-cluster://" + String.join(",", lettuce.getClusterConfiguration().getClusterNodes().stream()
                        .map(Object::toString).toList());
            }
            if (lettuce.getSentinelConfiguration() != null && lettuce.getSentinelConfiguration().getMaster() != null) {
                return "redis-sentinel://" + lettuce.getSentinelConfiguration().getMaster().getName();
            }
            return (lettuce.isUseSsl() ? "rediss://" : "redis://") + lettuce.getHostName() + ":" + lettuce.getPort();
        }
        return factory.getClass().getSimpleName();
    }

    public Options options() { return options; }
    public TaskMemoryCache cache() { return cache; }

    @Override
    public String endpoint() {
        return endpoint;
    }

    // ---------------------------------------------------------------- save

    @Override
    public TaskMemoryDescriptor save(TaskKey key, TaskMemory memory, Duration ttl) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(memory, "memory");
        Duration lifetime = ttl != null ? ttl : options.defaultTtl();
        if (lifetime != null && (lifetime.isNegative() || lifetime.isZero())) {
            throw new IllegalArgumentException("A TTL must be positive, got " + lifetime);
        }
        Keys keys = new Keys(key);
        String generation = newGeneration();
        MemoryHeader header = codec.header(key, memory, Instant.now());
        byte[] headerSection = codec.encodeHeader(header);
        List<Integer> parts = new ArrayList<>();
        long total = headerSection.length;
        for (int l = 0; l < header.numLayers(); l++) {
            long size = TaskMemoryCodec.layerSectionBytes(header, l);
            parts.add((int) Math.max(1, (size + options.partBytes() - 1) / options.partBytes()));
            total += size;
        }
        long stored = total;
        String partsCsv = csv(parts);
        return redis("save task " + key, connection -> {
            cleanOrphans(connection, keys);
            long deadline = System.currentTimeMillis() + options.pendingTimeout().toMillis();
            connection.hashCommands().hSet(keys.pending, bytes(generation), bytes(deadline + ";" + partsCsv));
            connection.setCommands().sAdd(keys.index, bytes(key.taskId()));
            List<byte[]> newKeys = new ArrayList<>();
            Expiration pending = Expiration.from(options.pendingTimeout());
            for (int l = 0; l < header.numLayers(); l++) {
                byte[] section = codec.encodeLayer(header, memory, l);
                for (int p = 0; p < parts.get(l); p++) {
                    int from = p * options.partBytes();
                    int to = Math.min(section.length, from + options.partBytes());
                    byte[] value = parts.get(l) == 1 ? section : Arrays.copyOfRange(section, from, to);
                    byte[] partKey = keys.part(generation, l, p);
                    connection.stringCommands().set(partKey, value, pending, SetOption.upsert());
                    newKeys.add(partKey);
                }
            }
            beforePublish.run();
            long ttlMillis = lifetime == null ? 0 : lifetime.toMillis();
            Instant createdAt = header.createdAt();
            for (int attempt = 0; ; attempt++) {
                Map<byte[], byte[]> current = connection.hashCommands().hGetAll(keys.manifest);
                Manifest old = current == null || current.isEmpty() ? null : Manifest.of(current);
                List<byte[]> scriptKeys = new ArrayList<>();
                scriptKeys.add(keys.manifest);
                scriptKeys.add(keys.pending);
                scriptKeys.addAll(newKeys);
                if (old != null) {
                    scriptKeys.addAll(keys.payloadKeys(old.generation, old.parts));
                }
                List<byte[]> args = new ArrayList<>(List.of(bytes(generation), bytes(old == null ? "" : old.generation),
                        bytes(Long.toString(ttlMillis)), bytes(Integer.toString(newKeys.size())),
                        bytes(Long.toString(options.supersededGrace().toMillis()))));
                Map<String, byte[]> fields = new LinkedHashMap<>();
                fields.put("format", bytes(Integer.toString(TaskMemoryCodec.FORMAT_VERSION)));
                fields.put("generation", bytes(generation));
                fields.put("header", headerSection);
                fields.put("parts", bytes(partsCsv));
                fields.put("storedBytes", bytes(Long.toString(stored)));
                fields.put("model", bytes(header.modelFingerprint()));
                fields.put("createdAt", bytes(createdAt.toString()));
                fields.forEach((name, value) -> {
                    args.add(bytes(name));
                    args.add(value);
                });
                String result = eval(connection, PUBLISH, scriptKeys, args);
                switch (result) {
                    case "OK" -> {
                        cache.invalidate(key);
                        log.info("Saved task memory {} to {}: generation {}, {} bytes{}", key, endpoint, generation, stored,
                                lifetime == null ? "" : ", TTL " + lifetime);
                        return header.describe(generation, stored, lifetime == null ? null : createdAt.plus(lifetime));
                    }
                    case "RETRY" -> {
                        if (attempt >= READ_ATTEMPTS) {
                            throw new TaskMemoryStoreException("Task " + key + " at " + endpoint + " kept changing while"
                                    + " it was saved (" + attempt + " attempts); try again");
                        }
                    }
                    case "PENDING_GONE" -> throw new TaskMemoryStoreException("Saving task " + key + " at " + endpoint
                            + " took longer than the pending timeout (" + options.pendingTimeout() + ") and its payloads"
                            + " were cleaned up as orphans; raise the pending timeout and save again");
                    default -> throw new TaskMemoryStoreException("The payloads of task " + key + " at " + endpoint
                            + " disappeared before the manifest was switched (evicted by Redis' maxmemory policy?);"
                            + " nothing changed, save again");
                }
            }
        });
    }

    // ---------------------------------------------------------------- find

    @Override
    public Optional<TaskMemoryHandle> find(TaskKey key, MemoryTarget target) {
        Keys keys = new Keys(key);
        return redis("load task " + key, connection -> {
            for (int attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
                // a cache hit needs the generation alone
                byte[] current = connection.hashCommands().hGet(keys.manifest, GENERATION);
                if (current == null) {
                    return Optional.empty();
                }
                Optional<TaskMemoryHandle> cached = cache.acquire(key, string(current));
                if (cached.isPresent()) {
                    if (!cached.get().descriptor().modelFingerprint().equals(target.modelFingerprint())) {
                        String built = cached.get().descriptor().modelFingerprint();
                        cached.get().close();
                        throw new IncompatibleTaskMemoryException(key.toString(), built, target.modelFingerprint());
                    }
                    return cached;
                }
                Manifest manifest = readManifest(connection, keys);
                if (manifest == null) {
                    return Optional.empty();
                }
                MemoryHeader header = codec.readHeader(manifest.header);
                requireKey(key, header);
                target.requireCompatible(header);
                TaskMemory memory = readPayloads(connection, keys, manifest, header, target);
                if (memory == null) {
                    continue;                 // a newer generation replaced this one while we read it
                }
                return Optional.of(cache.put(manifest.descriptor(header, null), memory));
            }
            throw new TaskMemoryStoreException("Task " + key + " at " + endpoint + " kept changing while it was loaded ("
                    + READ_ATTEMPTS + " attempts); try again");
        });
    }

    /**
     * The memory of {@code manifest}'s generation, or null when one of its payloads is gone. The parts of layer l+1
     * are fetched while layer l is decoded.
     */
    private TaskMemory readPayloads(RedisConnection connection, Keys keys, Manifest manifest, MemoryHeader header,
            MemoryTarget target) {
        if (manifest.parts.size() != header.numLayers()) {
            throw new TaskMemoryFormatException("The manifest of task " + header.key() + " lists parts for "
                    + manifest.parts.size() + " layers but its header has " + header.numLayers());
        }
        List<CompletableFuture<List<byte[]>>> fetches = new ArrayList<>();
        fetches.add(CompletableFuture.completedFuture(fetchLayer(connection, keys, manifest, 0)));
        try {
            return codec.readLayers(header, l -> {
                if (l + 1 < header.numLayers()) {
                    fetches.add(CompletableFuture.supplyAsync(() -> redis("load task " + keys.key,
                            other -> fetchLayer(other, keys, manifest, l + 1)), prefetcher));
                }
                List<byte[]> parts = join(fetches.get(l));
                fetches.set(l, null);         // let the bytes go once decoded
                if (parts == null) {
                    throw new GenerationGone();
                }
                return TaskMemoryCodec.source(parts);
            }, target.manager(), target.dtype());
        } catch (GenerationGone gone) {
            return null;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            for (CompletableFuture<List<byte[]>> fetch : fetches) {
                if (fetch != null) {
                    fetch.cancel(false);
                }
            }
        }
    }

    /** The parts of one layer, or null when one is gone. */
    private static List<byte[]> fetchLayer(RedisConnection connection, Keys keys, Manifest manifest, int layer) {
        List<byte[]> parts = new ArrayList<>();
        for (int p = 0; p < manifest.parts.get(layer); p++) {
            byte[] value = connection.stringCommands().get(keys.part(manifest.generation, layer, p));
            if (value == null) {
                return null;
            }
            parts.add(value);
        }
        return parts;
    }

    private static List<byte[]> join(CompletableFuture<List<byte[]>> fetch) {
        try {
            return fetch.join();
        } catch (java.util.concurrent.CompletionException e) {
            if (e.getCause() instanceof RuntimeException runtime) {
                throw runtime;
            }
            throw e;
        }
    }

    // ---------------------------------------------------------------- describe, list, delete

    @Override
    public Optional<TaskMemoryDescriptor> describe(TaskKey key) {
        Keys keys = new Keys(key);
        return redis("describe task " + key, connection -> {
            Manifest manifest = readManifest(connection, keys);
            if (manifest == null) {
                return Optional.empty();
            }
            MemoryHeader header = codec.readHeader(manifest.header);
            requireKey(key, header);
            return Optional.of(manifest.descriptor(header, expiry(connection, keys)));
        });
    }

    @Override
    public List<TaskMemoryDescriptor> list(String namespace) {
        TaskKey.requireValid("namespace", namespace, TaskKey.MAX_NAMESPACE_LENGTH);
        byte[] index = indexKey(namespace);
        return redis("list namespace " + namespace, connection -> {
            Set<byte[]> members = connection.setCommands().sMembers(index);
            List<TaskMemoryDescriptor> result = new ArrayList<>();
            for (byte[] member : members == null ? Set.<byte[]>of() : members) {
                TaskKey key = new TaskKey(namespace, new String(member, StandardCharsets.UTF_8));
                Keys keys = new Keys(key);
                Manifest manifest = readManifest(connection, keys);
                if (manifest == null) {
                    if (connection.hashCommands().hLen(keys.pending) == 0) {
                        connection.setCommands().sRem(index, member);   // expired or deleted: prune the index
                    }
                    continue;
                }
                result.add(manifest.descriptor(codec.readHeader(manifest.header), expiry(connection, keys)));
            }
            result.sort(Comparator.comparing(d -> d.key().taskId()));
            return result;
        });
    }

    @Override
    public boolean delete(TaskKey key) {
        Keys keys = new Keys(key);
        return redis("delete task " + key, connection -> {
            cleanOrphans(connection, keys);
            for (int attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
                Manifest manifest = readManifest(connection, keys);
                if (manifest == null) {
                    return false;
                }
                List<byte[]> scriptKeys = new ArrayList<>();
                scriptKeys.add(keys.manifest);
                scriptKeys.addAll(keys.payloadKeys(manifest.generation, manifest.parts));
                if ("OK".equals(eval(connection, DELETE, scriptKeys, List.of(bytes(manifest.generation))))) {
                    cache.invalidate(key);
                    connection.setCommands().sRem(keys.index, bytes(key.taskId()));
                    log.info("Deleted task memory {} from {}", key, endpoint);
                    return true;
                }
            }
            throw new TaskMemoryStoreException("Task " + key + " at " + endpoint + " kept changing while it was deleted; try again");
        });
    }

    // ---------------------------------------------------------------- single-flight teaching

    @Override
    public TaskMemoryHandle teachOnce(TaskKey key, Predicate<TaskMemoryDescriptor> upToDate, MemoryTarget target,
            Supplier<TaskMemory> teach, Duration ttl) {
        Keys keys = new Keys(key);
        String token = newGeneration();
        long lockMillis = options.lockTimeout().toMillis();
        long waitUntil = System.nanoTime() + options.teachWaitTimeout().toNanos();
        while (true) {
            Boolean acquired = redis("lock task " + key, connection -> connection.stringCommands().set(keys.lock,
                    bytes(token), Expiration.milliseconds(lockMillis), SetOption.ifAbsent()));
            if (Boolean.TRUE.equals(acquired)) {
                break;
            }
            if (System.nanoTime() > waitUntil) {
                throw new TaskMemoryStoreException("Task " + key + " has been taught by another caller for more than "
                        + options.teachWaitTimeout() + " (lock " + new String(keys.lock, StandardCharsets.UTF_8) + " at "
                        + endpoint + "); try again later or raise the teach wait timeout");
            }
            try {
                Thread.sleep(options.pollInterval().toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new TaskMemoryStoreException("Interrupted while waiting for task " + key + " to be taught", e);
            }
        }
        ScheduledFuture<?> renewal = renewer.scheduleAtFixedRate(() -> {
            try {
                redis("renew the lock of task " + key, connection -> eval(connection, LOCK_OWNER, List.of(keys.lock),
                        List.of(bytes(token), bytes(Long.toString(lockMillis)))));
            } catch (RuntimeException e) {
                log.warn("Could not renew the teaching lock of task {}: {}", key, e.getMessage());
            }
        }, lockMillis / 3, lockMillis / 3, TimeUnit.MILLISECONDS);
        try {
            return TaskMemoryStore.teachHoldingLock(this, key, upToDate, target, teach, ttl);
        } finally {
            renewal.cancel(false);
            try {
                redis("unlock task " + key, connection -> eval(connection, LOCK_OWNER, List.of(keys.lock),
                        List.of(bytes(token), bytes("0"))));
            } catch (RuntimeException e) {
                log.warn("Could not release the teaching lock of task {} (it expires in {}): {}", key,
                        options.lockTimeout(), e.getMessage());
            }
        }
    }

    /** Unlinks generations of {@code key} whose writer died (pending past their deadline). */
    public int cleanOrphans(TaskKey key) {
        Keys keys = new Keys(key);
        return redis("clean task " + key, connection -> cleanOrphans(connection, keys));
    }

    @Override
    public void close() {
        renewer.shutdownNow();
        prefetcher.shutdownNow();
        cache.close();
    }

    // ---------------------------------------------------------------- internals

    private int cleanOrphans(RedisConnection connection, Keys keys) {
        Map<byte[], byte[]> pending = connection.hashCommands().hGetAll(keys.pending);
        if (pending == null || pending.isEmpty()) {
            return 0;
        }
        long now = System.currentTimeMillis();
        int cleaned = 0;
        for (Map.Entry<byte[], byte[]> entry : pending.entrySet()) {
            String generation = string(entry.getKey());
            String[] value = string(entry.getValue()).split(";", 2);
            long deadline;
            List<Integer> parts;
            try {
                deadline = Long.parseLong(value[0]);
                parts = parseCsv(value.length > 1 ? value[1] : "");
            } catch (NumberFormatException e) {
                deadline = 0;
                parts = List.of();
            }
            if (deadline > now) {
                continue;
            }
            List<byte[]> orphans = keys.payloadKeys(generation, parts);
            if (!orphans.isEmpty()) {
                connection.keyCommands().unlink(orphans.toArray(byte[][]::new));
            }
            connection.hashCommands().hDel(keys.pending, entry.getKey());
            cleaned++;
            log.info("Unlinked orphaned generation {} of task {} ({} keys) at {}", generation, keys.key, orphans.size(), endpoint);
        }
        return cleaned;
    }

    private static Manifest readManifest(RedisConnection connection, Keys keys) {
        Map<byte[], byte[]> fields = connection.hashCommands().hGetAll(keys.manifest);
        return fields == null || fields.isEmpty() ? null : Manifest.of(fields);
    }

    private static Instant expiry(RedisConnection connection, Keys keys) {
        Long millis = connection.keyCommands().pTtl(keys.manifest);
        return millis == null || millis < 0 ? null : Instant.now().plusMillis(millis);
    }

    private static void requireKey(TaskKey key, MemoryHeader header) {
        if (!header.key().equals(key)) {
            throw new TaskMemoryFormatException("The manifest of task " + key + " holds the memory of " + header.key()
                    + "; it was copied by hand? Delete it and teach the task again");
        }
    }

    private static String eval(RedisConnection connection, byte[] script, List<byte[]> keys, List<byte[]> args) {
        List<byte[]> keysAndArgs = new ArrayList<>(keys);
        keysAndArgs.addAll(args);
        Object result = connection.scriptingCommands().eval(script, ReturnType.VALUE, keys.size(),
                keysAndArgs.toArray(byte[][]::new));
        if (result instanceof byte[] b) {
            return string(b);
        }
        return String.valueOf(result);
    }

    /** Runs {@code work} on a connection, turning Redis failures into {@link TaskMemoryStoreException}. */
    private <T> T redis(String what, Function<RedisConnection, T> work) {
        try (RedisConnection connection = connections.getConnection()) {
            return work.apply(connection);
        } catch (DataAccessException e) {
            throw new TaskMemoryStoreException("Could not " + what + ": Redis at " + endpoint + " failed ("
                    + rootMessage(e) + "); check that it is running and reachable (spring.data.redis.*)", e);
        } catch (io.lettuce.core.RedisException e) {
            throw new TaskMemoryStoreException("Could not " + what + ": Redis at " + endpoint + " failed ("
                    + rootMessage(e) + "); check that it is running and reachable (spring.data.redis.*)", e);
        }
    }

    private static String rootMessage(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root == e ? String.valueOf(e.getMessage()) : e.getMessage() + ": " + root.getMessage();
    }

    private byte[] indexKey(String namespace) {
        return bytes(options.keyPrefix() + ":index:{" + namespace + "}");
    }

    private static String newGeneration() {
        byte[] random = new byte[6];
        RANDOM.nextBytes(random);
        return Long.toString(System.currentTimeMillis(), 36) + "-" + HexFormat.of().formatHex(random);
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String string(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }

    private static String csv(List<Integer> values) {
        return String.join(",", values.stream().map(String::valueOf).toList());
    }

    private static List<Integer> parseCsv(String csv) {
        if (csv.isEmpty()) {
            return List.of();
        }
        List<Integer> values = new ArrayList<>();
        for (String part : csv.split(",")) {
            values.add(Integer.parseInt(part.trim()));
        }
        return values;
    }

    /** The keys of one task. */
    private final class Keys {
        final TaskKey key;
        final String base;
        final byte[] manifest;
        final byte[] pending;
        final byte[] lock;
        final byte[] index;

        Keys(TaskKey key) {
            this.key = Objects.requireNonNull(key, "key");
            this.base = options.keyPrefix() + ":{" + key.namespace() + ":" + key.taskId() + "}";
            this.manifest = bytes(base + ":manifest");
            this.pending = bytes(base + ":pending");
            this.lock = bytes(base + ":lock");
            this.index = indexKey(key.namespace());
        }

        byte[] part(String generation, int layer, int part) {
            return bytes(base + ":" + generation + ":layer:" + layer + (part == 0 ? "" : ":" + part));
        }

        List<byte[]> payloadKeys(String generation, List<Integer> parts) {
            List<byte[]> result = new ArrayList<>();
            for (int l = 0; l < parts.size(); l++) {
                for (int p = 0; p < parts.get(l); p++) {
                    result.add(part(generation, l, p));
                }
            }
            return result;
        }
    }

    /** The manifest hash of one stored generation. */
    private record Manifest(String generation, byte[] header, List<Integer> parts, long storedBytes) {
        static Manifest of(Map<byte[], byte[]> raw) {
            Map<String, byte[]> fields = new java.util.HashMap<>();
            raw.forEach((k, v) -> fields.put(string(k), v));
            byte[] format = fields.get("format");
            if (format == null || !string(format).equals(Integer.toString(TaskMemoryCodec.FORMAT_VERSION))) {
                throw new TaskMemoryFormatException("The manifest is of format " + (format == null ? "(none)" : string(format))
                        + "; this library reads format " + TaskMemoryCodec.FORMAT_VERSION);
            }
            byte[] generation = fields.get("generation");
            byte[] header = fields.get("header");
            byte[] parts = fields.get("parts");
            byte[] stored = fields.get("storedBytes");
            if (generation == null || header == null || parts == null || stored == null) {
                throw new TaskMemoryFormatException("The manifest lacks one of generation, header, parts, storedBytes");
            }
            try {
                return new Manifest(string(generation), header, parseCsv(string(parts)), Long.parseLong(string(stored)));
            } catch (NumberFormatException e) {
                throw new TaskMemoryFormatException("The manifest's parts or size are not numbers: " + e.getMessage(), e);
            }
        }

        TaskMemoryDescriptor descriptor(MemoryHeader header, Instant expiresAt) {
            return header.describe(generation, storedBytes, expiresAt);
        }
    }

    /** A payload of the generation being read was unlinked by a newer save. */
    private static final class GenerationGone extends RuntimeException {
        GenerationGone() {
            super(null, null, false, false);
        }
    }
}

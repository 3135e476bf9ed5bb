package dev.emloc.spring.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.emloc.compress.CompressorFixtures;
import dev.emloc.compress.EmlocCompressor;
import dev.emloc.memory.CompressionSettings;
import dev.emloc.memory.IncompatibleTaskMemoryException;
import dev.emloc.memory.MemoryTarget;
import dev.emloc.memory.TaskKey;
import dev.emloc.memory.TaskMemory;
import dev.emloc.memory.TaskMemoryCodec;
import dev.emloc.memory.TaskMemoryDescriptor;
import dev.emloc.memory.TaskMemoryFormatException;
import dev.emloc.memory.TaskMemoryHandle;
import dev.emloc.memory.TaskMemoryStoreException;
import dev.emloc.vision.VisionLanguageModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.data.redis.connection.RedisConnection;
import org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory;

/** The Redis store against a real Redis server. */
class RedisTaskMemoryStoreTest {

    static RedisServerFixture redis;
    static LettuceConnectionFactory factory;
    static VisionLanguageModel model;
    static TaskMemory first;
    static TaskMemory second;
    static NDManager manager;
    static MemoryTarget target;

    @BeforeAll
    static void start(@TempDir Path dir) {
        redis = RedisServerFixture.start();
        factory = redis.connectionFactory(Duration.ofSeconds(2));
        model = CompressorFixtures.tinyModel(dir, false, 7);
        EmlocCompressor compressor = new EmlocCompressor(model);
        first = compressor.compress("colours", CompressorFixtures.textDemos(4, 3), CompressionSettings.builder().demosPerChunk(2).build());
        second = compressor.compress("colours", CompressorFixtures.textDemos(6, 9), CompressionSettings.builder().demosPerChunk(3).build());
        manager = NDManager.newBaseManager();
        target = new MemoryTarget(model.language().fingerprint(), manager, DataType.FLOAT32);
    }

    @AfterAll
    static void stop() {
        first.close();
        second.close();
        manager.close();
        model.close();
        factory.destroy();
        redis.close();
    }

    @BeforeEach
    void empty() {
        redis.flushAll();
    }

    @Test
    void aSavedMemoryIsReadBitExactByAnotherInstanceAndServedFromTheCacheUntilItChanges() {
        TaskKey key = TaskKey.of("acme", "colours");
        try (RedisTaskMemoryStore writer = new RedisTaskMemoryStore(factory);
                RedisTaskMemoryStore reader = new RedisTaskMemoryStore(factory)) {
            TaskMemoryDescriptor saved = writer.save(key, first);
            assertThat(reader.endpoint()).isEqualTo("redis://" + redis.host() + ":" + redis.port());
            try (TaskMemoryHandle a = reader.find(key, target).orElseThrow();
                    TaskMemoryHandle b = reader.find(key, target).orElseThrow()) {
                assertSameMemory(a.memory(), first);
                assertThat(a.descriptor().generation()).isEqualTo(saved.generation());
                assertThat(b.memory()).isSameAs(a.memory());
                assertThat(reader.cache().hits()).isEqualTo(1);
            }
            TaskMemoryDescriptor replaced = writer.save(key, second);
            try (TaskMemoryHandle c = reader.find(key, target).orElseThrow()) {
                assertThat(c.descriptor().generation()).isEqualTo(replaced.generation());
                assertSameMemory(c.memory(), second);
            }
            // the superseded generation's payloads expire after the grace that lets loads in flight finish
            assertThat(keys("emloc:{acme:colours}:" + saved.generation() + ":*")).hasSize(3)
                    .allSatisfy(k -> assertThat(pttl(k)).isBetween(1L, 60_000L));
            assertThat(keys("emloc:{acme:colours}:" + replaced.generation() + ":layer:*")).hasSize(3);
        }
        assertThat(((BaseNDManager) manager).getManagedArrays()).isEmpty();
    }

    @Test
    void largeLayersAreSplitIntoPartsAndFloat16HalvesTheBytes() {
        TaskKey key = TaskKey.of("acme", "parts");
        RedisTaskMemoryStore.Options options = RedisTaskMemoryStore.Options.defaults().withPartBytes(1024);
        try (RedisTaskMemoryStore store = new RedisTaskMemoryStore(factory, options)) {
            TaskMemoryDescriptor saved = store.save(key, first);
            assertThat(keys("emloc:{acme:parts}:" + saved.generation() + ":layer:*").size()).isGreaterThan(3);
            try (TaskMemoryHandle handle = store.find(key, target).orElseThrow()) {
                assertSameMemory(handle.memory(), first);
            }
        }
        try (RedisTaskMemoryStore store = new RedisTaskMemoryStore(factory,
                RedisTaskMemoryStore.Options.defaults().withPrecision(TaskMemoryCodec.Precision.FLOAT16))) {
            TaskMemoryDescriptor half = store.save(TaskKey.of("acme", "half"), first);
            TaskMemoryDescriptor full = new RedisTaskMemoryStore(factory).save(TaskKey.of("acme", "full"), first);
            assertThat((double) half.storedBytes()).isLessThan(full.storedBytes() * 0.6);
            try (TaskMemoryHandle handle = store.find(TaskKey.of("acme", "half"), target).orElseThrow()) {
                assertThat(handle.memory().keys(0).getDataType()).isEqualTo(DataType.FLOAT32);
                assertThat(handle.memory().keys(0).getShape()).isEqualTo(first.keys(0).getShape());
            }
        }
    }

    @Test
    void listDeleteAndTtlKeepNamespacesApart() throws InterruptedException {
        try (RedisTaskMemoryStore store = new RedisTaskMemoryStore(factory)) {
            store.save(TaskKey.of("acme", "zeta"), first);
            store.save(TaskKey.of("acme", "alpha"), first, Duration.ofMillis(1500));
            store.save(TaskKey.of("globex", "alpha"), second);
            assertThat(store.list("acme")).extracting(d -> d.key().taskId()).containsExactly("alpha", "zeta");
            assertThat(store.list("globex")).extracting(TaskMemoryDescriptor::demonstrationsDigest)
                    .containsExactly(second.demonstrationsDigest());
            TaskMemoryDescriptor expiring = store.describe(TaskKey.of("acme", "alpha")).orElseThrow();
            assertThat(expiring.expiresAt()).isNotNull();
            assertThat(store.describe(TaskKey.of("acme", "zeta")).orElseThrow().expiresAt()).isNull();
            Thread.sleep(1800);
            assertThat(store.find(TaskKey.of("acme", "alpha"), target)).isEmpty();
            assertThat(keys("emloc:{acme:alpha}:*")).isEmpty();   // payloads expired with the manifest
            assertThat(store.list("acme")).extracting(d -> d.key().taskId()).containsExactly("zeta");
            assertThat(store.delete(TaskKey.of("acme", "zeta"))).isTrue();
            assertThat(store.delete(TaskKey.of("acme", "zeta"))).isFalse();
            assertThat(store.list("acme")).isEmpty();
            assertThat(keys("emloc:{acme:*")).isEmpty();
            assertThat(store.list("globex")).hasSize(1);
        }
    }

    @Test
    void aReaderNeverSeesATornOrMixedMemoryWhileAWriterReplacesIt50Times() throws Exception {
        TaskKey key = TaskKey.of("acme", "busy");
        RedisTaskMemoryStore.Options noCache = RedisTaskMemoryStore.Options.defaults().withCacheBytes(0).withPartBytes(2048)
                .withSupersededGrace(Duration.ofSeconds(5));
        try (RedisTaskMemoryStore writer = new RedisTaskMemoryStore(factory, noCache);
                RedisTaskMemoryStore reader = new RedisTaskMemoryStore(factory, noCache)) {
            writer.save(key, first);
            float[][] firstKeys = layerKeys(first);
            float[][] secondKeys = layerKeys(second);
            AtomicBoolean writing = new AtomicBoolean(true);
            AtomicInteger reads = new AtomicInteger();
            ExecutorService pool = Executors.newSingleThreadExecutor();
            Future<?> readerLoop = pool.submit(() -> {
                while (writing.get() || reads.get() < 10) {
                    try (TaskMemoryHandle handle = reader.find(key, target).orElseThrow()) {
                        TaskMemory m = handle.memory();
                        float[][] expected = m.demonstrationsDigest().equals(first.demonstrationsDigest()) ? firstKeys : secondKeys;
                        for (int l = 0; l < m.numLayers(); l++) {
                            assertThat(m.keys(l).toFloatArray()).containsExactly(expected[l]);
                        }
                        reads.incrementAndGet();
                    }
                }
                return null;
            });
            for (int i = 0; i < 50; i++) {
                writer.save(key, i % 2 == 0 ? second : first);
            }
            writing.set(false);
            readerLoop.get(60, TimeUnit.SECONDS);
            pool.shutdown();
            assertThat(reads.get()).isGreaterThanOrEqualTo(10);
            // one live generation: the others expire within the grace
            String generation = reader.describe(key).orElseThrow().generation();
            assertThat(keys("emloc:{acme:busy}:*")).allSatisfy(k -> {
                if (!k.endsWith(":manifest") && !k.contains(generation)) {
                    assertThat(pttl(k)).isBetween(1L, 5_000L);
                }
            });
            assertThat(keys("emloc:{acme:busy}:" + generation + ":*")).allSatisfy(k -> assertThat(pttl(k)).isEqualTo(-1L));
        }
    }

    @Test
    void aWriterKilledBeforePublishingLeavesTheOldMemoryAndItsOrphansAreCleaned() throws InterruptedException {
        TaskKey key = TaskKey.of("acme", "crash");
        RedisTaskMemoryStore.Options options = RedisTaskMemoryStore.Options.defaults().withPendingTimeout(Duration.ofMillis(500));
        try (RedisTaskMemoryStore store = new RedisTaskMemoryStore(factory, options)) {
            TaskMemoryDescriptor old = store.save(key, first);
            store.beforePublish = () -> {
                throw new IllegalStateException("killed");
            };
            assertThatThrownBy(() -> store.save(key, second)).hasMessage("killed");
            store.beforePublish = () -> { };
            try (TaskMemoryHandle handle = store.find(key, target).orElseThrow()) {
                assertThat(handle.descriptor().generation()).isEqualTo(old.generation());
                assertSameMemory(handle.memory(), first);
            }
            List<String> orphans = keys("emloc:{acme:crash}:*:layer:*").stream()
                    .filter(k -> !k.contains(old.generation())).toList();
            assertThat(orphans).hasSize(3);
            try (RedisConnection connection = factory.getConnection()) {
                // the safety net: orphans expire on their own even if no one cleans them
                assertThat(connection.keyCommands().pTtl(orphans.get(0).getBytes(StandardCharsets.UTF_8))).isBetween(1L, 500L);
            }
            assertThat(store.cleanOrphans(key)).isZero();   // not past its deadline yet: could still be publishing
            Thread.sleep(400);
            // past the deadline a new save cleans it (expiry may already have removed some keys)
            Thread.sleep(200);
            assertThat(store.cleanOrphans(key)).isEqualTo(1);
            assertThat(keys("emloc:{acme:crash}:*:layer:*")).allMatch(k -> k.contains(old.generation()));
            assertThat(keys("emloc:{acme:crash}:pending")).isEmpty();
            store.save(key, second);
            try (TaskMemoryHandle handle = store.find(key, target).orElseThrow()) {
                assertSameMemory(handle.memory(), second);
            }
        }
    }

    @Test
    void aMemoryOfAnotherModelIsRefusedNamingBoth() {
        try (RedisTaskMemoryStore store = new RedisTaskMemoryStore(factory)) {
            store.save(TaskKey.of("acme", "colours"), first);
            MemoryTarget foreign = new MemoryTarget("feedbeef", manager, DataType.FLOAT32);
            assertThatThrownBy(() -> store.find(TaskKey.of("acme", "colours"), foreign))
                    .isInstanceOf(IncompatibleTaskMemoryException.class)
                    .hasMessageContaining(first.modelFingerprint()).hasMessageContaining("feedbeef");
        }
    }

    @Test
    void corruptBytesInRedisAreAClearFormatError() {
        TaskKey key = TaskKey.of("acme", "corrupt");
        try (RedisTaskMemoryStore store = new RedisTaskMemoryStore(factory)) {
            TaskMemoryDescriptor saved = store.save(key, first);
            byte[] layerKey = ("emloc:{acme:corrupt}:" + saved.generation() + ":layer:1").getBytes(StandardCharsets.UTF_8);
            try (RedisConnection connection = factory.getConnection()) {
                byte[] bytes = connection.stringCommands().get(layerKey);
                bytes[bytes.length / 2] ^= 0x40;
                connection.stringCommands().set(layerKey, bytes);
            }
            assertThatThrownBy(() -> store.find(key, target)).isInstanceOf(TaskMemoryFormatException.class)
                    .hasMessageContaining("layer 1 fails its checksum");
            assertThat(((BaseNDManager) manager).getManagedArrays()).isEmpty();
        }
    }

    @Test
    void eightInstancesTeachingOneTaskCompressOnce() throws Exception {
        TaskKey key = TaskKey.of("acme", "teach");
        byte[] encoded = new TaskMemoryCodec().encode(key, first);
        AtomicInteger teachings = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(8);
        List<RedisTaskMemoryStore> instances = new ArrayList<>();
        try {
            CountDownLatch go = new CountDownLatch(1);
            List<Future<String>> results = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                RedisTaskMemoryStore instance = new RedisTaskMemoryStore(factory, RedisTaskMemoryStore.Options.defaults()
                        .withLockTimeout(Duration.ofMillis(600)));   // renewed while teaching takes longer
                instances.add(instance);
                results.add(pool.submit(() -> {
                    go.await();
                    try (TaskMemoryHandle handle = instance.teachOnce(key,
                            d -> d.demonstrationsDigest().equals(first.demonstrationsDigest()), target, () -> {
                                teachings.incrementAndGet();
                                sleep(1500);
                                return new TaskMemoryCodec().decode(encoded, key, manager, DataType.FLOAT32);
                            }, null)) {
                        return handle.memory().demonstrationsDigest();
                    }
                }));
            }
            go.countDown();
            for (Future<String> result : results) {
                assertThat(result.get(60, TimeUnit.SECONDS)).isEqualTo(first.demonstrationsDigest());
            }
            assertThat(teachings).hasValue(1);
            assertThat(keys("emloc:{acme:teach}:lock")).isEmpty();
            // the owner releases the lock at once (it does not wait for the expiry), and renews it while teaching
            RedisTaskMemoryStore slow = new RedisTaskMemoryStore(factory, RedisTaskMemoryStore.Options.defaults()
                    .withLockTimeout(Duration.ofMillis(900)));
            instances.add(slow);
            long[] ttlWhileTeaching = new long[1];
            try (TaskMemoryHandle handle = slow.teachOnce(TaskKey.of("acme", "teach-again"), d -> false, target, () -> {
                sleep(1500);
                ttlWhileTeaching[0] = pttl("emloc:{acme:teach-again}:lock");
                return new TaskMemoryCodec().decode(encoded, key, manager, DataType.FLOAT32);
            }, null)) {
                assertThat(keys("emloc:{acme:teach-again}:lock")).isEmpty();
            }
            assertThat(ttlWhileTeaching[0]).as("lock renewed past its 900 ms expiry").isPositive();
        } finally {
            pool.shutdownNow();
            instances.forEach(RedisTaskMemoryStore::close);
        }
    }

    @Test
    void redisDownIsAClearErrorWithinTheTimeoutAndTheStoreWorksAgainWhenItIsBack() {
        TaskKey key = TaskKey.of("acme", "outage");
        try (RedisTaskMemoryStore store = new RedisTaskMemoryStore(factory, RedisTaskMemoryStore.Options.defaults().withCacheBytes(0))) {
            store.save(key, first);
            redis.stop();
            try {
                long start = System.nanoTime();
                assertThatThrownBy(() -> store.find(key, target)).isInstanceOf(TaskMemoryStoreException.class)
                        .hasMessageContaining("Could not load task acme/outage")
                        .hasMessageContaining("Redis at redis://" + redis.host() + ":" + redis.port())
                        .hasMessageContaining("check that it is running");
                assertThatThrownBy(() -> store.save(key, second)).isInstanceOf(TaskMemoryStoreException.class)
                        .hasMessageContaining("Could not save task acme/outage");
                assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(8));
            } finally {
                redis.restart();
            }
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (true) {
                try {
                    store.save(key, second);
                    break;
                } catch (TaskMemoryStoreException e) {
                    if (System.nanoTime() > deadline) {
                        throw e;
                    }
                    sleep(100);
                }
            }
            try (TaskMemoryHandle handle = store.find(key, target).orElseThrow()) {
                assertSameMemory(handle.memory(), second);
            }
        }
    }

    // ---------------------------------------------------------------- helpers

    static void assertSameMemory(TaskMemory actual, TaskMemory expected) {
        assertThat(actual.demonstrationsDigest()).isEqualTo(expected.demonstrationsDigest());
        assertThat(actual.settings()).isEqualTo(expected.settings());
        assertThat(actual.report()).isEqualTo(expected.report());
        assertThat(actual.positionOffset()).isEqualTo(expected.positionOffset());
        for (int l = 0; l < expected.numLayers(); l++) {
            assertThat(actual.keys(l).toFloatArray()).containsExactly(expected.keys(l).toFloatArray());
            assertThat(actual.values(l).toFloatArray()).containsExactly(expected.values(l).toFloatArray());
        }
    }

    static float[][] layerKeys(TaskMemory memory) {
        float[][] keys = new float[memory.numLayers()][];
        for (int l = 0; l < keys.length; l++) {
            keys[l] = memory.keys(l).toFloatArray();
        }
        return keys;
    }

    static long pttl(String key) {
        try (RedisConnection connection = factory.getConnection()) {
            return connection.keyCommands().pTtl(key.getBytes(StandardCharsets.UTF_8));
        }
    }

    static List<String> keys(String pattern) {
        try (RedisConnection connection = factory.getConnection()) {
            Set<byte[]> found = connection.keyCommands().keys(pattern.getBytes(StandardCharsets.UTF_8));
            return found == null ? List.of() : found.stream().map(b -> new String(b, StandardCharsets.UTF_8)).toList();
        }
    }

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}

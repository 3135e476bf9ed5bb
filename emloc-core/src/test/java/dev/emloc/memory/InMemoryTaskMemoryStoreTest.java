package dev.emloc.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.emloc.compress.CompressorFixtures;
import dev.emloc.compress.EmlocCompressor;
import dev.emloc.vision.VisionLanguageModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InMemoryTaskMemoryStoreTest {

    static VisionLanguageModel model;
    static TaskMemory memory;
    static TaskMemory other;
    static NDManager manager;
    static MemoryTarget target;

    @BeforeAll
    static void build(@TempDir Path dir) {
        model = CompressorFixtures.tinyModel(dir, false, 7);
        EmlocCompressor compressor = new EmlocCompressor(model);
        memory = compressor.compress("colours", CompressorFixtures.textDemos(4, 3), CompressionSettings.builder().demosPerChunk(2).build());
        other = compressor.compress("colours", CompressorFixtures.textDemos(6, 9), CompressionSettings.builder().demosPerChunk(3).build());
        manager = NDManager.newBaseManager();
        target = new MemoryTarget(model.language().fingerprint(), manager, DataType.FLOAT32);
    }

    @AfterAll
    static void close() {
        memory.close();
        other.close();
        manager.close();
        model.close();
    }

    @Test
    void savedMemoriesAreFoundBitExactAndServedFromTheCacheUntilReplaced() {
        TaskKey key = TaskKey.of("acme", "colours");
        try (InMemoryTaskMemoryStore store = new InMemoryTaskMemoryStore(10 << 20)) {
            TaskMemoryDescriptor saved = store.save(key, memory);
            assertThat(saved.demonstrationsDigest()).isEqualTo(memory.demonstrationsDigest());
            assertThat(saved.tokensKept()).isEqualTo(memory.report().layers().stream().mapToLong(CompressionReport.LayerRetention::kept).sum());
            try (TaskMemoryHandle first = store.find(key, target).orElseThrow();
                    TaskMemoryHandle second = store.find(key, target).orElseThrow()) {
                TaskMemoryCodecTest.assertSameMemory(first.memory(), memory);
                assertThat(first.memory().keys(2).toFloatArray()).containsExactly(memory.keys(2).toFloatArray());
                assertThat(second.memory()).isSameAs(first.memory());
                assertThat(store.cache().hits()).isEqualTo(1);
                TaskMemoryDescriptor replaced = store.save(key, other);
                assertThat(replaced.generation()).isNotEqualTo(saved.generation());
                // the replaced memory stays readable for the request that holds it
                assertThat(first.memory().keys(0).toFloatArray()).containsExactly(memory.keys(0).toFloatArray());
                try (TaskMemoryHandle third = store.find(key, target).orElseThrow()) {
                    assertThat(third.memory().demonstrationsDigest()).isEqualTo(other.demonstrationsDigest());
                }
            }
        }
        assertThat(((BaseNDManager) manager).getManagedArrays()).isEmpty();
    }

    @Test
    void aMemoryOfAnotherModelIsRefusedNamingBoth() {
        try (InMemoryTaskMemoryStore store = new InMemoryTaskMemoryStore(10 << 20)) {
            store.save(TaskKey.of("colours"), memory);
            MemoryTarget foreign = new MemoryTarget("0123abcd", manager, DataType.FLOAT32);
            assertThatThrownBy(() -> store.find(TaskKey.of("colours"), foreign))
                    .isInstanceOf(IncompatibleTaskMemoryException.class)
                    .hasMessageContaining(memory.modelFingerprint()).hasMessageContaining("0123abcd")
                    .hasMessageContaining("teaching the task again");
        }
    }

    @Test
    void aFullStoreRefusesTheSaveAndKeepsWhatItHad() {
        long one = new TaskMemoryCodec().encode(TaskKey.of("a"), memory).length;
        try (InMemoryTaskMemoryStore store = new InMemoryTaskMemoryStore(one + 100)) {
            store.save(TaskKey.of("a"), memory);
            assertThatThrownBy(() -> store.save(TaskKey.of("b"), memory)).isInstanceOf(TaskMemoryStoreException.class)
                    .hasMessageContaining("store is full").hasMessageContaining("task default/b");
            assertThat(store.describe(TaskKey.of("a"))).isPresent();
            store.save(TaskKey.of("a"), memory); // replacing within the bound is fine
            assertThat(store.sizeInBytes()).isBetween(one - 64, one + 64);
        }
    }

    @Test
    void listDeleteAndTtl() {
        MutableClock clock = new MutableClock();
        try (InMemoryTaskMemoryStore store = new InMemoryTaskMemoryStore(10 << 20, new TaskMemoryCodec(), 10 << 20, null, clock)) {
            store.save(TaskKey.of("acme", "zeta"), memory);
            store.save(TaskKey.of("acme", "alpha"), memory, Duration.ofMinutes(5));
            store.save(TaskKey.of("globex", "alpha"), memory);
            assertThat(store.list("acme")).extracting(d -> d.key().taskId()).containsExactly("alpha", "zeta");
            assertThat(store.describe(TaskKey.of("acme", "alpha")).orElseThrow().expiresAt())
                    .isEqualTo(clock.instant().plus(Duration.ofMinutes(5)));
            clock.advance(Duration.ofMinutes(6));
            assertThat(store.list("acme")).extracting(d -> d.key().taskId()).containsExactly("zeta");
            assertThat(store.find(TaskKey.of("acme", "alpha"), target)).isEmpty();
            assertThat(store.delete(TaskKey.of("acme", "zeta"))).isTrue();
            assertThat(store.delete(TaskKey.of("acme", "zeta"))).isFalse();
            assertThat(store.list("acme")).isEmpty();
            assertThat(store.list("globex")).hasSize(1);
        }
    }

    @Test
    void eightThreadsTeachingOneTaskTeachOnce() throws Exception {
        byte[] encoded = new TaskMemoryCodec().encode(TaskKey.of("colours"), memory);
        AtomicInteger teachings = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try (InMemoryTaskMemoryStore store = new InMemoryTaskMemoryStore(10 << 20)) {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<String>> results = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                results.add(pool.submit(() -> {
                    start.await();
                    try (TaskMemoryHandle handle = store.teachOnce(TaskKey.of("colours"),
                            d -> d.demonstrationsDigest().equals(memory.demonstrationsDigest()), target, () -> {
                                teachings.incrementAndGet();
                                sleep(200);
                                return new TaskMemoryCodec().decode(encoded, null, manager, DataType.FLOAT32);
                            }, null)) {
                        return handle.memory().demonstrationsDigest();
                    }
                }));
            }
            start.countDown();
            for (Future<String> result : results) {
                assertThat(result.get(30, TimeUnit.SECONDS)).isEqualTo(memory.demonstrationsDigest());
            }
            assertThat(teachings).hasValue(1);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void invalidTaskIdsCannotReachAnotherNamespace() {
        assertThatThrownBy(() -> TaskKey.of("acme", "x}:manifest")).hasMessageContaining("Invalid task id");
        assertThatThrownBy(() -> TaskKey.of("acme:other", "x")).hasMessageContaining("Invalid namespace");
        assertThatThrownBy(() -> TaskKey.of("acme", "")).hasMessageContaining("1 to 128 characters");
        assertThatThrownBy(() -> TaskKey.of("acme", "a".repeat(129))).hasMessageContaining("got 129");
        assertThatThrownBy(() -> TaskKey.of("acme", "-x")).hasMessageContaining("starting with a letter or a digit");
        assertThat(TaskKey.of("acme-support.v2", "invoices_2026").toString()).isEqualTo("acme-support.v2/invoices_2026");
    }

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static final class MutableClock extends Clock {
        private Instant now = Instant.parse("2026-11-24T09:00:00Z");

        void advance(Duration d) { now = now.plus(d); }
        @Override public ZoneOffset getZone() { return ZoneOffset.UTC; }
        @Override public Clock withZone(java.time.ZoneId zone) { return this; }
        @Override public Instant instant() { return now; }
    }
}

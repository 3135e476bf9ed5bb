package dev.emloc.spring.ai;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import dev.emloc.compress.CompressorFixtures;
import dev.emloc.compress.Demonstration;
import dev.emloc.compress.EmlocCompressor;
import dev.emloc.memory.CompressionReport;
import dev.emloc.memory.CompressionSettings;
import dev.emloc.memory.InMemoryTaskMemoryStore;
import dev.emloc.memory.TaskMemoryDescriptor;
import dev.emloc.vision.VisionLanguageModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static dev.emloc.spring.ai.SpringAiFixtures.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TaskAdaptersTest {

    static final CompressionSettings SETTINGS = CompressionSettings.builder().demosPerChunk(2).build();

    static VisionLanguageModel model;
    InMemoryTaskMemoryStore store;
    TaskAdapters adapters;

    @BeforeAll
    static void load(@TempDir Path dir) {
        model = CompressorFixtures.tinyModel(dir, false, 7);
    }

    @AfterAll
    static void unload() {
        model.close();
    }

    @BeforeEach
    void open() {
        store = new InMemoryTaskMemoryStore(64 << 20);
        adapters = TaskAdapters.builder(model, store).namespace("acme").compressionSettings(SETTINGS).queueCapacity(1).build();
    }

    @AfterEach
    void close() {
        adapters.close();
        store.close();
    }

    @Test
    void teachingTheSameDemonstrationsTwiceCompressesOnce() {
        List<Demonstration> demos = CompressorFixtures.textDemos(2, 3);
        TaskMemoryDescriptor first = adapters.teach("colours", demos);
        TaskMemoryDescriptor second = adapters.teach("colours", List.copyOf(demos));
        assertThat(second.generation()).isEqualTo(first.generation());
        assertThat(adapters.compressions()).isEqualTo(1);
        assertThat(adapters.upToDateHits()).isEqualTo(1);
        assertThat(adapters.isUpToDate("colours", demos)).isTrue();
        assertThat(first.key().namespace()).isEqualTo("acme");
        assertThat(first.demonstrationCount()).isEqualTo(2);
        assertThat(first.demonstrationsDigest()).isEqualTo(EmlocCompressor.demonstrationsDigest(demos));
        assertThat(first.settings()).isEqualTo(SETTINGS);

        TaskMemoryDescriptor changed = adapters.teach("colours", CompressorFixtures.textDemos(2, 4));
        assertThat(changed.generation()).isNotEqualTo(first.generation());
        assertThat(adapters.compressions()).isEqualTo(2);

        try (TaskAdapters otherSettings = TaskAdapters.builder(model, store).namespace("acme")
                .compressionSettings(SETTINGS.mutate().jsThreshold(0.01).build()).build()) {
            assertThat(otherSettings.isUpToDate("colours", CompressorFixtures.textDemos(2, 4))).isFalse();
            assertThat(otherSettings.teach("colours", CompressorFixtures.textDemos(2, 4)).generation())
                    .as("other settings teach again").isNotEqualTo(changed.generation());
            assertThat(otherSettings.compressions()).isEqualTo(1);
        }
    }

    @Test
    void describeListReportAndForget() {
        adapters.teach("b-task", CompressorFixtures.textDemos(2, 1));
        adapters.teach("a-task", CompressorFixtures.textDemos(2, 2), Duration.ofHours(1));
        assertThat(adapters.list()).extracting(d -> d.key().taskId()).containsExactly("a-task", "b-task");
        assertThat(adapters.describe("a-task")).hasValueSatisfying(d -> {
            assertThat(d.demonstrationCount()).isEqualTo(2);
            assertThat(d.expiresAt()).isNotNull();
        });
        assertThat(adapters.describe("b-task").orElseThrow().expiresAt()).isNull();
        CompressionReport report = adapters.report("a-task").orElseThrow();
        assertThat(report.demonstrations()).isEqualTo(2);
        assertThat(report.layers()).hasSize(model.language().config().numLayers());
        assertThat(report.chunks()).hasSize(1);
        assertThat(adapters.report("missing")).isEmpty();

        assertThat(adapters.forget("a-task")).isTrue();
        assertThat(adapters.forget("a-task")).isFalse();
        assertThat(adapters.describe("a-task")).isEmpty();
        assertThat(adapters.list()).extracting(d -> d.key().taskId()).containsExactly("b-task");
    }

    @Test
    void appendingEqualsTeachingEverythingAtOnce() {
        List<Demonstration> all = CompressorFixtures.textDemos(4, 5);
        TaskMemoryDescriptor firstTwo = adapters.teach("colours", all.subList(0, 2));
        TaskMemoryDescriptor appended = adapters.append("colours", all.subList(2, 4));
        assertThat(appended.generation()).isNotEqualTo(firstTwo.generation());
        assertThat(appended.demonstrationCount()).isEqualTo(4);
        assertThat(appended.demonstrationsDigest()).isEqualTo(EmlocCompressor.demonstrationsDigest(all));
        assertThat(adapters.compressions()).isEqualTo(2);
        assertThat(adapters.teach("colours", all).generation()).as("already up to date").isEqualTo(appended.generation());
        assertThat(adapters.compressions()).isEqualTo(2);

        assertThatThrownBy(() -> adapters.append("unknown", all)).isInstanceOf(UnknownTaskException.class)
                .hasMessageContaining("'unknown'").hasMessageContaining("'acme'").hasMessageContaining("teach it");
    }

    @Test
    void appendingKeepsTheTaughtMemorysExpiry() {
        List<Demonstration> all = CompressorFixtures.textDemos(4, 5);
        TaskMemoryDescriptor taught = adapters.teach("short-lived", all.subList(0, 2), java.time.Duration.ofHours(1));
        assertThat(taught.expiresAt()).isNotNull();
        TaskMemoryDescriptor appended = adapters.append("short-lived", all.subList(2, 4));
        assertThat(appended.expiresAt()).isBetween(taught.expiresAt().minusSeconds(30), taught.expiresAt().plusSeconds(1));

        adapters.teach("forever", all.subList(0, 2));
        assertThat(adapters.append("forever", all.subList(2, 4)).expiresAt()).as("no expiry stays no expiry").isNull();
    }

    @Test
    void teachAsyncReportsProgressFromStartToDone() throws Exception {
        List<TeachProgress> events = new CopyOnWriteArrayList<>();
        TaskMemoryDescriptor descriptor = adapters.teachAsync("colours", CompressorFixtures.textDemos(4, 3), events::add)
                .get(30, TimeUnit.SECONDS);
        assertThat(adapters.describe("colours")).contains(descriptor);
        int layers = model.language().config().numLayers();
        assertThat(events.get(0).phase()).isEqualTo(TeachProgress.Phase.STARTED);
        assertThat(events.get(events.size() - 1)).satisfies(done -> {
            assertThat(done.phase()).isEqualTo(TeachProgress.Phase.DONE);
            assertThat(done.completion()).isEqualTo(1.0);
            assertThat(done.demonstrations()).isEqualTo(4);
        });
        assertThat(events).filteredOn(e -> e.phase() == TeachProgress.Phase.CHUNK_STARTED)
                .extracting(TeachProgress::chunk, TeachProgress::chunks).containsExactly(
                        org.assertj.core.groups.Tuple.tuple(0, 2), org.assertj.core.groups.Tuple.tuple(1, 2));
        assertThat(events).filteredOn(e -> e.phase() == TeachProgress.Phase.LAYER_DONE).hasSize(2 * layers)
                .allSatisfy(e -> assertThat(e.keptFraction()).isBetween(0.0, 1.0));
        List<Double> completions = events.stream().map(TeachProgress::completion).toList();
        assertThat(completions).isSortedAccordingTo(Double::compare);
        assertThat(events).allSatisfy(e -> assertThat(e.taskId()).isEqualTo("colours"));

        List<TeachProgress> again = new ArrayList<>();
        adapters.teachAsync("colours", CompressorFixtures.textDemos(4, 3), again::add).get(30, TimeUnit.SECONDS);
        assertThat(again).extracting(TeachProgress::phase).as("up to date: nothing compressed")
                .containsExactly(TeachProgress.Phase.STARTED, TeachProgress.Phase.DONE);
    }

    @Test
    void cancellingARunningTeachStopsItAndStoresNothing() throws Exception {
        AtomicReference<CompletableFuture<TaskMemoryDescriptor>> future = new AtomicReference<>();
        CountDownLatch submitted = new CountDownLatch(1);
        List<TeachProgress> events = new CopyOnWriteArrayList<>();
        future.set(adapters.teachAsync("colours", CompressorFixtures.textDemos(4, 3), event -> {
            events.add(event);
            if (event.phase() == TeachProgress.Phase.LAYER_DONE) {
                try {
                    submitted.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                future.get().cancel(true);
            }
        }));
        submitted.countDown();
        assertThatThrownBy(() -> future.get().get(30, TimeUnit.SECONDS)).isInstanceOf(CancellationException.class);
        await(() -> adapters.activeJobs() == 0, "the compression has stopped");
        assertThat(events).filteredOn(e -> e.phase() == TeachProgress.Phase.CHUNK_DONE).as("stopped in the first chunk")
                .isEmpty();
        assertThat(events).extracting(TeachProgress::phase).doesNotContain(TeachProgress.Phase.DONE);
        assertThat(adapters.describe("colours")).isEmpty();
        assertThat(adapters.teach("colours", CompressorFixtures.textDemos(2, 3)).demonstrationCount())
                .as("the thread is free again").isEqualTo(2);
    }

    @Test
    void aFullTeachingQueueRefusesAtOnceAndAQueuedJobCanBeWithdrawn() throws Exception {
        CountDownLatch running = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        CompletableFuture<TaskMemoryDescriptor> first = adapters.teachAsync("one", CompressorFixtures.textDemos(2, 1), event -> {
            if (event.phase() == TeachProgress.Phase.STARTED) {
                running.countDown();
                try {
                    release.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        });
        try {
            assertThat(running.await(10, TimeUnit.SECONDS)).isTrue();
            CompletableFuture<TaskMemoryDescriptor> second = adapters.teachAsync("two", CompressorFixtures.textDemos(2, 2), null);
            assertThat(adapters.queueDepth()).isEqualTo(1);
            assertThatThrownBy(() -> adapters.teachAsync("three", CompressorFixtures.textDemos(2, 3), null))
                    .isInstanceOf(EmlocOverloadedException.class).hasMessageContaining("teaching queue is full")
                    .hasMessageContaining("queue capacity 1");
            assertThat(second.cancel(true)).isTrue();
            assertThat(adapters.queueDepth()).as("withdrawn from the queue at once").isZero();
        } finally {
            release.countDown();
        }
        assertThat(first.get(30, TimeUnit.SECONDS).key().taskId()).isEqualTo("one");
        assertThat(adapters.describe("two")).isEmpty();
    }

    @Test
    void invalidRequestsAreRefusedBeforeQueueing() {
        assertThatThrownBy(() -> adapters.teach("colours", List.of())).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("at least one demonstration");
        assertThatThrownBy(() -> adapters.teach("my task", CompressorFixtures.textDemos(1, 1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("Invalid task id 'my task'");
        assertThat(adapters.compressions()).isZero();
    }
}

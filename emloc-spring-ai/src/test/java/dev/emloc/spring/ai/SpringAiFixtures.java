package dev.emloc.spring.ai;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.stream.Collectors;

import javax.imageio.ImageIO;

import dev.emloc.generate.GenerationSettings;
import dev.emloc.memory.MemoryTarget;
import dev.emloc.memory.TaskKey;
import dev.emloc.memory.TaskMemory;
import dev.emloc.memory.TaskMemoryDescriptor;
import dev.emloc.memory.TaskMemoryHandle;
import dev.emloc.memory.TaskMemoryStore;
import dev.emloc.model.GradMode;
import dev.emloc.vision.VisionLanguageModel;

/** Images, settings and a store that can hold a request on its worker, for the Spring AI tests. */
final class SpringAiFixtures {

    private SpringAiFixtures() {
    }

    /** A 56x56 PNG checkerboard of {@code rgb} and light grey: 4 merged vision tokens on the tiny model. */
    static byte[] png(int rgb) {
        BufferedImage image = new BufferedImage(56, 56, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 56; y++) {
            for (int x = 0; x < 56; x++) {
                image.setRGB(x, y, (x / 14 + y / 14) % 2 == 0 ? rgb & 0xffffff : 0xf0f0f0);
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            ImageIO.write(image, "png", out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /** Greedy settings with the chat's stop tokens, as EmlocChatModel builds them by default. */
    static GenerationSettings greedy(VisionLanguageModel model, int maxTokens) {
        Set<Long> stops = model.chat().stopTokenIds().stream().map(Integer::longValue).collect(Collectors.toSet());
        return GenerationSettings.builder().maxNewTokens(maxTokens).stopTokenIds(stops).build();
    }

    /** Waits up to 10 seconds for {@code condition}. */
    static void await(BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("Timed out waiting until " + what);
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    /** A store whose {@code find} of task {@value #SLOW_TASK} waits for {@link #release}, to keep a worker busy. */
    static final class BlockingStore implements TaskMemoryStore {
        static final String SLOW_TASK = "slow";
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        /** Whether the worker thread that looked the slow task up had autograd on (it must not). */
        volatile Boolean gradModeOnWorker;
        /** Thrown by every {@code find} when set. */
        volatile Error failure;
        private final TaskMemoryStore delegate;

        BlockingStore(TaskMemoryStore delegate) {
            this.delegate = delegate;
        }

        @Override
        public Optional<TaskMemoryHandle> find(TaskKey key, MemoryTarget target) {
            if (failure != null) {
                throw failure;
            }
            if (key.taskId().equals(SLOW_TASK)) {
                gradModeOnWorker = GradMode.isEnabledOnThisThread();
                entered.countDown();
                try {
                    if (!release.await(30, TimeUnit.SECONDS)) {
                        throw new AssertionError("The test never released the blocked request");
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return delegate.find(key, target);
        }

        @Override
        public TaskMemoryDescriptor save(TaskKey key, TaskMemory memory, Duration ttl) {
            return delegate.save(key, memory, ttl);
        }

        @Override
        public Optional<TaskMemoryDescriptor> describe(TaskKey key) {
            return delegate.describe(key);
        }

        @Override
        public List<TaskMemoryDescriptor> list(String namespace) {
            return delegate.list(namespace);
        }

        @Override
        public boolean delete(TaskKey key) {
            return delegate.delete(key);
        }

        @Override
        public TaskMemoryHandle teachOnce(TaskKey key, Predicate<TaskMemoryDescriptor> upToDate, MemoryTarget target,
                Supplier<TaskMemory> teach, Duration ttl) {
            return delegate.teachOnce(key, upToDate, target, teach, ttl);
        }

        @Override
        public String endpoint() {
            return "blocking(" + delegate.endpoint() + ")";
        }

        @Override
        public void close() {
        }
    }
}

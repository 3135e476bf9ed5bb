package dev.emloc.spring.ai;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A fixed number of daemon worker threads in front of a bounded queue: work beyond the queue is refused at once
 * ({@link #offer} returns false), never queued without bound and never run on the caller's thread.
 */
final class WorkerPool {

    private final ThreadPoolExecutor executor;
    private final int threads;
    private final int queueCapacity;

    /**
     * @param name          thread name prefix, e.g. {@code emloc-chat-}
     * @param threads       worker threads, at least 1
     * @param queueCapacity work that may wait for a thread, at least 0 (0: refuse whenever every thread is busy)
     */
    WorkerPool(String name, int threads, int queueCapacity) {
        if (threads < 1) {
            throw new IllegalArgumentException("workerThreads must be at least 1, got " + threads);
        }
        if (queueCapacity < 0) {
            throw new IllegalArgumentException("queueCapacity must be at least 0, got " + queueCapacity);
        }
        this.threads = threads;
        this.queueCapacity = queueCapacity;
        BlockingQueue<Runnable> queue = queueCapacity == 0 ? new SynchronousQueue<>() : new ArrayBlockingQueue<>(queueCapacity);
        AtomicInteger count = new AtomicInteger();
        this.executor = new ThreadPoolExecutor(threads, threads, 0, TimeUnit.MILLISECONDS, queue, task -> {
            Thread thread = new Thread(task, name + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        }, new ThreadPoolExecutor.AbortPolicy());
    }

    /** Queues {@code work}; false when the queue is full or the pool is shut down. */
    boolean offer(Runnable work) {
        try {
            executor.execute(work);
            return true;
        } catch (RejectedExecutionException e) {
            return false;
        }
    }

    /** Takes {@code work} out of the queue if it has not started; frees its place at once. */
    boolean remove(Runnable work) {
        return executor.remove(work);
    }

    int threads() {
        return threads;
    }

    int queueCapacity() {
        return queueCapacity;
    }

    int queued() {
        return executor.getQueue().size();
    }

    boolean isShutdown() {
        return executor.isShutdown();
    }

    /** Stops taking work and returns what was waiting (never started); running work finishes. */
    List<Runnable> shutdown() {
        List<Runnable> waiting = new ArrayList<>();
        executor.getQueue().drainTo(waiting);
        executor.shutdown();
        return waiting;
    }

    /** Waits for running work to finish; false on timeout. */
    boolean awaitTermination(long millis) throws InterruptedException {
        return executor.awaitTermination(millis, TimeUnit.MILLISECONDS);
    }
}

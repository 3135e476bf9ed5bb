package dev.emloc.sample;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;

import dev.emloc.compress.Demonstration;
import dev.emloc.memory.TaskMemoryDescriptor;
import dev.emloc.spring.ai.TaskAdapters;
import dev.emloc.spring.ai.TeachProgress;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.ProblemDetail;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.stereotype.Component;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Sinks;

/**
 * Teaching jobs started through the API, each with its stream of events: {@code progress} while the teaching thread
 * compresses, then {@code report} (the task as stored, with its compression report) or {@code error} (a problem
 * detail). A client that subscribes late first gets the events it missed (the last {@link #REPLAYED_EVENTS}), so a
 * finished job answers with its whole story at once. Finished jobs are forgotten after {@link #RETENTION}, and at most
 * {@link #MAX_JOBS} are kept.
 */
@Component
public class TeachJobs {

    static final Duration RETENTION = Duration.ofMinutes(15);
    static final int MAX_JOBS = 100;
    static final int REPLAYED_EVENTS = 256;

    private static final Logger log = LoggerFactory.getLogger(TeachJobs.class);

    /** Where a job is. */
    public enum State { QUEUED, RUNNING, DONE, FAILED, CANCELLED }

    /** A job as {@code GET /api/tasks/{taskId}/teach/{jobId}} shows it. */
    public record Status(String jobId, String taskId, State state, int demonstrations, Instant submittedAt,
            Instant finishedAt, ProgressEvent progress, Boolean compressed, ProblemDetail error) {
    }

    /**
     * A {@link TeachProgress} for the page: {@code keptFraction} null when the event has none, {@code completion} in
     * [0, 1].
     */
    public record ProgressEvent(String phase, int chunk, int chunks, int layer, int layers, Double keptFraction,
            double completion, int demonstrations) {

        static ProgressEvent of(TeachProgress p) {
            return new ProgressEvent(p.phase().name(), p.chunk(), p.chunks(), p.layer(), p.layers(),
                    Double.isNaN(p.keptFraction()) ? null : p.keptFraction(), p.completion(), p.demonstrations());
        }
    }

    private final TaskAdapters adapters;
    private final TaskViews views;
    private final Problems problems;
    private final Clock clock = Clock.systemUTC();
    private final Map<String, Job> jobs = new ConcurrentHashMap<>();

    public TeachJobs(TaskAdapters adapters, TaskViews views, Problems problems) {
        this.adapters = adapters;
        this.views = views;
        this.problems = problems;
    }

    /**
     * Queues the teaching of {@code taskId}.
     *
     * @throws dev.emloc.spring.ai.EmlocOverloadedException at once when the teaching queue is full
     */
    public Status submit(String taskId, List<Demonstration> demonstrations) {
        purge();
        Job job = new Job(UUID.randomUUID().toString(), taskId, demonstrations.size(), clock.instant());
        CompletableFuture<TaskMemoryDescriptor> future = adapters.teachAsync(taskId, demonstrations, job::progress);
        job.future = future;
        jobs.put(job.id, job);
        future.whenComplete((descriptor, error) -> job.finish(error));
        log.info("Teaching task '{}' from {} demonstrations (job {})", taskId, demonstrations.size(), job.id);
        return job.status();
    }

    /** The job {@code jobId} of {@code taskId}. */
    public Optional<Status> status(String taskId, String jobId) {
        return find(taskId, jobId).map(Job::status);
    }

    /** The job's events, starting with those already sent (at most the last {@link #REPLAYED_EVENTS}); empty when there is no such job. */
    public Optional<Flux<ServerSentEvent<Object>>> events(String taskId, String jobId) {
        return find(taskId, jobId).map(job -> job.events.asFlux());
    }

    /** Cancels the job: nothing is saved, the stored memory stays as it was. False when it had already finished. */
    public Optional<Boolean> cancel(String taskId, String jobId) {
        return find(taskId, jobId).map(job -> job.future.cancel(true));
    }

    private Optional<Job> find(String taskId, String jobId) {
        return Optional.ofNullable(jobs.get(jobId)).filter(job -> job.taskId.equals(taskId));
    }

    private void purge() {
        Instant horizon = clock.instant().minus(RETENTION);
        jobs.values().removeIf(job -> job.finishedAt != null && job.finishedAt.isBefore(horizon));
        if (jobs.size() >= MAX_JOBS) {
            jobs.values().stream().filter(job -> job.finishedAt != null).min(Comparator.comparing(job -> job.finishedAt))
                    .ifPresent(oldest -> jobs.remove(oldest.id));
        }
    }

    private final class Job {
        final String id;
        final String taskId;
        final int demonstrations;
        final Instant submittedAt;
        final Sinks.Many<ServerSentEvent<Object>> events = Sinks.many().replay().limit(REPLAYED_EVENTS);
        volatile CompletableFuture<TaskMemoryDescriptor> future;
        volatile State state = State.QUEUED;
        volatile ProgressEvent latest;
        volatile boolean compressed;
        volatile Instant finishedAt;
        volatile ProblemDetail error;

        Job(String id, String taskId, int demonstrations, Instant submittedAt) {
            this.id = id;
            this.taskId = taskId;
            this.demonstrations = demonstrations;
            this.submittedAt = submittedAt;
        }

        /** On the teaching thread. */
        void progress(TeachProgress progress) {
            if (progress.phase() == TeachProgress.Phase.STARTED) {
                state = State.RUNNING;
            } else if (progress.phase() == TeachProgress.Phase.CHUNK_STARTED) {
                compressed = true;
            }
            latest = ProgressEvent.of(progress);
            emit("progress", latest);
        }

        /** On the teaching thread, or on the thread that cancelled the job. */
        void finish(Throwable error) {
            Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
            if (cause == null) {
                try {
                    emit("report", views.details(taskId, id, compressed).orElseThrow(
                            () -> new IllegalStateException("Task '" + taskId + "' was forgotten as soon as it was taught")));
                    state = State.DONE;
                } catch (RuntimeException e) {
                    fail(e);
                }
            } else {
                fail(cause);
            }
            finishedAt = clock.instant();
            events.emitComplete(Sinks.EmitFailureHandler.busyLooping(Duration.ofSeconds(1)));
        }

        private void fail(Throwable cause) {
            state = cause instanceof CancellationException ? State.CANCELLED : State.FAILED;
            error = problems.of(cause);
            if (state == State.FAILED) {
                log.warn("Teaching task '{}' failed (job {}): {}", taskId, id, cause.toString());
            }
            emit("error", error);
        }

        private void emit(String name, Object data) {
            events.emitNext(ServerSentEvent.builder(data).event(name).build(),
                    Sinks.EmitFailureHandler.busyLooping(Duration.ofSeconds(1)));
        }

        Status status() {
            return new Status(id, taskId, state, demonstrations, submittedAt, finishedAt, latest,
                    state == State.DONE ? compressed : null, error);
        }
    }
}

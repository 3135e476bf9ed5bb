package dev.emloc.spring.ai;

/**
 * A request was refused at once because every worker is busy and the waiting queue is full. Nothing ran; retry
 * later (for HTTP, a 503 or 429 with Retry-After fits), or give the model more workers or a longer queue.
 */
public class EmlocOverloadedException extends RuntimeException {

    private final int running;
    private final int queued;
    private final int queueCapacity;

    /** A refusal with its message and the state of the pool when it happened. */
    public EmlocOverloadedException(String message, int running, int queued, int queueCapacity) {
        super(message);
        this.running = running;
        this.queued = queued;
        this.queueCapacity = queueCapacity;
    }

    /** Requests running when this one was refused. */
    public int running() {
        return running;
    }

    /** Requests waiting when this one was refused. */
    public int queued() {
        return queued;
    }

    /** How many requests may wait. */
    public int queueCapacity() {
        return queueCapacity;
    }
}

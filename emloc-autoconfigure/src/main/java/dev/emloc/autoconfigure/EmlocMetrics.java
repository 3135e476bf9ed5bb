package dev.emloc.autoconfigure;

import dev.emloc.spring.ai.EmlocChatModel;
import dev.emloc.spring.ai.TaskAdapters;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;

/**
 * Meters of the EMLoC chat model and task adapters: {@code emloc.requests.queued} and {@code emloc.requests.active}
 * (gauges), {@code emloc.requests} by outcome, {@code emloc.tokens} by type (prompt, generated; their rate is
 * tokens/s), {@code emloc.memory.loads} and {@code emloc.memory.misses}, {@code emloc.compressions} and
 * {@code emloc.compressions.queued}. Per-call latency and token usage also come from Spring AI's chat model
 * observation ({@code gen_ai.client.operation}).
 */
public class EmlocMetrics implements MeterBinder {

    private final EmlocChatModel chatModel;
    private final TaskAdapters adapters;

    public EmlocMetrics(EmlocChatModel chatModel, TaskAdapters adapters) {
        this.chatModel = chatModel;
        this.adapters = adapters;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        Gauge.builder("emloc.requests.queued", chatModel, EmlocChatModel::queueDepth)
                .description("Chat requests waiting for a worker").register(registry);
        Gauge.builder("emloc.requests.active", chatModel, EmlocChatModel::activeRequests)
                .description("Chat requests running on the model").register(registry);
        counter(registry, "emloc.requests", "outcome", "completed", m -> m.completedRequests());
        counter(registry, "emloc.requests", "outcome", "cancelled", m -> m.cancelledRequests());
        counter(registry, "emloc.requests", "outcome", "failed", m -> m.failedRequests());
        counter(registry, "emloc.requests", "outcome", "rejected", m -> m.rejectedRequests());
        counter(registry, "emloc.tokens", "type", "prompt", m -> m.promptTokensProcessed());
        counter(registry, "emloc.tokens", "type", "generated", m -> m.tokensGenerated());
        FunctionCounter.builder("emloc.memory.loads", chatModel, EmlocChatModel::memoryLoads)
                .description("Task memories loaded for requests").register(registry);
        FunctionCounter.builder("emloc.memory.misses", chatModel, EmlocChatModel::memoryMisses)
                .description("Requests for a task without memory").register(registry);
        FunctionCounter.builder("emloc.compressions", adapters, TaskAdapters::compressions)
                .description("Task memories compressed").register(registry);
        Gauge.builder("emloc.compressions.queued", adapters, TaskAdapters::queueDepth)
                .description("Teach and append jobs waiting").register(registry);
    }

    private void counter(MeterRegistry registry, String name, String tag, String value,
            java.util.function.ToDoubleFunction<EmlocChatModel> f) {
        FunctionCounter.builder(name, chatModel, f).tag(tag, value).register(registry);
    }
}

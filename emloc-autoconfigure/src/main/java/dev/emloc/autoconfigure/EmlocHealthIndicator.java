package dev.emloc.autoconfigure;

import dev.emloc.memory.TaskMemoryStore;
import dev.emloc.spring.ai.EmlocChatModel;
import dev.emloc.vision.VisionLanguageModel;
import org.springframework.boot.health.contributor.AbstractHealthIndicator;
import org.springframework.boot.health.contributor.Health;

/**
 * Up when the model is loaded and the task memory store answers: details give the model, its device and dtype,
 * the worker queue and the store's endpoint. Down, with the store's error, when the store cannot be reached.
 */
public class EmlocHealthIndicator extends AbstractHealthIndicator {

    private final VisionLanguageModel model;
    private final EmlocChatModel chatModel;
    private final TaskMemoryStore store;

    public EmlocHealthIndicator(VisionLanguageModel model, EmlocChatModel chatModel, TaskMemoryStore store) {
        super("EMLoC health check failed");
        this.model = model;
        this.chatModel = chatModel;
        this.store = store;
    }

    @Override
    protected void doHealthCheck(Health.Builder builder) {
        builder.withDetail("model", chatModel.modelName())
                .withDetail("fingerprint", model.language().fingerprint())
                .withDetail("device", model.language().device().toString())
                .withDetail("vision", model.vision().isPresent())
                .withDetail("workers", chatModel.workerThreads())
                .withDetail("queueDepth", chatModel.queueDepth())
                .withDetail("queueCapacity", chatModel.queueCapacity())
                .withDetail("store", store.endpoint());
        try {
            int tasks = store.list(chatModel.namespace()).size();
            builder.up().withDetail("namespace", chatModel.namespace()).withDetail("tasks", tasks);
        } catch (RuntimeException e) {
            builder.down().withDetail("storeError", String.valueOf(e.getMessage()));
        }
    }
}

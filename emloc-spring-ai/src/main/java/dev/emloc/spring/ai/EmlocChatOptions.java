package dev.emloc.spring.ai;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import dev.emloc.memory.TaskKey;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.model.tool.DefaultToolCallingChatOptions;
import org.springframework.ai.model.tool.ToolCallingChatOptions;
import org.springframework.ai.tool.ToolCallback;

/**
 * Options of {@link EmlocChatModel}: how tokens are sampled, when generation stops, and which task memory answers.
 * Immutable; build one with {@link #builder()}, change one with {@link #mutate()}.
 *
 * <p>Every option may be null, meaning "not set": a request's options override the model's defaults field by field
 * (a set list replaces the default list), and what is still unset falls back to: temperature 0 (greedy), top-p 1 (off),
 * top-k 0 (off), {@value EmlocChatModel#DEFAULT_MAX_TOKENS} new tokens, no stop sequences, a random seed, no task.
 *
 * <p>What the engine cannot do is refused when a request runs, with an {@link EmlocRequestException}, rather than
 * silently dropped:
 * <ul>
 * <li>{@code frequencyPenalty} and {@code presencePenalty}: the engine has no repetition penalties; {@code null} and
 * {@code 0} (no penalty) are accepted, any other value is refused, so a client tuned for another provider learns that
 * its setting has no effect here.</li>
 * <li>tool callbacks ({@code ChatClient...tools(...)}): the model answers in text and never calls tools. The options
 * implement {@link ToolCallingChatOptions} only so that {@code ChatClient} hands the tools over and the model can say
 * so instead of ignoring them.</li>
 * </ul>
 * {@code model} is carried for observations and echoed back, but one chat model serves exactly the checkpoint it
 * loaded; a request naming another model is answered by the loaded one (the response's model says which).
 */
public final class EmlocChatOptions implements ToolCallingChatOptions {

    private final String model;
    private final Double temperature;
    private final Double topP;
    private final Integer topK;
    private final Integer maxTokens;
    private final List<String> stopSequences;
    private final Double frequencyPenalty;
    private final Double presencePenalty;
    private final Long seed;
    private final String taskId;
    private final List<ToolCallback> toolCallbacks;
    private final Map<String, Object> toolContext;

    private EmlocChatOptions(Builder b) {
        this.model = b.model();
        this.temperature = b.temperature();
        this.topP = b.topP();
        this.topK = b.topK();
        this.maxTokens = b.maxTokens();
        this.stopSequences = b.stopSequences() == null ? null : List.copyOf(b.stopSequences());
        this.frequencyPenalty = b.frequencyPenalty();
        this.presencePenalty = b.presencePenalty();
        this.seed = b.seed;
        this.taskId = b.taskId;
        this.toolCallbacks = b.toolCallbacks() == null ? List.of() : List.copyOf(b.toolCallbacks());
        this.toolContext = b.toolContext() == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(b.toolContext()));
    }

    /** A builder with nothing set. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * {@code options} as {@link EmlocChatOptions}: the same instance when it already is one, otherwise a copy of the
     * portable {@link ChatOptions} fields (and the tools of {@link ToolCallingChatOptions}, so that they are refused
     * rather than lost). Null gives empty options.
     */
    public static EmlocChatOptions fromOptions(ChatOptions options) {
        if (options == null) {
            return builder().build();
        }
        if (options instanceof EmlocChatOptions emloc) {
            return emloc;
        }
        Builder builder = builder().model(options.getModel()).temperature(options.getTemperature()).topP(options.getTopP())
                .topK(options.getTopK()).maxTokens(options.getMaxTokens()).stopSequences(options.getStopSequences())
                .frequencyPenalty(options.getFrequencyPenalty()).presencePenalty(options.getPresencePenalty());
        if (options instanceof ToolCallingChatOptions tools) {
            if (tools.getToolCallbacks() != null && !tools.getToolCallbacks().isEmpty()) {
                builder.toolCallbacks(tools.getToolCallbacks());
            }
            if (tools.getToolContext() != null && !tools.getToolContext().isEmpty()) {
                builder.toolContext(tools.getToolContext());
            }
        }
        return builder.build();
    }

    /**
     * {@code defaults} overridden field by field by what {@code runtime} sets: a set value wins, a set stop list
     * replaces the default list (unlike {@link Builder#combineWith}, which appends, as Spring AI's builders do).
     */
    static EmlocChatOptions merge(EmlocChatOptions defaults, ChatOptions runtime) {
        if (runtime == null) {
            return defaults;
        }
        EmlocChatOptions r = fromOptions(runtime);
        Builder merged = defaults.mutate();
        if (r.model != null) { merged.model(r.model); }
        if (r.temperature != null) { merged.temperature(r.temperature); }
        if (r.topP != null) { merged.topP(r.topP); }
        if (r.topK != null) { merged.topK(r.topK); }
        if (r.maxTokens != null) { merged.maxTokens(r.maxTokens); }
        if (r.stopSequences != null) { merged.stopSequences(r.stopSequences); }
        if (r.frequencyPenalty != null) { merged.frequencyPenalty(r.frequencyPenalty); }
        if (r.presencePenalty != null) { merged.presencePenalty(r.presencePenalty); }
        if (r.seed != null) { merged.seed(r.seed); }
        if (r.taskId != null) { merged.taskId(r.taskId); }
        if (!r.toolCallbacks.isEmpty()) { merged.toolCallbacks(r.toolCallbacks); }
        if (!r.toolContext.isEmpty()) { merged.toolContext(r.toolContext); }
        return merged.build();
    }

    /** A builder holding these options. */
    @Override
    public Builder mutate() {
        Builder builder = builder().model(model).temperature(temperature).topP(topP).topK(topK).maxTokens(maxTokens)
                .stopSequences(stopSequences).frequencyPenalty(frequencyPenalty).presencePenalty(presencePenalty)
                .seed(seed).taskId(taskId);
        if (!toolCallbacks.isEmpty()) {
            builder.toolCallbacks(toolCallbacks);
        }
        if (!toolContext.isEmpty()) {
            builder.toolContext(toolContext);
        }
        return builder;
    }

    /** Echoed for observations; the loaded checkpoint answers whatever is named here. */
    @Override
    public String getModel() {
        return model;
    }

    /** Softmax temperature; 0 decodes greedily. */
    @Override
    public Double getTemperature() {
        return temperature;
    }

    /** Nucleus mass in (0, 1]; 1 disables it. */
    @Override
    public Double getTopP() {
        return topP;
    }

    /** Keep only the k most likely tokens; 0 disables it, 1 is greedy. */
    @Override
    public Integer getTopK() {
        return topK;
    }

    /** Upper bound on generated tokens. */
    @Override
    public Integer getMaxTokens() {
        return maxTokens;
    }

    /** Texts that end generation; the answer is cut before them and never streams part of one. */
    @Override
    public List<String> getStopSequences() {
        return stopSequences;
    }

    /** Not supported: null or 0 only (see the class comment). */
    @Override
    public Double getFrequencyPenalty() {
        return frequencyPenalty;
    }

    /** Not supported: null or 0 only (see the class comment). */
    @Override
    public Double getPresencePenalty() {
        return presencePenalty;
    }

    /** Seed of the sampler: a fixed seed reproduces the same answer; null draws one at random. */
    public Long getSeed() {
        return seed;
    }

    /** The task whose memory answers the request, in the chat model's namespace; null asks without one. */
    public String getTaskId() {
        return taskId;
    }

    /** Carried only to be refused: the model does not call tools. */
    @Override
    public List<ToolCallback> getToolCallbacks() {
        return toolCallbacks;
    }

    /** Carried only because tools are; unused. */
    @Override
    public Map<String, Object> getToolContext() {
        return toolContext;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        return o instanceof EmlocChatOptions that && Objects.equals(model, that.model)
                && Objects.equals(temperature, that.temperature) && Objects.equals(topP, that.topP)
                && Objects.equals(topK, that.topK) && Objects.equals(maxTokens, that.maxTokens)
                && Objects.equals(stopSequences, that.stopSequences) && Objects.equals(frequencyPenalty, that.frequencyPenalty)
                && Objects.equals(presencePenalty, that.presencePenalty) && Objects.equals(seed, that.seed)
                && Objects.equals(taskId, that.taskId) && toolCallbacks.equals(that.toolCallbacks)
                && toolContext.equals(that.toolContext);
    }

    @Override
    public int hashCode() {
        return Objects.hash(model, temperature, topP, topK, maxTokens, stopSequences, frequencyPenalty, presencePenalty,
                seed, taskId, toolCallbacks, toolContext);
    }

    @Override
    public String toString() {
        return "EmlocChatOptions[model=" + model + ", temperature=" + temperature + ", topP=" + topP + ", topK=" + topK
                + ", maxTokens=" + maxTokens + ", stopSequences=" + stopSequences + ", frequencyPenalty=" + frequencyPenalty
                + ", presencePenalty=" + presencePenalty + ", seed=" + seed + ", taskId=" + taskId
                + (toolCallbacks.isEmpty() ? "" : ", toolCallbacks=" + toolCallbacks.size()) + "]";
    }

    /**
     * Builds {@link EmlocChatOptions}. Follows Spring AI's builders: {@link #combineWith} copies every option the
     * other builder set (stop sequences and tools are appended), {@link #clone} copies this builder. Values are
     * checked by {@link #build()}. Not thread-safe.
     */
    public static final class Builder extends DefaultToolCallingChatOptions.Builder<Builder> {

        private Long seed;
        private String taskId;

        /** Use {@link EmlocChatOptions#builder()}. */
        Builder() {
        }

        /** Seed of the sampler; null draws one at random. */
        public Builder seed(Long seed) {
            this.seed = seed;
            return this;
        }

        /** The task whose memory answers; null asks without one. Letters, digits, '.', '_' and '-' (see TaskKey). */
        public Builder taskId(String taskId) {
            this.taskId = taskId;
            return this;
        }

        @Override
        public Builder combineWith(ChatOptions.Builder<?> other) {
            super.combineWith(other);
            if (other instanceof Builder that) {
                if (that.seed != null) {
                    this.seed = that.seed;
                }
                if (that.taskId != null) {
                    this.taskId = that.taskId;
                }
            }
            return this;
        }

        /**
         * The options.
         *
         * @throws IllegalArgumentException naming the option and its value when one is out of range
         */
        @Override
        public EmlocChatOptions build() {
            if (temperature != null && !(temperature >= 0 && temperature < Double.POSITIVE_INFINITY)) {
                throw new IllegalArgumentException("temperature must be a finite number >= 0 (0 = greedy), got " + temperature);
            }
            if (topP != null && !(topP > 0 && topP <= 1)) {
                throw new IllegalArgumentException("topP must be in (0, 1] (1 = off), got " + topP);
            }
            if (topK != null && topK < 0) {
                throw new IllegalArgumentException("topK must be >= 0 (0 = off), got " + topK);
            }
            if (maxTokens != null && maxTokens < 1) {
                throw new IllegalArgumentException("maxTokens must be at least 1, got " + maxTokens);
            }
            if (stopSequences != null) {
                for (String stop : new ArrayList<>(stopSequences)) {
                    if (stop == null || stop.isEmpty()) {
                        throw new IllegalArgumentException("Stop sequences must be non-empty strings, got " + stopSequences);
                    }
                }
            }
            if (taskId != null) {
                TaskKey.requireValid("task id", taskId, TaskKey.MAX_TASK_ID_LENGTH);
            }
            return new EmlocChatOptions(this);
        }

        String model() { return model; }
        Double temperature() { return temperature; }
        Double topP() { return topP; }
        Integer topK() { return topK; }
        Integer maxTokens() { return maxTokens; }
        List<String> stopSequences() { return stopSequences; }
        Double frequencyPenalty() { return frequencyPenalty; }
        Double presencePenalty() { return presencePenalty; }
        List<ToolCallback> toolCallbacks() { return toolCallbacks; }
        Map<String, Object> toolContext() { return toolContext; }
    }
}

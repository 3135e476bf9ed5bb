package dev.emloc.spring.ai;

import java.util.Objects;

import dev.emloc.memory.TaskKey;
import org.springframework.ai.chat.client.ChatClientRequest;
import org.springframework.ai.chat.client.ChatClientResponse;
import org.springframework.ai.chat.client.advisor.api.Advisor;
import org.springframework.ai.chat.client.advisor.api.AdvisorChain;
import org.springframework.ai.chat.client.advisor.api.BaseAdvisor;
import org.springframework.ai.chat.client.advisor.api.StreamAdvisorChain;
import org.springframework.ai.chat.prompt.Prompt;
import reactor.core.publisher.Flux;

/**
 * Points {@code ChatClient} requests at a task memory: sets {@link EmlocChatOptions#getTaskId()} on the request's
 * options, which {@link EmlocChatModel} then answers with. Works for {@code call()} and {@code stream()}.
 *
 * <pre>{@code
 * ChatClient chat = ChatClient.builder(chatModel)
 *         .defaultAdvisors(TaskMemoryAdvisor.builder().defaultTaskId("support").build())
 *         .build();
 * chat.prompt().user("Where is my parcel?").call().content();                       // task "support"
 * chat.prompt().user("Total?").advisors(a -> a.param(TaskMemoryAdvisor.TASK_ID, "invoices")).call().content();
 * }</pre>
 *
 * <p>Which task a request gets, first match wins: the {@link #TASK_ID} advisor parameter of the request (a blank
 * value asks without a task); a task id already in the request's options; the advisor's default task id; none. Options
 * that are not {@link EmlocChatOptions} are converted ({@link EmlocChatOptions#fromOptions}).
 */
public final class TaskMemoryAdvisor implements BaseAdvisor {

    /** The advisor parameter naming a request's task: {@code .advisors(a -> a.param(TASK_ID, "invoices"))}. */
    public static final String TASK_ID = "emloc_task_id";

    /** The default order: where Spring AI puts its chat memory advisors. Only relative to advisors reading the task. */
    public static final int DEFAULT_ORDER = Advisor.DEFAULT_CHAT_MEMORY_PRECEDENCE_ORDER;

    private final String defaultTaskId;
    private final int order;

    private TaskMemoryAdvisor(String defaultTaskId, int order) {
        this.defaultTaskId = defaultTaskId;
        this.order = order;
    }

    /** A builder: no default task, {@link #DEFAULT_ORDER}. */
    public static Builder builder() {
        return new Builder();
    }

    /** The task of requests that name none; null for none. */
    public String defaultTaskId() {
        return defaultTaskId;
    }

    @Override
    public int getOrder() {
        return order;
    }

    @Override
    public ChatClientRequest before(ChatClientRequest request, AdvisorChain chain) {
        Object parameter = request.context().get(TASK_ID);
        Prompt prompt = request.prompt();
        EmlocChatOptions options = EmlocChatOptions.fromOptions(prompt.getOptions());
        String taskId;
        if (parameter != null) {
            taskId = parameter.toString().isBlank() ? null : parameter.toString().strip();
        } else if (options.getTaskId() != null) {
            return request;
        } else {
            taskId = defaultTaskId;
        }
        if (Objects.equals(taskId, options.getTaskId()) && prompt.getOptions() instanceof EmlocChatOptions) {
            return request;
        }
        EmlocChatOptions withTask = options.mutate().taskId(taskId).build();
        return request.mutate().prompt(prompt.mutate().chatOptions(withTask).build()).build();
    }

    @Override
    public ChatClientResponse after(ChatClientResponse response, AdvisorChain chain) {
        return response;
    }

    /**
     * Sets the task and passes the stream on, on the caller's thread: nothing here blocks, and errors of the chat
     * model reach the subscriber as they are (the default implementation would wrap them).
     */
    @Override
    public Flux<ChatClientResponse> adviseStream(ChatClientRequest request, StreamAdvisorChain chain) {
        return Flux.defer(() -> chain.nextStream(before(request, chain)));
    }

    @Override
    public String toString() {
        return "TaskMemoryAdvisor[defaultTaskId=" + defaultTaskId + ", order=" + order + "]";
    }

    /** Builds a {@link TaskMemoryAdvisor}. */
    public static final class Builder {
        private String defaultTaskId;
        private int order = DEFAULT_ORDER;

        private Builder() {
        }

        /** The task of requests that name none; default none. */
        public Builder defaultTaskId(String taskId) {
            if (taskId != null) {
                TaskKey.requireValid("task id", taskId, TaskKey.MAX_TASK_ID_LENGTH);
            }
            this.defaultTaskId = taskId;
            return this;
        }

        /** The advisor's place in the chain; default {@link #DEFAULT_ORDER}. */
        public Builder order(int order) {
            this.order = order;
            return this;
        }

        /** The advisor. */
        public TaskMemoryAdvisor build() {
            return new TaskMemoryAdvisor(defaultTaskId, order);
        }
    }
}

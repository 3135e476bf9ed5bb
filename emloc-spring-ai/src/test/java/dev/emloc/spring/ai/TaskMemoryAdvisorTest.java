package dev.emloc.spring.ai;

import java.util.Map;

import org.junit.jupiter.api.Test;
import org.springframework.ai.chat.client.ChatClientRequest;
import org.springframework.ai.chat.client.advisor.api.Advisor;
import org.springframework.ai.chat.client.advisor.api.AdvisorChain;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.chat.prompt.Prompt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TaskMemoryAdvisorTest {

    private static final AdvisorChain CHAIN = new AdvisorChain() { };

    private static ChatClientRequest request(ChatOptions options, Map<String, Object> context) {
        return ChatClientRequest.builder().prompt(new Prompt("hi", options)).context(context).build();
    }

    private static String taskOf(ChatClientRequest request) {
        return ((EmlocChatOptions) request.prompt().getOptions()).getTaskId();
    }

    @Test
    void theRequestParameterWinsThenTheOptionsThenTheDefault() {
        TaskMemoryAdvisor advisor = TaskMemoryAdvisor.builder().defaultTaskId("support").build();
        EmlocChatOptions options = EmlocChatOptions.builder().temperature(0.3).build();

        ChatClientRequest byParameter = advisor.before(request(options, Map.of(TaskMemoryAdvisor.TASK_ID, "invoices")), CHAIN);
        assertThat(taskOf(byParameter)).isEqualTo("invoices");
        assertThat(byParameter.prompt().getOptions().getTemperature()).as("other options kept").isEqualTo(0.3);
        assertThat(byParameter.prompt().getContents()).isEqualTo("hi");
        assertThat(byParameter.context()).containsEntry(TaskMemoryAdvisor.TASK_ID, "invoices");

        assertThat(taskOf(advisor.before(request(options, Map.of()), CHAIN))).isEqualTo("support");
        assertThat(taskOf(advisor.before(request(options.mutate().taskId("receipts").build(), Map.of()), CHAIN)))
                .isEqualTo("receipts");
        assertThat(taskOf(advisor.before(request(options.mutate().taskId("receipts").build(),
                Map.of(TaskMemoryAdvisor.TASK_ID, "invoices")), CHAIN))).isEqualTo("invoices");
        assertThat(taskOf(advisor.before(request(options, Map.of(TaskMemoryAdvisor.TASK_ID, " ")), CHAIN)))
                .as("a blank parameter asks without a task").isNull();
    }

    @Test
    void genericOptionsAreConvertedAndAnAdvisorWithoutDefaultLeavesRequestsAlone() {
        TaskMemoryAdvisor advisor = TaskMemoryAdvisor.builder().build();
        ChatClientRequest converted = advisor.before(request(ChatOptions.builder().temperature(0.5).build(),
                Map.of(TaskMemoryAdvisor.TASK_ID, "invoices")), CHAIN);
        assertThat(converted.prompt().getOptions()).isInstanceOf(EmlocChatOptions.class);
        assertThat(converted.prompt().getOptions().getTemperature()).isEqualTo(0.5);
        assertThat(taskOf(converted)).isEqualTo("invoices");

        ChatClientRequest untouched = request(EmlocChatOptions.builder().build(), Map.of());
        assertThat(advisor.before(untouched, CHAIN)).isSameAs(untouched);
    }

    @Test
    void orderAndValidation() {
        assertThat(TaskMemoryAdvisor.builder().build().getOrder()).isEqualTo(Advisor.DEFAULT_CHAT_MEMORY_PRECEDENCE_ORDER);
        assertThat(TaskMemoryAdvisor.builder().order(42).build().getOrder()).isEqualTo(42);
        assertThatThrownBy(() -> TaskMemoryAdvisor.builder().defaultTaskId("bad id")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("bad id");
        assertThatThrownBy(() -> TaskMemoryAdvisor.builder().build()
                .before(request(null, Map.of(TaskMemoryAdvisor.TASK_ID, "no/slash")), CHAIN))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no/slash");
    }
}

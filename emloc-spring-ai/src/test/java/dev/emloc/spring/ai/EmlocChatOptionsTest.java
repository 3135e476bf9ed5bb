package dev.emloc.spring.ai;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.model.tool.ToolCallingChatOptions;
import org.springframework.ai.tool.ToolCallback;
import org.springframework.ai.tool.definition.ToolDefinition;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class EmlocChatOptionsTest {

    private static EmlocChatOptions full() {
        return EmlocChatOptions.builder().model("qwen2-vl").temperature(0.7).topP(0.9).topK(40).maxTokens(64)
                .stopSequences(List.of("\n\n")).seed(42L).taskId("invoices").build();
    }

    @Test
    void builderSetsEveryOptionAndMutateCopiesThem() {
        EmlocChatOptions options = full();
        assertThat(options.getModel()).isEqualTo("qwen2-vl");
        assertThat(options.getTemperature()).isEqualTo(0.7);
        assertThat(options.getTopP()).isEqualTo(0.9);
        assertThat(options.getTopK()).isEqualTo(40);
        assertThat(options.getMaxTokens()).isEqualTo(64);
        assertThat(options.getStopSequences()).containsExactly("\n\n");
        assertThat(options.getSeed()).isEqualTo(42L);
        assertThat(options.getTaskId()).isEqualTo("invoices");
        assertThat(options.getFrequencyPenalty()).isNull();
        assertThat(options.getPresencePenalty()).isNull();
        assertThat(options.getToolCallbacks()).isEmpty();

        EmlocChatOptions copy = options.mutate().build();
        assertThat(copy).isEqualTo(options).hasSameHashCodeAs(options).isNotSameAs(options);
        EmlocChatOptions changed = options.mutate().temperature(0.0).taskId("receipts").build();
        assertThat(changed.getTemperature()).isEqualTo(0.0);
        assertThat(changed.getTaskId()).isEqualTo("receipts");
        assertThat(changed.getSeed()).isEqualTo(42L);
        assertThat(options.getTaskId()).as("the original is unchanged").isEqualTo("invoices");
        assertThat(changed).isNotEqualTo(options);
        assertThat(ChatOptions.class.cast(options).mutate()).isInstanceOf(EmlocChatOptions.Builder.class);
    }

    @Test
    void unsetOptionsAreNullAndStopListsAreImmutableCopies() {
        EmlocChatOptions empty = EmlocChatOptions.builder().build();
        assertThat(empty.getTemperature()).isNull();
        assertThat(empty.getTaskId()).isNull();
        assertThat(empty.getStopSequences()).isNull();
        java.util.ArrayList<String> stops = new java.util.ArrayList<>(List.of("END"));
        EmlocChatOptions options = EmlocChatOptions.builder().stopSequences(stops).build();
        stops.add("MORE");
        assertThat(options.getStopSequences()).containsExactly("END");
        assertThatThrownBy(() -> options.getStopSequences().add("x")).isInstanceOf(UnsupportedOperationException.class);
    }

    @Test
    void combineWithTakesWhatTheOtherBuilderSetIncludingEmlocOptions() {
        EmlocChatOptions.Builder base = EmlocChatOptions.builder().temperature(0.2).maxTokens(10).seed(1L).taskId("a")
                .stopSequences(List.of("X"));
        base.combineWith(EmlocChatOptions.builder().maxTokens(99).taskId("b").stopSequences(List.of("Y")));
        EmlocChatOptions combined = base.build();
        assertThat(combined.getTemperature()).as("unset in the other: kept").isEqualTo(0.2);
        assertThat(combined.getMaxTokens()).isEqualTo(99);
        assertThat(combined.getSeed()).isEqualTo(1L);
        assertThat(combined.getTaskId()).isEqualTo("b");
        assertThat(combined.getStopSequences()).as("Spring AI builders append stop lists").containsExactly("X", "Y");

        EmlocChatOptions fromGeneric = EmlocChatOptions.builder().taskId("a").topK(5)
                .combineWith(ChatOptions.builder().temperature(0.5).topK(7)).build();
        assertThat(fromGeneric.getTemperature()).isEqualTo(0.5);
        assertThat(fromGeneric.getTopK()).isEqualTo(7);
        assertThat(fromGeneric.getTaskId()).isEqualTo("a");
    }

    @Test
    void cloneCopiesTheBuilderIndependently() {
        EmlocChatOptions.Builder original = EmlocChatOptions.builder().taskId("a").seed(3L).stopSequences(List.of("X"));
        EmlocChatOptions.Builder clone = original.clone();
        clone.taskId("b").stopSequences(List.of("Y"));
        assertThat(original.build().getTaskId()).isEqualTo("a");
        assertThat(original.build().getStopSequences()).containsExactly("X");
        assertThat(clone.build().getTaskId()).isEqualTo("b");
        assertThat(clone.build().getSeed()).isEqualTo(3L);
    }

    @Test
    void fromOptionsConvertsGenericOptionsAndKeepsEmlocOnes() {
        EmlocChatOptions options = full();
        assertThat(EmlocChatOptions.fromOptions(options)).isSameAs(options);
        assertThat(EmlocChatOptions.fromOptions(null)).isEqualTo(EmlocChatOptions.builder().build());
        EmlocChatOptions converted = EmlocChatOptions.fromOptions(ChatOptions.builder().model("m").temperature(0.3)
                .topP(0.8).topK(3).maxTokens(12).stopSequences(List.of("S")).frequencyPenalty(0.5).build());
        assertThat(converted.getModel()).isEqualTo("m");
        assertThat(converted.getTemperature()).isEqualTo(0.3);
        assertThat(converted.getTopP()).isEqualTo(0.8);
        assertThat(converted.getTopK()).isEqualTo(3);
        assertThat(converted.getMaxTokens()).isEqualTo(12);
        assertThat(converted.getStopSequences()).containsExactly("S");
        assertThat(converted.getFrequencyPenalty()).as("carried so that the model can refuse it").isEqualTo(0.5);

        ToolCallback tool = tool("weather");
        EmlocChatOptions withTools = EmlocChatOptions.fromOptions(ToolCallingChatOptions.builder().toolCallbacks(tool)
                .toolContext(Map.of("user", "u1")).build());
        assertThat(withTools.getToolCallbacks()).containsExactly(tool);
        assertThat(withTools.getToolContext()).containsEntry("user", "u1");
    }

    @Test
    void mergeOverridesDefaultsFieldByFieldAndReplacesStopLists() {
        EmlocChatOptions defaults = full();
        EmlocChatOptions merged = EmlocChatOptions.merge(defaults, ChatOptions.builder().temperature(0.0)
                .stopSequences(List.of("Z")).build());
        assertThat(merged.getTemperature()).isEqualTo(0.0);
        assertThat(merged.getStopSequences()).containsExactly("Z");
        assertThat(merged.getTaskId()).isEqualTo("invoices");
        assertThat(merged.getMaxTokens()).isEqualTo(64);
        assertThat(EmlocChatOptions.merge(defaults, EmlocChatOptions.builder().taskId("other").seed(7L).build()))
                .extracting(EmlocChatOptions::getTaskId, EmlocChatOptions::getSeed, EmlocChatOptions::getTopK)
                .containsExactly("other", 7L, 40);
        assertThat(EmlocChatOptions.merge(defaults, null)).isSameAs(defaults);
    }

    @Test
    void buildRefusesOutOfRangeValuesNamingTheOption() {
        assertThatThrownBy(() -> EmlocChatOptions.builder().temperature(-1.0).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("temperature").hasMessageContaining("-1.0");
        assertThatThrownBy(() -> EmlocChatOptions.builder().topP(0.0).build()).hasMessageContaining("topP");
        assertThatThrownBy(() -> EmlocChatOptions.builder().topK(-2).build()).hasMessageContaining("topK");
        assertThatThrownBy(() -> EmlocChatOptions.builder().maxTokens(0).build()).hasMessageContaining("maxTokens");
        assertThatThrownBy(() -> EmlocChatOptions.builder().stopSequences(List.of("")).build())
                .hasMessageContaining("Stop sequences");
        assertThatThrownBy(() -> EmlocChatOptions.builder().taskId("in voices").build())
                .hasMessageContaining("task id").hasMessageContaining("in voices");
    }

    static ToolCallback tool(String name) {
        return new ToolCallback() {
            @Override
            public ToolDefinition getToolDefinition() {
                return ToolDefinition.builder().name(name).description(name).inputSchema("{}").build();
            }

            @Override
            public String call(String toolInput) {
                return "sunny";
            }
        };
    }
}

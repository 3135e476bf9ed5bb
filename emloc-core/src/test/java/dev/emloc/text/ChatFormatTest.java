package dev.emloc.text;

import static dev.emloc.text.QwenTokenizerFixture.id;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.stream.LongStream;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

class ChatFormatTest {

    private final ChatFormat format = new ChatFormat(QwenTokenizerFixture.tokenizer());

    private static final RenderOptions QUERY_AFTER_MEMORY =
            RenderOptions.builder().includeSystem(false).addGenerationPrompt(true).build();

    @Test
    void rendersDefaultSystemPromptUserTurnAndGenerationPrompt() {
        String text = format.render(List.of(ChatMessage.user("Describe the weather.")), RenderOptions.prompt());

        assertThat(text).isEqualTo("""
                <|im_start|>system
                You are a helpful assistant.<|im_end|>
                <|im_start|>user
                Describe the weather.<|im_end|>
                <|im_start|>assistant
                """);
    }

    @Test
    void encodesTheRenderingToTheIdsOfItsPieces() {
        long[] ids = format.encode(List.of(ChatMessage.user("Describe the weather.")), RenderOptions.prompt());

        long imStart = 151644;
        long imEnd = 151645;
        long newline = 198;
        assertThat(ids).containsExactly(
                imStart, id("system"), newline,
                id("You"), id("Ġare"), id("Ġa"), id("Ġhelpful"), id("Ġassistant"), id("."), imEnd, newline,
                imStart, 872, newline,
                id("Describe"), id("Ġthe"), id("Ġweather"), id("."), imEnd, newline,
                imStart, id("assistant"), newline);
    }

    @Test
    void keepsTheConversationsOwnSystemMessage() {
        List<ChatMessage> chat = List.of(
                ChatMessage.system("Answer in French."),
                ChatMessage.user("Hi"),
                ChatMessage.assistant("Bonjour"),
                ChatMessage.user("Thanks"));

        String text = format.render(chat, RenderOptions.builder().addGenerationPrompt(false).build());

        assertThat(text).isEqualTo("<|im_start|>system\nAnswer in French.<|im_end|>\n"
                + "<|im_start|>user\nHi<|im_end|>\n"
                + "<|im_start|>assistant\nBonjour<|im_end|>\n"
                + "<|im_start|>user\nThanks<|im_end|>\n");
    }

    @Test
    void usesAConfiguredDefaultSystemPrompt() {
        RenderOptions options = RenderOptions.builder().defaultSystemPrompt("Read invoices.").build();

        assertThat(format.render(List.of(ChatMessage.user("Total?")), options))
                .isEqualTo("<|im_start|>system\nRead invoices.<|im_end|>\n<|im_start|>user\nTotal?<|im_end|>\n"
                        + "<|im_start|>assistant\n");
    }

    @Test
    void rendersAQueryWithoutTheSystemTurn() {
        String text = format.render(List.of(ChatMessage.user("And tomorrow?")), QUERY_AFTER_MEMORY);

        assertThat(text).isEqualTo("<|im_start|>user\nAnd tomorrow?<|im_end|>\n<|im_start|>assistant\n");
    }

    @Test
    void memoryFollowedByQueryEncodesLikeTheWholeConversation() {
        List<ChatMessage> demonstrations = List.of(
                ChatMessage.user("发票上的总额是多少？"), ChatMessage.assistant("¥1,280.00 🧾"),
                ChatMessage.user("Date?"), ChatMessage.assistant("2024-03-01\n"));
        ChatMessage query = ChatMessage.user("And the VAT rate?");

        long[] memory = format.encode(demonstrations, RenderOptions.builder().addGenerationPrompt(false).build());
        long[] queryIds = format.encode(List.of(query), QUERY_AFTER_MEMORY);
        long[] whole = format.encode(concat(demonstrations, query), RenderOptions.prompt());

        assertThat(LongStream.concat(LongStream.of(memory), LongStream.of(queryIds)).toArray()).containsExactly(whole);
    }

    private static List<ChatMessage> concat(List<ChatMessage> messages, ChatMessage last) {
        return Stream.concat(messages.stream(), Stream.of(last)).toList();
    }

    @Test
    void rejectsASystemMessageWhenTheSystemTurnIsLeftOut() {
        List<ChatMessage> chat = List.of(ChatMessage.system("Be brief."), ChatMessage.user("Hi"));

        assertThatThrownBy(() -> format.render(chat, QUERY_AFTER_MEMORY))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("Message 0 is a system message")
                .hasMessageContaining("includeSystem(true)");
    }

    @Test
    void readsTemplateAndStopTokenIdsFromTheTokenizer() {
        assertThat(format.imStartId()).isEqualTo(151644);
        assertThat(format.imEndId()).isEqualTo(151645);
        assertThat(format.endOfTextId()).isEqualTo(151643);
        assertThat(format.stopTokenIds()).containsExactly(151645, 151643);
        assertThat(format.isStopToken(151645)).isTrue();
        assertThat(format.isStopToken(151643)).isTrue();
        assertThat(format.isStopToken(151644)).isFalse();
    }

    @Test
    void optionsDefaultToAFreshPromptAndCanBeMutated() {
        RenderOptions options = RenderOptions.builder().build();

        assertThat(options).isEqualTo(new RenderOptions(true, true, "You are a helpful assistant."));
        assertThat(options.mutate().includeSystem(false).build())
                .isEqualTo(new RenderOptions(false, true, "You are a helpful assistant."));
    }

    @Test
    void messagesRequireRoleAndContent() {
        assertThatThrownBy(() -> new ChatMessage(ChatMessage.Role.USER, (String) null))
                .isInstanceOf(NullPointerException.class)
                .hasMessageContaining("user message");
        assertThat(ChatMessage.assistant("ok")).isEqualTo(new ChatMessage(ChatMessage.Role.ASSISTANT, "ok"));
        assertThat(ChatMessage.Role.ASSISTANT.templateName()).isEqualTo("assistant");
    }
}

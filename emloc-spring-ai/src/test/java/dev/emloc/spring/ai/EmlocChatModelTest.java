package dev.emloc.spring.ai;

import java.net.URI;
import java.net.URL;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import dev.emloc.compress.CompressorFixtures;
import dev.emloc.generate.Generation;
import dev.emloc.memory.CompressionSettings;
import dev.emloc.memory.InMemoryTaskMemoryStore;
import dev.emloc.memory.MemoryTarget;
import dev.emloc.memory.TaskKey;
import dev.emloc.memory.TaskMemoryDescriptor;
import dev.emloc.memory.TaskMemoryHandle;
import dev.emloc.text.ChatMessage;
import dev.emloc.text.ContentPart;
import dev.emloc.vision.VisionLanguageModel;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationHandler;
import io.micrometer.observation.tck.TestObservationRegistry;
import io.micrometer.observation.tck.TestObservationRegistryAssert;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.ai.chat.client.ChatClient;
import org.springframework.ai.chat.messages.AssistantMessage;
import org.springframework.ai.chat.messages.SystemMessage;
import org.springframework.ai.chat.messages.UserMessage;
import org.springframework.ai.chat.metadata.Usage;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.observation.ChatModelObservationContext;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.ai.content.Media;
import org.springframework.core.io.ByteArrayResource;
import org.springframework.util.MimeTypeUtils;
import reactor.core.publisher.Flux;
import reactor.test.StepVerifier;

import static dev.emloc.spring.ai.SpringAiFixtures.await;
import static dev.emloc.spring.ai.SpringAiFixtures.greedy;
import static dev.emloc.spring.ai.SpringAiFixtures.png;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class EmlocChatModelTest {

    static final String TASK = "colours";
    static final int MAX_TOKENS = 12;

    static VisionLanguageModel model;
    static InMemoryTaskMemoryStore store;
    static TaskAdapters adapters;
    static EmlocChatModel chatModel;
    static ChatClient chat;
    static TaskMemoryDescriptor taught;
    static byte[] picture;

    @BeforeAll
    static void setUp(@TempDir Path dir) {
        model = CompressorFixtures.tinyModel(dir, true, 11);
        store = new InMemoryTaskMemoryStore(64 << 20);
        adapters = TaskAdapters.builder(model, store).compressionSettings(CompressionSettings.builder().demosPerChunk(2).build())
                .build();
        taught = adapters.teach(TASK, CompressorFixtures.textDemos(4, 3));
        chatModel = EmlocChatModel.builder(model, store).modelName("tiny-vl")
                .defaultOptions(EmlocChatOptions.builder().maxTokens(MAX_TOKENS).build()).build();
        chat = ChatClient.builder(chatModel).defaultAdvisors(TaskMemoryAdvisor.builder().build()).build();
        picture = png(0x305070);
    }

    @AfterAll
    static void tearDown() {
        chatModel.close();
        adapters.close();
        store.close();
        model.close();
    }

    /** What the engine answers directly, with the task's memory when {@code withMemory}. */
    private static Generation direct(boolean withMemory, ChatMessage... messages) {
        if (!withMemory) {
            return model.generate(List.of(messages), greedy(model, MAX_TOKENS), (id, text) -> { });
        }
        MemoryTarget target = new MemoryTarget(model.language().fingerprint(), model.language().newRequestManager(),
                model.language().dtype());
        try (TaskMemoryHandle handle = store.find(TaskKey.of(TASK), target).orElseThrow()) {
            return model.generate(handle.memory(), List.of(messages), greedy(model, MAX_TOKENS), (id, text) -> { });
        }
    }

    @Test
    void askingThroughTheAdvisorAnswersWithTheTaskMemoryAndReportsUsageAndMetadata() {
        ChatResponse response = chat.prompt().user("code 417?").advisors(a -> a.param(TaskMemoryAdvisor.TASK_ID, TASK))
                .call().chatResponse();

        Generation expected = direct(true, ChatMessage.user("code 417?"));
        assertThat(response.getResult().getOutput().getText()).isEqualTo(expected.text());
        assertThat(response.getResult().getMetadata().getFinishReason()).isEqualTo(expected.finishReason().name());
        Usage usage = response.getMetadata().getUsage();
        assertThat(usage.getPromptTokens()).isEqualTo(expected.promptTokens()).isPositive();
        assertThat(usage.getCompletionTokens()).isEqualTo(expected.completionTokens()).isPositive();
        assertThat(usage.getTotalTokens()).isEqualTo(usage.getPromptTokens() + usage.getCompletionTokens());
        assertThat(usage.getCacheReadInputTokens()).isPositive()
                .isEqualTo(Math.round(taught.tokensKept() / (double) taught.numLayers()));
        assertThat(response.getMetadata().getModel()).isEqualTo("tiny-vl");
        assertThat(response.getMetadata().getId()).isNotBlank();
        assertThat((String) response.getMetadata().get(EmlocMetadata.TASK_ID)).isEqualTo(TASK);
        assertThat((String) response.getMetadata().get(EmlocMetadata.MEMORY)).isEqualTo(EmlocMetadata.MEMORY_USED);
        assertThat((String) response.getMetadata().get(EmlocMetadata.MEMORY_GENERATION)).isEqualTo(taught.generation());
        assertThat((Long) response.getMetadata().get(EmlocMetadata.MEMORY_TOKENS_KEPT)).isEqualTo(taught.tokensKept());
        assertThat((Integer) response.getMetadata().get(EmlocMetadata.MEMORY_CONTEXT_TOKENS)).isEqualTo(taught.positionOffset());
        assertThat((Integer) response.getMetadata().get(EmlocMetadata.MEMORY_DEMONSTRATIONS)).isEqualTo(4);
        assertThat((String) response.getMetadata().get(EmlocMetadata.MODEL_FINGERPRINT))
                .isEqualTo(model.language().fingerprint());
        assertThat(response.getMetadata().containsKey(EmlocMetadata.MEMORY_FALLBACK)).isFalse();

        ChatResponse plain = chat.prompt().user("code 417?").call().chatResponse();
        assertThat((String) plain.getMetadata().get(EmlocMetadata.MEMORY)).isEqualTo(EmlocMetadata.MEMORY_NONE);
        assertThat(plain.getMetadata().getUsage().getCacheReadInputTokens()).isZero();
        assertThat(plain.getMetadata().getUsage().getPromptTokens())
                .as("without a memory the prompt carries the system turn the memory holds otherwise")
                .isGreaterThan(usage.getPromptTokens());
        assertThat(plain.getResult().getOutput().getText()).isEqualTo(direct(false, ChatMessage.user("code 417?")).text());
    }

    @Test
    void streamingGivesTheSameTextAsCallingWithFinishReasonAndUsageOnTheLastChunk() {
        ChatResponse called = chat.prompt().user("code 230?").advisors(a -> a.param(TaskMemoryAdvisor.TASK_ID, TASK))
                .call().chatResponse();
        List<ChatResponse> chunks = chat.prompt().user("code 230?").advisors(a -> a.param(TaskMemoryAdvisor.TASK_ID, TASK))
                .stream().chatResponse().collectList().block();

        assertThat(chunks).hasSizeGreaterThan(1);
        String streamed = chunks.stream().map(c -> c.getResult().getOutput().getText()).reduce("", String::concat);
        assertThat(streamed).isEqualTo(called.getResult().getOutput().getText()).isNotEmpty();
        ChatResponse last = chunks.get(chunks.size() - 1);
        assertThat(last.getResult().getMetadata().getFinishReason()).isEqualTo(called.getResult().getMetadata().getFinishReason())
                .isIn("STOP", "LENGTH");
        assertThat(last.getMetadata().getUsage().getCompletionTokens())
                .isEqualTo(called.getMetadata().getUsage().getCompletionTokens());
        assertThat(last.getMetadata().getUsage().getCacheReadInputTokens()).isPositive();
        assertThat((String) last.getMetadata().get(EmlocMetadata.MEMORY)).isEqualTo(EmlocMetadata.MEMORY_USED);
        assertThat(chunks.subList(0, chunks.size() - 1)).allSatisfy(chunk -> {
            assertThat(chunk.getResult().getMetadata().getFinishReason()).isNull();
            assertThat(chunk.getResult().getOutput().getText()).isNotEmpty();
            assertThat(chunk.getMetadata().getId()).isEqualTo(last.getMetadata().getId());
        });
    }

    @Test
    void userImagesAreSeenByTheModelFromBytesResourcesAndDataUris() {
        Generation expected = direct(false, ChatMessage.user(ContentPart.image(picture), ContentPart.text("What is this?")));
        ChatResponse fromResource = chat.prompt().user(u -> u.text("What is this?")
                .media(MimeTypeUtils.IMAGE_PNG, new ByteArrayResource(picture))).call().chatResponse();
        assertThat(fromResource.getResult().getOutput().getText()).isEqualTo(expected.text());
        ChatResponse textOnly = chat.prompt().user("What is this?").call().chatResponse();
        assertThat(fromResource.getMetadata().getUsage().getPromptTokens() - textOnly.getMetadata().getUsage().getPromptTokens())
                .as("a 56x56 image is 4 merged vision tokens between vision start and end").isEqualTo(6);

        Media bytes = Media.builder().mimeType(MimeTypeUtils.IMAGE_PNG).data(picture).build();
        assertThat(chatModel.call(new Prompt(UserMessage.builder().text("What is this?").media(bytes).build()))
                .getResult().getOutput().getText()).isEqualTo(expected.text());
        Media dataUri = Media.builder().mimeType(MimeTypeUtils.IMAGE_PNG)
                .data("data:image/png;base64," + Base64.getEncoder().encodeToString(picture)).build();
        assertThat(chatModel.call(new Prompt(UserMessage.builder().text("What is this?").media(dataUri).build()))
                .getResult().getOutput().getText()).isEqualTo(expected.text());

        ChatResponse withMemory = chat.prompt().user(u -> u.text("What is this?").media(MimeTypeUtils.IMAGE_PNG,
                new ByteArrayResource(picture))).advisors(a -> a.param(TaskMemoryAdvisor.TASK_ID, TASK)).call().chatResponse();
        assertThat(withMemory.getResult().getOutput().getText())
                .isEqualTo(direct(true, ChatMessage.user(ContentPart.image(picture), ContentPart.text("What is this?"))).text());
    }

    @Test
    void mediaGivenAsAUrlIsRefusedWithoutFetchingIt() throws Exception {
        URL remote = URI.create("https://example.invalid/cat.png").toURL();
        assertThatThrownBy(() -> chat.prompt().user(u -> u.text("What is this?").media(MimeTypeUtils.IMAGE_PNG, remote))
                .call().content())
                .isInstanceOf(EmlocRequestException.class).hasMessageContaining("https://example.invalid/cat.png")
                .hasMessageContaining("never fetches");
        Media url = Media.builder().mimeType(MimeTypeUtils.IMAGE_PNG).data("http://10.0.0.1/secret.png").build();
        Prompt prompt = new Prompt(UserMessage.builder().text("x").media(url).build());
        assertThatThrownBy(() -> chatModel.call(prompt)).isInstanceOf(EmlocRequestException.class)
                .hasMessageContaining("is a URL");
        StepVerifier.create(chatModel.stream(prompt)).expectError(EmlocRequestException.class).verify();
        Media pdf = Media.builder().mimeType(MimeTypeUtils.parseMimeType("application/pdf")).data(new byte[] {1}).build();
        assertThatThrownBy(() -> chatModel.call(new Prompt(UserMessage.builder().text("x").media(pdf).build())))
                .isInstanceOf(EmlocRequestException.class).hasMessageContaining("application/pdf")
                .hasMessageContaining("images only");
        assertThat(chatModel.failedRequests()).as("refused before reaching a worker").isZero();
    }

    @Test
    void anUnknownTaskIsAnErrorByDefaultAndAZeroShotAnswerWhenConfigured() {
        assertThatThrownBy(() -> chat.prompt().user("code 417?").advisors(a -> a.param(TaskMemoryAdvisor.TASK_ID, "receipts"))
                .call().content())
                .isInstanceOf(UnknownTaskException.class).hasMessageContaining("'receipts'").hasMessageContaining("'default'")
                .hasMessageContaining("TaskAdapters.teach").hasMessageContaining("ZERO_SHOT");

        try (EmlocChatModel zeroShot = EmlocChatModel.builder(model, store).onMissingTask(OnMissingTask.ZERO_SHOT)
                .defaultOptions(EmlocChatOptions.builder().maxTokens(MAX_TOKENS).build()).build()) {
            ChatResponse response = zeroShot.call(new Prompt("code 417?", EmlocChatOptions.builder().taskId("receipts").build()));
            assertThat(response.getResult().getOutput().getText()).isEqualTo(direct(false, ChatMessage.user("code 417?")).text());
            assertThat((String) response.getMetadata().get(EmlocMetadata.MEMORY)).isEqualTo(EmlocMetadata.MEMORY_NONE);
            assertThat((String) response.getMetadata().get(EmlocMetadata.MEMORY_FALLBACK))
                    .isEqualTo(EmlocMetadata.FALLBACK_ZERO_SHOT);
            assertThat((String) response.getMetadata().get(EmlocMetadata.TASK_ID)).isEqualTo("receipts");
            assertThat(response.getMetadata().getUsage().getCacheReadInputTokens()).isZero();
            assertThat(zeroShot.memoryMisses()).isEqualTo(1);
        }
    }

    @Test
    void multiTurnHistoryMapsToTheChatTemplateAndAMemoryReplacesTheSystemPrompt() {
        List<org.springframework.ai.chat.messages.Message> history = List.of(new SystemMessage("Answer with a colour."),
                new UserMessage("code 417?"), new AssistantMessage("red"), new UserMessage("and code 230?"));
        ChatResponse response = chatModel.call(new Prompt(history));
        assertThat(response.getResult().getOutput().getText()).isEqualTo(direct(false, ChatMessage.system("Answer with a colour."),
                ChatMessage.user("code 417?"), ChatMessage.assistant("red"), ChatMessage.user("and code 230?")).text());
        assertThat(response.getMetadata().containsKey(EmlocMetadata.SYSTEM_PROMPT)).isFalse();

        ChatResponse withMemory = chatModel.call(new Prompt(history, EmlocChatOptions.builder().taskId(TASK).build()));
        assertThat(withMemory.getResult().getOutput().getText()).isEqualTo(direct(true, ChatMessage.user("code 417?"),
                ChatMessage.assistant("red"), ChatMessage.user("and code 230?")).text());
        assertThat((String) withMemory.getMetadata().get(EmlocMetadata.SYSTEM_PROMPT))
                .isEqualTo(EmlocMetadata.SYSTEM_PROMPT_IGNORED);
    }

    @Test
    void toolsAndRepetitionPenaltiesAreRefusedWithWhatToDo() {
        assertThatThrownBy(() -> chat.prompt().user("weather?").toolCallbacks(EmlocChatOptionsTest.tool("weather"))
                .call().content())
                .isInstanceOf(EmlocRequestException.class).hasMessageContaining("does not call tools")
                .hasMessageContaining("1 tool(s)");
        assertThatThrownBy(() -> chatModel.call(new Prompt("hi", ChatOptions.builder().frequencyPenalty(0.5).build())))
                .isInstanceOf(EmlocRequestException.class).hasMessageContaining("frequencyPenalty is 0.5");
        assertThatThrownBy(() -> chatModel.call(new Prompt("hi", ChatOptions.builder().presencePenalty(1.0).build())))
                .isInstanceOf(EmlocRequestException.class).hasMessageContaining("presencePenalty");
        assertThat(chatModel.call(new Prompt("hi", ChatOptions.builder().frequencyPenalty(0.0).build())).getResult())
                .as("a zero penalty is no penalty").isNotNull();
    }

    @Test
    void requestOptionsOverrideTheDefaults() {
        ChatResponse one = chatModel.call(new Prompt("code 417?", EmlocChatOptions.builder().maxTokens(1).build()));
        assertThat(one.getMetadata().getUsage().getCompletionTokens()).isLessThanOrEqualTo(1);
        ChatResponse sampled = chat.prompt().user("code 417?").options(EmlocChatOptions.builder().temperature(1.0).seed(5L))
                .call().chatResponse();
        ChatResponse again = chat.prompt().user("code 417?").options(EmlocChatOptions.builder().temperature(1.0).seed(5L))
                .call().chatResponse();
        assertThat(sampled.getResult().getOutput().getText()).as("a fixed seed reproduces a sampled answer")
                .isEqualTo(again.getResult().getOutput().getText());
        assertThat(chatModel.getDefaultOptions().getMaxTokens()).isEqualTo(MAX_TOKENS);
        assertThat(chatModel.getOptions().getTemperature()).as("greedy by default").isEqualTo(0.0);
        assertThat(chatModel.getOptions().getModel()).isEqualTo("tiny-vl");
    }

    @Test
    void callsAndStreamsAreObservedWithTheResponseOnTheContext() {
        TestObservationRegistry registry = TestObservationRegistry.create();
        List<ChatModelObservationContext> contexts = new java.util.concurrent.CopyOnWriteArrayList<>();
        registry.observationConfig().observationHandler(new ObservationHandler<Observation.Context>() {
            @Override
            public boolean supportsContext(Observation.Context context) {
                return true;
            }

            @Override
            public void onStop(Observation.Context context) {
                if (context instanceof ChatModelObservationContext chatContext) {
                    contexts.add(chatContext);
                }
            }
        });
        try (EmlocChatModel observed = EmlocChatModel.builder(model, store).observationRegistry(registry).modelName("tiny-vl")
                .defaultOptions(EmlocChatOptions.builder().maxTokens(4).build()).build()) {
            ChatResponse called = observed.call(new Prompt("code 417?", EmlocChatOptions.builder().taskId(TASK).build()));
            List<ChatResponse> streamed = observed.stream(new Prompt("code 417?")).collectList().block();
            // a stream's observation stops in doFinally, just after its subscriber has seen the end
            await(() -> contexts.size() == 2, "both observations have stopped");

            TestObservationRegistryAssert.assertThat(registry).hasNumberOfObservationsWithNameEqualTo("gen_ai.client.operation", 2)
                    .hasObservationWithNameEqualTo("gen_ai.client.operation").that()
                    .hasLowCardinalityKeyValue("gen_ai.system", EmlocChatModel.PROVIDER)
                    .hasLowCardinalityKeyValue("gen_ai.response.model", "tiny-vl")
                    .hasBeenStarted().hasBeenStopped();
            assertThat(contexts).hasSize(2);
            assertThat(contexts.get(0).isStreaming()).isFalse();
            assertThat(contexts.get(0).getResponse()).isSameAs(called);
            assertThat(contexts.get(1).isStreaming()).isTrue();
            assertThat(contexts.get(1).getResponse().getResult().getOutput().getText()).isEqualTo(
                    streamed.stream().map(c -> c.getResult().getOutput().getText()).reduce("", String::concat));
            assertThat(contexts.get(1).getResponse().getMetadata().getUsage().getCompletionTokens()).isPositive();
        }
    }

    @Test
    void aFullQueueRefusesAtOnceInsteadOfWaiting() throws Exception {
        SpringAiFixtures.BlockingStore blocking = new SpringAiFixtures.BlockingStore(store);
        ExecutorService callers = Executors.newFixedThreadPool(2);
        try (EmlocChatModel busy = EmlocChatModel.builder(model, blocking).workerThreads(1).queueCapacity(1)
                .onMissingTask(OnMissingTask.ZERO_SHOT).defaultOptions(EmlocChatOptions.builder().maxTokens(2).build()).build()) {
            CompletableFuture<ChatResponse> running = CompletableFuture.supplyAsync(() -> busy.call(new Prompt("a",
                    EmlocChatOptions.builder().taskId(SpringAiFixtures.BlockingStore.SLOW_TASK).build())), callers);
            assertThat(blocking.entered.await(10, TimeUnit.SECONDS)).as("the first request holds the worker").isTrue();
            assertThat(blocking.gradModeOnWorker).as("autograd is off on worker threads").isFalse();
            CompletableFuture<ChatResponse> waiting = CompletableFuture.supplyAsync(() -> busy.call(new Prompt("b")), callers);
            await(() -> busy.queueDepth() == 1, "the second request waits in the queue");
            assertThat(busy.activeRequests()).isEqualTo(1);

            long started = System.nanoTime();
            assertThatThrownBy(() -> busy.call(new Prompt("c"))).isInstanceOf(EmlocOverloadedException.class)
                    .hasMessageContaining("1 request(s) running").hasMessageContaining("queue capacity 1")
                    .hasMessageContaining("queueCapacity");
            StepVerifier.create(busy.stream(new Prompt("d"))).expectError(EmlocOverloadedException.class).verify();
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started)).as("refused at once").isLessThan(2_000);
            assertThat(busy.rejectedRequests()).isEqualTo(2);

            blocking.release.countDown();
            assertThat(running.get(30, TimeUnit.SECONDS).getResult()).isNotNull();
            assertThat(waiting.get(30, TimeUnit.SECONDS).getResult()).isNotNull();
            assertThat(busy.completedRequests()).isEqualTo(2);
            assertThat(busy.queueDepth()).isZero();
        } finally {
            blocking.release.countDown();
            callers.shutdownNow();
        }
    }

    @Test
    void repeatedRequestsLeaveNoNativeArraysBehind() {
        Prompt withMemory = new Prompt(UserMessage.builder().text("What is this?")
                .media(Media.builder().mimeType(MimeTypeUtils.IMAGE_PNG).data(picture).build()).build(),
                EmlocChatOptions.builder().taskId(TASK).build());
        chatModel.call(withMemory);
        int before = model.language().liveArrayCount();
        for (int i = 0; i < 5; i++) {
            chatModel.call(withMemory);
            chatModel.stream(withMemory).blockLast();
            chatModel.stream(new Prompt("code 417?")).take(1).blockLast();
        }
        await(() -> chatModel.activeRequests() == 0, "the cancelled streams have stopped");
        assertThat(model.language().liveArrayCount()).isEqualTo(before);
    }

    @Test
    void cancellingAStreamStopsItsGenerationAndFreesTheWorker() {
        try (EmlocChatModel long_ = EmlocChatModel.builder(model, store).queueCapacity(4)
                .defaultOptions(EmlocChatOptions.builder().maxTokens(2_000).build()).build()) {
            Prompt prompt = new Prompt("Tell me everything about code 417.");
            List<ChatResponse> first = long_.stream(prompt).take(2).collectList().block();
            assertThat(first).hasSize(2);
            await(() -> long_.activeRequests() == 0, "the cancelled generation has stopped");
            assertThat(long_.cancelledRequests()).isEqualTo(1);
            assertThat(long_.tokensGenerated()).as("it stopped long before maxTokens").isLessThan(200);

            long before = long_.tokensGenerated();
            ChatResponse next = long_.call(new Prompt("code 417?", EmlocChatOptions.builder().maxTokens(3).build()));
            assertThat(next.getMetadata().getUsage().getCompletionTokens()).isEqualTo((int) (long_.tokensGenerated() - before));
        }
    }

    @Test
    void anErrorOnTheWorkerEndsTheStreamAndTheCall() {
        SpringAiFixtures.BlockingStore failing = new SpringAiFixtures.BlockingStore(store);
        failing.failure = new LinkageError("emloc-core on the classpath does not match");
        try (EmlocChatModel broken = EmlocChatModel.builder(model, failing).build()) {
            Prompt prompt = new Prompt("code 417?", EmlocChatOptions.builder().taskId(TASK).build());
            StepVerifier.create(broken.stream(prompt))
                    .expectErrorMatches(e -> e instanceof IllegalStateException && e.getCause() == failing.failure)
                    .verify(java.time.Duration.ofSeconds(10));
            assertThatThrownBy(() -> broken.call(prompt)).isSameAs(failing.failure);
            assertThat(broken.failedRequests()).isEqualTo(2);
        }
    }

    @Test
    void aStreamCancelledWhileQueuedLeavesTheQueueAtOnce() throws Exception {
        SpringAiFixtures.BlockingStore blocking = new SpringAiFixtures.BlockingStore(store);
        try (EmlocChatModel busy = EmlocChatModel.builder(model, blocking).queueCapacity(1)
                .onMissingTask(OnMissingTask.ZERO_SHOT).defaultOptions(EmlocChatOptions.builder().maxTokens(2).build()).build()) {
            Flux<ChatResponse> holding = busy.stream(new Prompt("a",
                    EmlocChatOptions.builder().taskId(SpringAiFixtures.BlockingStore.SLOW_TASK).build()));
            var held = holding.subscribe();
            assertThat(blocking.entered.await(10, TimeUnit.SECONDS)).isTrue();
            var queued = busy.stream(new Prompt("b")).subscribe();
            await(() -> busy.queueDepth() == 1, "the second stream waits");
            queued.dispose();
            assertThat(busy.queueDepth()).as("its place is free at once").isZero();
            blocking.release.countDown();
            held.dispose();
        } finally {
            blocking.release.countDown();
        }
    }
}

package dev.emloc.spring.ai;

import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;

import dev.emloc.generate.FinishReason;
import dev.emloc.generate.Generation;
import dev.emloc.generate.GenerationSettings;
import dev.emloc.generate.TokenListener;
import dev.emloc.memory.MemoryTarget;
import dev.emloc.memory.TaskKey;
import dev.emloc.memory.TaskMemoryDescriptor;
import dev.emloc.memory.TaskMemoryHandle;
import dev.emloc.memory.TaskMemoryStore;
import dev.emloc.model.GradMode;
import dev.emloc.text.ChatMessage;
import dev.emloc.vision.VisionLanguageModel;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.observation.contextpropagation.ObservationThreadLocalAccessor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.ai.chat.messages.AssistantMessage;
import org.springframework.ai.chat.metadata.ChatGenerationMetadata;
import org.springframework.ai.chat.metadata.ChatResponseMetadata;
import org.springframework.ai.chat.metadata.DefaultUsage;
import org.springframework.ai.chat.model.ChatModel;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.observation.ChatModelObservationContext;
import org.springframework.ai.chat.observation.ChatModelObservationConvention;
import org.springframework.ai.chat.observation.ChatModelObservationDocumentation;
import org.springframework.ai.chat.observation.DefaultChatModelObservationConvention;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.chat.prompt.Prompt;
import reactor.core.publisher.Flux;

/**
 * A Spring AI {@link ChatModel} answered in-process by a local Qwen2-VL ({@link VisionLanguageModel}), optionally
 * with a task memory: few-shot demonstrations compressed once by EMLoC and stored under a task id
 * ({@link TaskAdapters}). A request names its task with {@link EmlocChatOptions#getTaskId()} or through
 * {@link TaskMemoryAdvisor}; the memory is loaded from the {@link TaskMemoryStore} and the query is answered as if the
 * demonstrations were in its context.
 *
 * <pre>{@code
 * EmlocChatModel chatModel = EmlocChatModel.builder(model, store).namespace("acme").build();
 * ChatClient chat = ChatClient.builder(chatModel).defaultAdvisors(TaskMemoryAdvisor.builder().build()).build();
 * String total = chat.prompt().user(u -> u.text("Total?").media(MimeTypeUtils.IMAGE_PNG, receipt))
 *         .advisors(a -> a.param(TaskMemoryAdvisor.TASK_ID, "invoices")).call().content();
 * }</pre>
 *
 * <p><b>Conversation.</b> System, user (text and images) and assistant messages map to the chat template in order.
 * With a task memory, the request's system messages are dropped: the memory begins with the system turn it was taught
 * with, and a query after it is rendered without one ({@link EmlocMetadata#SYSTEM_PROMPT} says so). Images are taken
 * as bytes; URLs are never fetched (see {@link EmlocRequestException}). Tool calling is not supported and refused.
 *
 * <p><b>Concurrency.</b> The model is one heavy shared object, so requests run on a fixed pool of worker threads
 * ({@code workerThreads}, default 1) behind a bounded queue ({@code queueCapacity}, default 16). A request that finds
 * the queue full is refused at once with {@link EmlocOverloadedException}; nothing waits without bound. {@link #call}
 * blocks its caller until its answer is ready; {@link #stream} returns at once and emits tokens from the worker.
 * Cancelling a stream's subscription stops its generation before the next token (or takes it off the queue).
 *
 * <p><b>Response.</b> One generation, finish reason {@code STOP}, {@code LENGTH} or {@code CANCELLED}; usage and
 * {@link EmlocMetadata} keys in the response metadata (on the last chunk of a stream). Usage: prompt tokens are the
 * query's own tokens that were prefilled (the memory is not re-read as prompt); {@code cacheReadInputTokens} is the
 * memory's stored tokens averaged over layers (how many prefix tokens each layer attends to), 0 without a memory.
 *
 * <p>Every call and stream is observed as {@code gen_ai.client.operation} (Spring AI's chat model observation, provider
 * {@value #PROVIDER}). The chat model neither owns nor closes the model and the store; {@link #close()} stops its
 * workers.
 */
public final class EmlocChatModel implements ChatModel, AutoCloseable {

    /** The provider name in observations. */
    public static final String PROVIDER = "emloc";
    /** New tokens generated when neither the defaults nor the request set {@code maxTokens}. */
    public static final int DEFAULT_MAX_TOKENS = 512;
    /** Requests answered at the same time unless the builder says otherwise. */
    public static final int DEFAULT_WORKER_THREADS = 1;
    /** Requests that may wait for a worker unless the builder says otherwise. */
    public static final int DEFAULT_QUEUE_CAPACITY = 16;
    /** Largest image accepted in one message part, in encoded bytes. */
    public static final long DEFAULT_MAX_IMAGE_BYTES = 20L << 20;

    private static final Logger log = LoggerFactory.getLogger(EmlocChatModel.class);
    private static final ChatModelObservationConvention DEFAULT_OBSERVATION_CONVENTION =
            new DefaultChatModelObservationConvention();
    private static final long CLOSE_WAIT_MILLIS = 30_000;

    private final VisionLanguageModel model;
    private final TaskMemoryStore store;
    private final String namespace;
    private final EmlocChatOptions defaultOptions;
    private final OnMissingTask onMissingTask;
    private final ObservationRegistry observationRegistry;
    private final ChatModelObservationConvention observationConvention;
    private final String modelName;
    private final String fingerprint;
    private final MessageMapper messages;
    private final MemoryTarget memoryTarget;
    private final Set<Long> stopTokenIds;
    private final WorkerPool workers;
    private volatile boolean closed;

    private final AtomicInteger active = new AtomicInteger();
    private final AtomicLong completed = new AtomicLong();
    private final AtomicLong cancelled = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final AtomicLong rejected = new AtomicLong();
    private final AtomicLong tokensGenerated = new AtomicLong();
    private final AtomicLong promptTokens = new AtomicLong();
    private final AtomicLong memoryLoads = new AtomicLong();
    private final AtomicLong memoryMisses = new AtomicLong();

    private EmlocChatModel(Builder b) {
        this.model = b.model;
        this.store = b.store;
        this.namespace = b.namespace;
        this.onMissingTask = b.onMissingTask;
        this.observationRegistry = b.observationRegistry;
        this.observationConvention = b.observationConvention;
        this.fingerprint = model.language().fingerprint();
        this.modelName = b.modelName != null ? b.modelName : fingerprint;
        EmlocChatOptions.Builder defaults = b.defaultOptions.mutate();
        if (b.defaultOptions.getModel() == null) {
            defaults.model(modelName);
        }
        if (b.defaultOptions.getTemperature() == null) {
            defaults.temperature(0.0);
        }
        if (b.defaultOptions.getMaxTokens() == null) {
            defaults.maxTokens(DEFAULT_MAX_TOKENS);
        }
        this.defaultOptions = defaults.build();
        this.messages = new MessageMapper(b.maxImageBytes);
        // Decoded memories live in sub-managers of this one, owned by the store's cache; it is a child of the model's
        // manager and is deliberately not closed here, so memories the store still caches outlive this chat model.
        this.memoryTarget = new MemoryTarget(fingerprint, model.language().newRequestManager(), model.language().dtype());
        this.stopTokenIds = model.chat().stopTokenIds().stream().map(Integer::longValue).collect(Collectors.toUnmodifiableSet());
        this.workers = new WorkerPool("emloc-chat-", b.workerThreads, b.queueCapacity);
    }

    /** A builder for a chat model over {@code model} that loads task memories from {@code store}. */
    public static Builder builder(VisionLanguageModel model, TaskMemoryStore store) {
        return new Builder(model, store);
    }

    @Override
    public ChatResponse call(Prompt prompt) {
        Prompt requestPrompt = requestPrompt(prompt);
        ChatModelObservationContext context = ChatModelObservationContext.builder().prompt(requestPrompt)
                .provider(PROVIDER).streaming(false).build();
        return ChatModelObservationDocumentation.CHAT_MODEL_OPERATION
                .observation(observationConvention, DEFAULT_OBSERVATION_CONVENTION, () -> context, observationRegistry)
                .observe(() -> {
                    Request request = prepare(requestPrompt);
                    AtomicBoolean stop = new AtomicBoolean();
                    Job job = enqueue(request, (id, delta) -> { }, stop);
                    Answer answer = await(job, stop);
                    ChatResponse response = response(request, answer, answer.generation().text());
                    context.setResponse(response);
                    return response;
                });
    }

    /**
     * Streams the answer: one {@link ChatResponse} per piece of text as tokens are generated, then a last one with no
     * text that carries the finish reason, the usage and the {@link EmlocMetadata} keys. Nothing runs until the flux
     * is subscribed; cancelling the subscription stops generation.
     */
    @Override
    public Flux<ChatResponse> stream(Prompt prompt) {
        return Flux.deferContextual(contextView -> {
            Prompt requestPrompt = requestPrompt(prompt);
            ChatModelObservationContext context = ChatModelObservationContext.builder().prompt(requestPrompt)
                    .provider(PROVIDER).streaming(true).build();
            Observation observation = ChatModelObservationDocumentation.CHAT_MODEL_OPERATION
                    .observation(observationConvention, DEFAULT_OBSERVATION_CONVENTION, () -> context, observationRegistry);
            observation.parentObservation(contextView.getOrDefault(ObservationThreadLocalAccessor.KEY, null)).start();
            Flux<ChatResponse> responses = Flux.create(sink -> {
                AtomicBoolean stop = new AtomicBoolean();
                AtomicReference<Job> submitted = new AtomicReference<>();
                sink.onDispose(() -> {
                    stop.set(true);
                    withdraw(submitted.get());
                });
                Request request;
                Job job;
                try {
                    request = prepare(requestPrompt);
                    job = enqueue(request, (id, delta) -> {
                        if (!delta.isEmpty()) {
                            sink.next(chunk(request, delta));
                        }
                    }, stop);
                } catch (RuntimeException e) {
                    sink.error(e);
                    return;
                }
                submitted.set(job);
                if (stop.get()) {
                    withdraw(job);
                }
                job.result.whenComplete((answer, error) -> {
                    // runs on the worker (or here, if the job is already done); the flux must end in every case
                    try {
                        if (error == null) {
                            context.setResponse(response(request, answer, answer.generation().text()));
                            sink.next(response(request, answer, ""));
                            sink.complete();
                        } else if (!(error instanceof CancellationException)) {
                            sink.error(signalable(cause(error)));
                        } else if (!sink.isCancelled()) {
                            sink.error(new CancellationException("The request was withdrawn before it was answered"));
                        }
                    } catch (Throwable t) {
                        log.warn("Could not finish streaming request {}", request.id(), t);
                        sink.error(signalable(t));
                    }
                });
            });
            return responses.doOnError(observation::error).doFinally(signal -> observation.stop())
                    .contextWrite(ctx -> ctx.put(ObservationThreadLocalAccessor.KEY, observation));
        });
    }

    /** The default options: what a request that sets nothing gets. */
    @Override
    public EmlocChatOptions getOptions() {
        return defaultOptions;
    }

    @Override
    public EmlocChatOptions getDefaultOptions() {
        return defaultOptions;
    }

    /** The namespace of the tasks this model answers with. */
    public String namespace() {
        return namespace;
    }

    /** The name this model reports as the response model (the checkpoint fingerprint unless one was given). */
    public String modelName() {
        return modelName;
    }

    /** Requests waiting for a worker. */
    public int queueDepth() {
        return workers.queued();
    }

    /** How many requests may wait for a worker. */
    public int queueCapacity() {
        return workers.queueCapacity();
    }

    /** Worker threads. */
    public int workerThreads() {
        return workers.threads();
    }

    /** Requests being answered now. */
    public int activeRequests() {
        return active.get();
    }

    /** Requests answered to the end (finish reason STOP or LENGTH). */
    public long completedRequests() {
        return completed.get();
    }

    /** Generations stopped early: the stream's subscriber went away, the caller was interrupted, or the model closed. */
    public long cancelledRequests() {
        return cancelled.get();
    }

    /** Requests that failed while running (bad image, unknown task, store failure, ...). */
    public long failedRequests() {
        return failed.get();
    }

    /** Requests refused because the queue was full. */
    public long rejectedRequests() {
        return rejected.get();
    }

    /** Tokens generated by all requests, cancelled ones included. */
    public long tokensGenerated() {
        return tokensGenerated.get();
    }

    /** Prompt tokens prefilled by all requests (memories not counted). */
    public long promptTokensProcessed() {
        return promptTokens.get();
    }

    /** Task memories found in the store for a request. */
    public long memoryLoads() {
        return memoryLoads.get();
    }

    /** Requests whose task had no memory in the store. */
    public long memoryMisses() {
        return memoryMisses.get();
    }

    /**
     * Stops taking requests: waiting ones fail with {@link IllegalStateException}, running ones stop at their next
     * token (finish reason CANCELLED); waits up to 30 seconds for them. The model and the store stay open.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Runnable waiting : workers.shutdown()) {
            ((Job) waiting).result.completeExceptionally(new IllegalStateException(
                    "EmlocChatModel was closed before this request ran"));
        }
        try {
            if (!workers.awaitTermination(CLOSE_WAIT_MILLIS)) {
                log.warn("EmlocChatModel closed while {} request(s) were still running after {} ms", active.get(),
                        CLOSE_WAIT_MILLIS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "EmlocChatModel[model=" + modelName + ", namespace=" + namespace + ", store=" + store.endpoint()
                + ", workers=" + workers.threads() + ", queue=" + workers.queueCapacity() + "]";
    }

    /** The prompt with the default options overridden by its own. */
    private Prompt requestPrompt(Prompt prompt) {
        Objects.requireNonNull(prompt, "prompt");
        EmlocChatOptions options = EmlocChatOptions.merge(defaultOptions, prompt.getOptions());
        if (options.getModel() != null && !options.getModel().equals(modelName) && log.isDebugEnabled()) {
            log.debug("Request names model '{}'; it is answered by the loaded model '{}'", options.getModel(), modelName);
        }
        return new Prompt(prompt.getInstructions(), options);
    }

    /** Checks what the engine cannot do and converts messages and options, on the caller's thread. */
    private Request prepare(Prompt requestPrompt) {
        EmlocChatOptions options = (EmlocChatOptions) requestPrompt.getOptions();
        if (!options.getToolCallbacks().isEmpty()) {
            throw new EmlocRequestException("EmlocChatModel does not call tools, but the request offers "
                    + options.getToolCallbacks().size() + " tool(s); remove them (ChatClient .tools(...) / toolCallbacks)"
                    + " or use a chat model that supports tool calling for these requests");
        }
        requireNoPenalty("frequencyPenalty", options.getFrequencyPenalty());
        requireNoPenalty("presencePenalty", options.getPresencePenalty());
        List<ChatMessage> conversation = messages.toChatMessages(requestPrompt.getInstructions());
        GenerationSettings settings = GenerationSettings.builder()
                .temperature(orElse(options.getTemperature(), 0.0))
                .topP(orElse(options.getTopP(), 1.0))
                .topK(orElse(options.getTopK(), 0))
                .maxNewTokens(orElse(options.getMaxTokens(), DEFAULT_MAX_TOKENS))
                .seed(options.getSeed())
                .stopTokenIds(stopTokenIds)
                .stopStrings(orElse(options.getStopSequences(), List.of()))
                .build();
        TaskKey task = options.getTaskId() == null ? null : new TaskKey(namespace, options.getTaskId());
        return new Request(UUID.randomUUID().toString(), conversation, settings, task);
    }

    private static void requireNoPenalty(String name, Double value) {
        if (value != null && value != 0) {
            throw new EmlocRequestException(name + " is " + value + ", but EmlocChatModel has no repetition penalties;"
                    + " leave " + name + " unset (or 0)");
        }
    }

    private static <T> T orElse(T value, T fallback) {
        return value != null ? value : fallback;
    }

    private Job enqueue(Request request, TokenListener listener, AtomicBoolean stop) {
        if (closed) {
            throw new IllegalStateException("EmlocChatModel is closed; it takes no more requests");
        }
        Job job = new Job(request, listener, () -> closed || stop.get());
        if (!workers.offer(job)) {
            if (closed || workers.isShutdown()) {
                throw new IllegalStateException("EmlocChatModel is closed; it takes no more requests");
            }
            rejected.incrementAndGet();
            int running = active.get();
            int queued = workers.queued();
            throw new EmlocOverloadedException("EmlocChatModel is at capacity: " + running + " request(s) running on "
                    + workers.threads() + " worker thread(s) and " + queued + " waiting (queue capacity "
                    + workers.queueCapacity() + "); retry later, or raise the chat model's workerThreads or queueCapacity",
                    running, queued, workers.queueCapacity());
        }
        return job;
    }

    /** Takes a job that has not started off the queue, so its place is free at once. */
    private void withdraw(Job job) {
        if (job != null && job.result.cancel(false)) {
            workers.remove(job);
        }
    }

    private Answer await(Job job, AtomicBoolean stop) {
        try {
            return job.result.get();
        } catch (InterruptedException e) {
            stop.set(true);
            withdraw(job);
            Thread.currentThread().interrupt();
            throw new CancellationException("Interrupted while waiting for the answer; its generation was cancelled");
        } catch (ExecutionException e) {
            throw unwrap(e.getCause());
        }
    }

    /** The failure a job's result holds, without the wrappers futures add. */
    private static Throwable cause(Throwable error) {
        Throwable cause = error;
        while ((cause instanceof CompletionException || cause instanceof ExecutionException) && cause.getCause() != null) {
            cause = cause.getCause();
        }
        return cause;
    }

    /**
     * {@code error} as Reactor will deliver it: an {@link Error} (Reactor throws JVM-fatal ones such as
     * {@link LinkageError} instead of signalling them, which would leave the stream hanging) is wrapped.
     */
    private static Throwable signalable(Throwable error) {
        return error instanceof Error ? new IllegalStateException("The request failed on its worker: " + error, error) : error;
    }

    /** {@link #cause} as an unchecked exception to throw on the caller's thread (an {@link Error} is thrown as is). */
    private static RuntimeException unwrap(Throwable error) {
        Throwable cause = cause(error);
        if (cause instanceof RuntimeException runtime) {
            return runtime;
        }
        if (cause instanceof Error fatal) {
            throw fatal;
        }
        return new IllegalStateException("The request failed: " + cause, cause);
    }

    /** Runs on a worker: loads the task's memory if any, generates, and closes the memory handle. */
    private Answer execute(Request request, TokenListener listener, BooleanSupplier stop) {
        GradMode.disableOnThisThread();
        long started = System.nanoTime();
        Answer answer;
        if (request.task() == null) {
            answer = new Answer(model.generate(request.conversation(), request.settings(), listener, stop), null, false, false);
        } else {
            TaskMemoryHandle handle = store.find(request.task(), memoryTarget).orElse(null);
            if (handle == null) {
                memoryMisses.incrementAndGet();
                if (onMissingTask == OnMissingTask.ERROR) {
                    throw new UnknownTaskException(request.task(), store.endpoint());
                }
                log.debug("Task {} has no memory; answering zero-shot", request.task());
                answer = new Answer(model.generate(request.conversation(), request.settings(), listener, stop), null, true,
                        false);
            } else {
                memoryLoads.incrementAndGet();
                try (handle) {
                    List<ChatMessage> query = request.conversation().stream()
                            .filter(m -> m.role() != ChatMessage.Role.SYSTEM).toList();
                    boolean systemIgnored = query.size() != request.conversation().size();
                    answer = new Answer(model.generate(handle.memory(), query, request.settings(), listener, stop),
                            handle.descriptor(), false, systemIgnored);
                }
            }
        }
        Generation generation = answer.generation();
        tokensGenerated.addAndGet(generation.completionTokens());
        promptTokens.addAndGet(generation.promptTokens());
        (generation.finishReason() == FinishReason.CANCELLED ? cancelled : completed).incrementAndGet();
        if (log.isDebugEnabled()) {
            log.debug("Answered request {} (task {}, memory {}): {} prompt + {} new tokens, {} in {} ms", request.id(),
                    request.task(), answer.memory() == null ? "none" : answer.memory().generation(),
                    generation.promptTokens(), generation.completionTokens(), generation.finishReason(),
                    (System.nanoTime() - started) / 1_000_000);
        }
        return answer;
    }

    private ChatResponse response(Request request, Answer answer, String text) {
        Generation generation = answer.generation();
        TaskMemoryDescriptor memory = answer.memory();
        long cacheRead = memory == null || memory.numLayers() == 0 ? 0
                : Math.round(memory.tokensKept() / (double) memory.numLayers());
        DefaultUsage usage = new DefaultUsage(generation.promptTokens(), generation.completionTokens(),
                generation.promptTokens() + generation.completionTokens(), null, cacheRead, null);
        ChatResponseMetadata.Builder metadata = ChatResponseMetadata.builder().id(request.id()).model(modelName).usage(usage)
                .keyValue(EmlocMetadata.MODEL_FINGERPRINT, fingerprint)
                .keyValue(EmlocMetadata.MEMORY, memory != null ? EmlocMetadata.MEMORY_USED : EmlocMetadata.MEMORY_NONE);
        if (request.task() != null) {
            metadata.keyValue(EmlocMetadata.TASK_ID, request.task().taskId());
        }
        if (memory != null) {
            metadata.keyValue(EmlocMetadata.MEMORY_GENERATION, memory.generation())
                    .keyValue(EmlocMetadata.MEMORY_TOKENS_KEPT, memory.tokensKept())
                    .keyValue(EmlocMetadata.MEMORY_CONTEXT_TOKENS, memory.positionOffset())
                    .keyValue(EmlocMetadata.MEMORY_DEMONSTRATIONS, memory.demonstrationCount());
        }
        if (answer.zeroShotFallback()) {
            metadata.keyValue(EmlocMetadata.MEMORY_FALLBACK, EmlocMetadata.FALLBACK_ZERO_SHOT);
        }
        if (answer.systemIgnored()) {
            metadata.keyValue(EmlocMetadata.SYSTEM_PROMPT, EmlocMetadata.SYSTEM_PROMPT_IGNORED);
        }
        ChatGenerationMetadata generationMetadata = ChatGenerationMetadata.builder()
                .finishReason(generation.finishReason().name()).build();
        return new ChatResponse(List.of(new org.springframework.ai.chat.model.Generation(new AssistantMessage(text),
                generationMetadata)), metadata.build());
    }

    private ChatResponse chunk(Request request, String delta) {
        return new ChatResponse(List.of(new org.springframework.ai.chat.model.Generation(new AssistantMessage(delta),
                ChatGenerationMetadata.NULL)), ChatResponseMetadata.builder().id(request.id()).model(modelName).build());
    }

    /** A request ready for a worker: the engine's conversation and settings, and the task's key if any. */
    private record Request(String id, List<ChatMessage> conversation, GenerationSettings settings, TaskKey task) {
    }

    /** What a worker produced: the generation and the memory that answered, if any. */
    private record Answer(Generation generation, TaskMemoryDescriptor memory, boolean zeroShotFallback,
            boolean systemIgnored) {
    }

    /** One request on the worker pool; its result completes when it is answered, fails, or is withdrawn. */
    private final class Job implements Runnable {
        private final Request request;
        private final TokenListener listener;
        private final BooleanSupplier stop;
        private final CompletableFuture<Answer> result = new CompletableFuture<>();

        Job(Request request, TokenListener listener, BooleanSupplier stop) {
            this.request = request;
            this.listener = listener;
            this.stop = stop;
        }

        @Override
        public void run() {
            if (result.isDone()) {
                return;
            }
            active.incrementAndGet();
            try {
                result.complete(execute(request, listener, stop));
            } catch (Throwable t) {
                failed.incrementAndGet();
                if (t instanceof Error) {
                    log.error("Request {} failed on its worker", request.id(), t);
                }
                result.completeExceptionally(t);
            } finally {
                active.decrementAndGet();
            }
        }
    }

    /** Builds an {@link EmlocChatModel}; every setting but the model and the store has a default. */
    public static final class Builder {
        private final VisionLanguageModel model;
        private final TaskMemoryStore store;
        private String namespace = TaskKey.DEFAULT_NAMESPACE;
        private EmlocChatOptions defaultOptions = EmlocChatOptions.builder().build();
        private int workerThreads = DEFAULT_WORKER_THREADS;
        private int queueCapacity = DEFAULT_QUEUE_CAPACITY;
        private ObservationRegistry observationRegistry = ObservationRegistry.NOOP;
        private ChatModelObservationConvention observationConvention;
        private OnMissingTask onMissingTask = OnMissingTask.ERROR;
        private String modelName;
        private long maxImageBytes = DEFAULT_MAX_IMAGE_BYTES;

        private Builder(VisionLanguageModel model, TaskMemoryStore store) {
            this.model = Objects.requireNonNull(model, "model");
            this.store = Objects.requireNonNull(store, "store");
        }

        /** Namespace of the tasks (an application or tenant); default {@value TaskKey#DEFAULT_NAMESPACE}. */
        public Builder namespace(String namespace) {
            TaskKey.requireValid("namespace", namespace, TaskKey.MAX_NAMESPACE_LENGTH);
            this.namespace = namespace;
            return this;
        }

        /** Options of requests that set none; unset temperature and maxTokens become 0 and {@value #DEFAULT_MAX_TOKENS}. */
        public Builder defaultOptions(EmlocChatOptions defaultOptions) {
            this.defaultOptions = Objects.requireNonNull(defaultOptions, "defaultOptions");
            return this;
        }

        /** Requests answered at the same time, each on its own thread; default 1. */
        public Builder workerThreads(int workerThreads) {
            this.workerThreads = workerThreads;
            return this;
        }

        /** Requests that may wait for a worker before new ones are refused; default 16, 0 refuses whenever all are busy. */
        public Builder queueCapacity(int queueCapacity) {
            this.queueCapacity = queueCapacity;
            return this;
        }

        /** Where call and stream observations go; default {@link ObservationRegistry#NOOP}. */
        public Builder observationRegistry(ObservationRegistry observationRegistry) {
            this.observationRegistry = Objects.requireNonNull(observationRegistry, "observationRegistry");
            return this;
        }

        /** A convention replacing Spring AI's {@link DefaultChatModelObservationConvention}; null for the default. */
        public Builder observationConvention(ChatModelObservationConvention observationConvention) {
            this.observationConvention = observationConvention;
            return this;
        }

        /** What a request for a task without a memory gets; default {@link OnMissingTask#ERROR}. */
        public Builder onMissingTask(OnMissingTask onMissingTask) {
            this.onMissingTask = Objects.requireNonNull(onMissingTask, "onMissingTask");
            return this;
        }

        /** The model name reported in responses and observations; default the checkpoint's fingerprint. */
        public Builder modelName(String modelName) {
            this.modelName = modelName;
            return this;
        }

        /** Largest encoded image accepted in a message; default 20 MiB. */
        public Builder maxImageBytes(long maxImageBytes) {
            if (maxImageBytes < 1) {
                throw new IllegalArgumentException("maxImageBytes must be positive, got " + maxImageBytes);
            }
            this.maxImageBytes = maxImageBytes;
            return this;
        }

        /** The chat model; its worker threads start with it. */
        public EmlocChatModel build() {
            return new EmlocChatModel(this);
        }
    }
}

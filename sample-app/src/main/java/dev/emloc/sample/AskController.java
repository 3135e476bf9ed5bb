package dev.emloc.sample;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import dev.emloc.autoconfigure.EmlocProperties;
import dev.emloc.memory.TaskKey;
import dev.emloc.spring.ai.EmlocChatModel;
import dev.emloc.spring.ai.EmlocMetadata;
import dev.emloc.spring.ai.EmlocOverloadedException;
import dev.emloc.spring.ai.OnMissingTask;
import dev.emloc.spring.ai.TaskAdapters;
import dev.emloc.spring.ai.TaskMemoryAdvisor;
import dev.emloc.spring.ai.UnknownTaskException;
import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.Parameter;
import io.swagger.v3.oas.annotations.tags.Tag;
import org.springframework.ai.chat.client.ChatClient;
import org.springframework.ai.chat.metadata.Usage;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.core.io.ByteArrayResource;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.util.MimeType;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RequestPart;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.multipart.MultipartFile;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.publisher.Flux;

/**
 * Questions, answered with a task's memory through {@link ChatClient} and {@link TaskMemoryAdvisor}, streamed as
 * server-sent events: {@code token} events with the text as it comes, then {@code done} with the finish reason, the
 * usage and whether a memory answered, or {@code error} with a problem detail. What can be checked before the answer
 * starts (the question, the image, the task, the queue) is answered as a plain HTTP error instead.
 */
@RestController
@Tag(name = "ask", description = "Ask a question, with an image, answered with a task's memory")
public class AskController {

    /** A piece of the answer. */
    public record Token(String text) {
    }

    /**
     * The end of an answer.
     *
     * @param taskId              the task asked (null: none)
     * @param memory              {@code used} or {@code none}
     * @param finishReason        {@code STOP}, {@code LENGTH} or {@code CANCELLED}
     * @param promptTokens        the query's own tokens (the memory is not re-read)
     * @param completionTokens    tokens generated
     * @param memoryTokensPerLayer tokens of the memory each layer attends to (averaged over layers)
     * @param memoryContextTokens demonstration tokens the memory stands for
     * @param firstTokenMillis    time to the first piece of text (null when there was none)
     * @param millis              time to the end of the answer
     */
    public record Done(String taskId, String memory, String finishReason, Integer promptTokens, Integer completionTokens,
            Integer memoryTokensPerLayer, Integer memoryContextTokens, Long firstTokenMillis, long millis) {
    }

    private final ChatClient chat;
    private final EmlocChatModel chatModel;
    private final TaskAdapters adapters;
    private final ImageChecks images;
    private final Problems problems;
    private final EmlocProperties properties;
    private final ModelInfo model;

    public AskController(ChatClient chat, EmlocChatModel chatModel, TaskAdapters adapters, ImageChecks images,
            Problems problems, EmlocProperties properties, ModelInfo model) {
        this.chat = chat;
        this.chatModel = chatModel;
        this.adapters = adapters;
        this.images = images;
        this.problems = problems;
        this.properties = properties;
        this.model = model;
    }

    @PostMapping(path = "/api/ask", produces = MediaType.TEXT_EVENT_STREAM_VALUE)
    @Operation(summary = "Ask a question (multipart: question, optional image, optional taskId); the answer streams as"
            + " server-sent events: token..., then done (or error)")
    public Flux<ServerSentEvent<Object>> ask(
            @Parameter(description = "the question (required)") @RequestParam(required = false) String question,
            @Parameter(description = "a PNG, JPEG, GIF or BMP image") @RequestPart(required = false) MultipartFile image,
            @Parameter(description = "the task whose memory answers; none for a plain answer")
            @RequestParam(required = false) String taskId) {
        String text = question == null ? "" : question.strip();
        String task = taskId == null || taskId.isBlank() ? null : taskId.strip();
        byte[] imageBytes = Uploads.isPresent(image) ? Uploads.bytes(image) : null;
        if (text.isEmpty()) {
            throw new ResponseStatusException(HttpStatus.BAD_REQUEST, "The question is missing or blank; ask one (with"
                    + " an image if you like)");
        }
        MimeType imageType = imageBytes == null ? null : images.check(image.getOriginalFilename(), imageBytes);
        if (task != null) {
            TaskController.validTaskId(task);
            if (properties.getMemory().getOnMissingTask() == OnMissingTask.ERROR && adapters.describe(task).isEmpty()) {
                throw new UnknownTaskException(new TaskKey(adapters.namespace(), task), model.store(),
                        "teach it first (POST /api/tasks/" + task + "/teach), or ask without a task");
            }
        }
        refuseWhenFull();

        long start = System.nanoTime();
        AtomicLong firstToken = new AtomicLong(-1);
        AtomicReference<ChatResponse> last = new AtomicReference<>();
        Flux<ChatResponse> responses = chat.prompt()
                .user(u -> {
                    u.text(text);
                    if (imageBytes != null) {
                        u.media(imageType, new ByteArrayResource(imageBytes));
                    }
                })
                .advisors(a -> a.param(TaskMemoryAdvisor.TASK_ID, task == null ? "" : task))
                .stream().chatResponse();
        Flux<ServerSentEvent<Object>> tokens = responses.doOnNext(last::set)
                .map(AskController::text).filter(piece -> !piece.isEmpty())
                .doOnNext(piece -> firstToken.compareAndSet(-1, System.nanoTime()))
                .map(piece -> event("token", new Token(piece)));
        Flux<ServerSentEvent<Object>> done = Flux.defer(() -> Flux.just(event("done",
                done(task, last.get(), firstToken.get() < 0 ? null : (firstToken.get() - start) / 1_000_000,
                        (System.nanoTime() - start) / 1_000_000))));
        return tokens.concatWith(done).onErrorResume(e -> Flux.just(event("error", problems.of(e))));
    }

    /**
     * Refuses at once, with 503, when every worker is busy and the queue is full: a stream that started would only
     * carry the same refusal as an error event.
     */
    private void refuseWhenFull() {
        if (chatModel.activeRequests() >= chatModel.workerThreads() && chatModel.queueDepth() >= chatModel.queueCapacity()) {
            throw new EmlocOverloadedException("The chat model is at capacity: " + chatModel.activeRequests()
                    + " request(s) running on " + chatModel.workerThreads() + " worker thread(s) and " + chatModel.queueDepth()
                    + " waiting (queue capacity " + chatModel.queueCapacity() + "); retry later, or raise"
                    + " spring.ai.emloc.workers.threads or spring.ai.emloc.workers.queue-capacity",
                    chatModel.activeRequests(), chatModel.queueDepth(), chatModel.queueCapacity());
        }
    }

    private static String text(ChatResponse response) {
        if (response.getResult() == null || response.getResult().getOutput() == null) {
            return "";
        }
        String text = response.getResult().getOutput().getText();
        return text == null ? "" : text;
    }

    private static Done done(String task, ChatResponse response, Long firstTokenMillis, long millis) {
        if (response == null) {
            return new Done(task, null, null, null, null, null, null, firstTokenMillis, millis);
        }
        Usage usage = response.getMetadata().getUsage();
        String finish = response.getResult() == null ? null : response.getResult().getMetadata().getFinishReason();
        Object memory = response.getMetadata().get(EmlocMetadata.MEMORY);
        Object contextTokens = response.getMetadata().get(EmlocMetadata.MEMORY_CONTEXT_TOKENS);
        Integer perLayer = usage == null ? null : usage.getCacheReadInputTokens() == null ? null
                : usage.getCacheReadInputTokens().intValue();
        return new Done(task, memory == null ? null : memory.toString(), finish,
                usage == null ? null : usage.getPromptTokens(), usage == null ? null : usage.getCompletionTokens(),
                perLayer, contextTokens instanceof Number n ? n.intValue() : null, firstTokenMillis, millis);
    }

    private static ServerSentEvent<Object> event(String name, Object data) {
        return ServerSentEvent.builder(data).event(name).build();
    }
}

package dev.emloc.sample;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.offset;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.MatchResult;
import java.util.regex.Pattern;

import dev.emloc.compress.Demonstration;
import dev.emloc.memory.TaskMemoryDescriptor;
import dev.emloc.spring.ai.TaskAdapters;
import dev.emloc.spring.ai.TaskMemoryAdvisor;
import dev.emloc.spring.ai.TeachProgress;
import org.junit.jupiter.api.Test;
import org.springframework.ai.chat.client.ChatClient;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.core.io.ByteArrayResource;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpMethod;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.util.LinkedMultiValueMap;
import org.springframework.util.MimeTypeUtils;
import org.springframework.util.MultiValueMap;
import org.springframework.web.client.RestClient;
import tools.jackson.databind.JsonNode;

/** The REST API on a running application: teaching with its event stream, the task list, asking, and the errors. */
class SampleApiTest extends RunningSampleApp {

    @Autowired
    TaskAdapters adapters;

    @Autowired
    BundledExamples examples;

    @Autowired
    ChatClient chat;

    private final RestClient rest = RestClient.create();

    @Test
    void teachingTheBundledExampleStreamsProgressThenTheReport() {
        ResponseEntity<JsonNode> accepted = call(HttpMethod.POST, "/api/tasks/api-shapes/teach?example=shapes", null);
        assertThat(accepted.getStatusCode().value()).isEqualTo(202);
        String jobId = accepted.getBody().path("jobId").asString();
        URI events = accepted.getHeaders().getLocation();
        assertThat(events).hasToString("/api/tasks/api-shapes/teach/" + jobId + "/events");

        List<ServerSentEvents.Event> stream = events(HttpMethod.GET, events.toString(), null);

        int layers = modelInfo.layers();
        ServerSentEvents.Event last = stream.get(stream.size() - 1);
        assertThat(last.name()).isEqualTo("report");
        List<ServerSentEvents.Event> progress = stream.subList(0, stream.size() - 1);
        assertThat(progress).extracting(ServerSentEvents.Event::name).containsOnly("progress");
        assertThat(progress).extracting(e -> e.data().path("phase").asString())
                .startsWith("STARTED", "CHUNK_STARTED").endsWith("CHUNK_DONE", "DONE")
                .filteredOn("LAYER_DONE"::equals).hasSize(4 * layers); // 15 demonstrations, 4 per chunk
        double previous = 0;
        for (ServerSentEvents.Event event : progress) {
            assertThat(event.data().path("completion").asDouble()).isBetween(previous, 1.0);
            previous = event.data().path("completion").asDouble();
        }
        JsonNode report = last.data();
        assertThat(report.path("jobId").asString()).isEqualTo(jobId);
        assertThat(report.path("task").path("taskId").asString()).isEqualTo("api-shapes");
        assertThat(report.path("task").path("demonstrations").asInt()).isEqualTo(15);
        assertThat(report.path("report").path("layers").size()).isEqualTo(layers);
        assertThat(report.path("report").path("seenByModality").path("image").asInt()).isGreaterThan(0);
        assertThat(report.path("report").path("seenByModality").path("answer").asInt()).isGreaterThan(0);
        long keptSum = 0;
        for (JsonNode layer : report.path("report").path("layers").values()) {
            double byModality = 0;
            for (JsonNode n : layer.path("keptByModality").values()) {
                byModality += n.asDouble();
            }
            assertThat(byModality).isCloseTo(layer.path("kept").asDouble(), offset(0.01));
            assertThat(layer.path("kept").asInt()).isBetween(1, report.path("report").path("tokensSeen").asInt());
            keptSum += layer.path("kept").asLong();
        }
        assertThat(report.path("report").path("tokensKept").asLong()).isEqualTo(keptSum)
                .isEqualTo(report.path("task").path("tokensKept").asLong());
        assertThat(report.path("report").path("phaseMillis").has("teacher")).isTrue();

        JsonNode job = call(HttpMethod.GET, "/api/tasks/api-shapes/teach/" + jobId, null).getBody();
        assertThat(job.path("state").asString()).isEqualTo("DONE");
        assertThat(job.path("compressed").asBoolean()).isTrue();

        // A late subscriber gets the whole story at once; teaching the same demonstrations again compresses nothing.
        assertThat(events(HttpMethod.GET, events.toString(), null)).hasSameSizeAs(stream);
        String again = call(HttpMethod.POST, "/api/tasks/api-shapes/teach?example=shapes", null).getHeaders()
                .getLocation().toString();
        List<ServerSentEvents.Event> upToDate = events(HttpMethod.GET, again, null);
        assertThat(upToDate).extracting(e -> e.name() + ":" + e.data().path("phase").asString())
                .containsExactly("progress:STARTED", "progress:DONE", "report:");
        assertThat(upToDate.get(2).data().path("compressed").asBoolean()).isFalse();
        adapters.forget("api-shapes");
    }

    @Test
    void aTaskIsListedDescribedAndForgotten() {
        TaskMemoryDescriptor taught = adapters.teach("api-listed", shapes());

        JsonNode list = call(HttpMethod.GET, "/api/tasks", null).getBody();
        assertThat(list.values()).extracting(t -> t.path("taskId").asString()).contains("api-listed");
        JsonNode described = call(HttpMethod.GET, "/api/tasks/api-listed", null).getBody();
        assertThat(described.path("task").path("generation").asString()).isEqualTo(taught.generation());
        assertThat(described.path("task").path("storedBytes").asLong()).isEqualTo(taught.storedBytes());
        assertThat(described.path("report").path("layers").size()).isEqualTo(modelInfo.layers());
        assertThat(described.path("settings").path("demosPerChunk").asInt()).isEqualTo(4);

        assertThat(call(HttpMethod.DELETE, "/api/tasks/api-listed", null).getStatusCode().value()).isEqualTo(204);
        assertThat(adapters.describe("api-listed")).isEmpty();
        assertProblem(call(HttpMethod.DELETE, "/api/tasks/api-listed", null), 404, "unknown-task");
        assertProblem(call(HttpMethod.GET, "/api/tasks/api-listed", null), 404, "unknown-task");
    }

    @Test
    void aQuestionStreamsTheAnswerOfTheTaskMemory() throws IOException {
        adapters.teach("api-ask", shapes());
        byte[] image = heldOut("q1.png");
        String question = examples.find("shapes").orElseThrow().question();

        List<ServerSentEvents.Event> stream = events(HttpMethod.POST, "/api/ask",
                form("question", question, "taskId", "api-ask", "image", png("q1.png", image)));

        ServerSentEvents.Event done = stream.get(stream.size() - 1);
        assertThat(done.name()).isEqualTo("done");
        assertThat(stream.subList(0, stream.size() - 1)).extracting(ServerSentEvents.Event::name).containsOnly("token");
        StringBuilder streamed = new StringBuilder();
        stream.subList(0, stream.size() - 1).forEach(token -> streamed.append(token.data().path("text").asString()));
        String called = chat.prompt().user(u -> u.text(question).media(MimeTypeUtils.IMAGE_PNG, new ByteArrayResource(image)))
                .advisors(a -> a.param(TaskMemoryAdvisor.TASK_ID, "api-ask")).call().content();
        assertThat(streamed.toString()).isEqualTo(called);
        assertThat(done.data().path("memory").asString()).isEqualTo("used");
        assertThat(done.data().path("taskId").asString()).isEqualTo("api-ask");
        assertThat(done.data().path("completionTokens").asInt()).isBetween(1, 8);
        assertThat(done.data().path("finishReason").asString()).isIn("STOP", "LENGTH");
        assertThat(done.data().path("memoryContextTokens").asInt()).isEqualTo(adapters.describe("api-ask").orElseThrow()
                .positionOffset());

        List<ServerSentEvents.Event> plain = events(HttpMethod.POST, "/api/ask", form("question", "hello"));
        assertThat(plain.get(plain.size() - 1).data().path("memory").asString()).isEqualTo("none");
        adapters.forget("api-ask");
    }

    @Test
    void teachingFromUploadedImagesWithAnswersOrFromAJsonlFile() throws IOException {
        List<ServerSentEvents.Event> fromImages = teachAndFollow("api-upload", form(
                "images", png("a.png", heldOut("q1.png")), "images", png("b.png", heldOut("q2.png")),
                "answers", "wug", "answers", "fep", "question", "Which?"));
        assertThat(fromImages.get(fromImages.size() - 1).data().path("task").path("demonstrations").asInt()).isEqualTo(2);

        byte[] jsonl = ("{\"question\": \"What is this?\", \"answer\": \"dax\", \"image\": \"q3.png\"}\n"
                + "{\"question\": \"And this?\", \"answer\": \"wug\", \"images\": [\"q1.png\", \"q3.png\"]}\n").getBytes();
        List<ServerSentEvents.Event> fromJsonl = teachAndFollow("api-jsonl", form("jsonl", file("demos.jsonl", jsonl),
                "images", png("q1.png", heldOut("q1.png")), "images", png("q3.png", heldOut("q3.png"))));
        assertThat(fromJsonl.get(fromJsonl.size() - 1).data().path("task").path("demonstrations").asInt()).isEqualTo(2);
        adapters.forget("api-upload");
        adapters.forget("api-jsonl");
    }

    @Test
    void badDemonstrationsAreRefusedWithProblemDetails() throws IOException {
        ResponseEntity<JsonNode> typo = call(HttpMethod.POST, "/api/tasks/api-bad/teach", form(
                "jsonl", file("demos.jsonl", "{\"question\": \"q\", \"answer\": \"a\"}\n{\"question\": \"q\", \"anwser\": \"a\"}\n"
                        .getBytes())));
        assertProblem(typo, 400, "bad-demonstrations");
        assertThat(typo.getBody().path("line").asInt()).isEqualTo(2);
        assertThat(typo.getBody().path("detail").asString()).startsWith("demos.jsonl line 2:").contains("anwser");

        assertProblem(call(HttpMethod.POST, "/api/tasks/api-bad/teach", form(
                "images", png("a.png", heldOut("q1.png")), "answers", "dax", "answers", "wug")), 400, "invalid-request");
        assertProblem(call(HttpMethod.POST, "/api/tasks/api-bad/teach", form("question", "nothing else")), 400,
                "invalid-request");
        assertProblem(call(HttpMethod.POST, "/api/tasks/api-bad/teach?example=nope", null), 404, "not-found");
        assertProblem(call(HttpMethod.POST, "/api/tasks/bad%20id!/teach?example=shapes", null), 400, "invalid-request");
        assertProblem(call(HttpMethod.GET, "/api/tasks/api-bad/teach/no-such-job/events", null), 404, "not-found");
        assertThat(adapters.describe("api-bad")).isEmpty();
    }

    @Test
    void questionsAreCheckedBeforeTheAnswerStarts() throws IOException {
        assertProblem(call(HttpMethod.POST, "/api/ask", form("question", "What is this?", "taskId", "never-taught")), 404,
                "unknown-task");
        byte[] large = new byte[100 * 1024];
        System.arraycopy(heldOut("q1.png"), 0, large, 0, 16);
        ResponseEntity<JsonNode> tooLarge = call(HttpMethod.POST, "/api/ask",
                form("question", "What is this?", "image", png("big.png", large)));
        assertProblem(tooLarge, 413, "too-large");
        assertThat(tooLarge.getBody().path("detail").asString()).contains("spring.ai.emloc.vision.max-image-size");
        assertProblem(call(HttpMethod.POST, "/api/ask", form("question", "What is this?",
                "image", png("huge.png", new byte[300 * 1024]))), 413, "too-large");
        assertProblem(call(HttpMethod.POST, "/api/ask", form("question", "What is this?",
                "image", file("notes.txt", "not an image".getBytes()))), 415, "unsupported-media-type");
        assertProblem(call(HttpMethod.POST, "/api/ask", form("question", "What is this?",
                "image", png("broken.png", Arrays.copyOf(heldOut("q1.png"), 40)))), 400, "bad-image");
        assertProblem(call(HttpMethod.POST, "/api/ask", form("question", " ")), 400, "invalid-request");
    }

    @Test
    void aFullTeachingQueueIsRefusedAtOnceWith503AndRetryAfter() throws Exception {
        try (BusyTeachingThread busy = new BusyTeachingThread()) {
            for (int i = 0; i < 4; i++) {
                busy.queued.add(adapters.teachAsync("api-queued-" + i, BusyTeachingThread.ONE, null));
            }
            ResponseEntity<JsonNode> refused = call(HttpMethod.POST, "/api/tasks/api-refused/teach?example=shapes", null);
            assertProblem(refused, 503, "overloaded");
            assertThat(refused.getHeaders().getFirst(HttpHeaders.RETRY_AFTER)).isEqualTo("5");
            assertThat(refused.getBody().path("detail").asString()).contains("queue");
        }
        assertThat(adapters.describe("api-refused")).isEmpty();
    }

    @Test
    void aQueuedJobIsCancelledAndItsStreamEndsWithTheProblem() throws Exception {
        ResponseEntity<JsonNode> accepted;
        try (BusyTeachingThread busy = new BusyTeachingThread()) {
            accepted = call(HttpMethod.POST, "/api/tasks/api-cancelled/teach?example=shapes", null);
            String job = "/api/tasks/api-cancelled/teach/" + accepted.getBody().path("jobId").asString();
            assertThat(call(HttpMethod.GET, job, null).getBody().path("state").asString()).isEqualTo("QUEUED");

            JsonNode cancelled = call(HttpMethod.DELETE, job, null).getBody();
            assertThat(cancelled.path("state").asString()).isEqualTo("CANCELLED");
            assertThat(cancelled.path("error").path("code").asString()).isEqualTo("cancelled");
        }
        List<ServerSentEvents.Event> stream = events(HttpMethod.GET, accepted.getHeaders().getLocation().toString(), null);
        assertThat(stream).extracting(ServerSentEvents.Event::name).containsExactly("error");
        assertThat(stream.get(0).data().path("code").asString()).isEqualTo("cancelled");
        assertThat(adapters.describe("api-cancelled")).isEmpty();
    }

    /** Holds the single teaching thread in a job's first progress event until closed; then cancels what is queued. */
    private final class BusyTeachingThread implements AutoCloseable {
        static final List<Demonstration> ONE = List.of(Demonstration.of("code 417?", "amber"));
        final CountDownLatch release = new CountDownLatch(1);
        final List<CompletableFuture<TaskMemoryDescriptor>> queued = new ArrayList<>();
        final CompletableFuture<TaskMemoryDescriptor> blocker;

        BusyTeachingThread() throws InterruptedException {
            CountDownLatch started = new CountDownLatch(1);
            blocker = adapters.teachAsync("api-blocker", ONE, progress -> {
                if (progress.phase() == TeachProgress.Phase.STARTED) {
                    started.countDown();
                    awaitQuietly(release);
                }
            });
            assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();
        }

        @Override
        public void close() throws Exception {
            queued.forEach(f -> f.cancel(true));
            release.countDown();
            blocker.get(30, TimeUnit.SECONDS);
            adapters.forget("api-blocker");
        }
    }

    @Test
    void thePageTheExamplesAndTheOpenApiDocumentAreServed() {
        String page = rest.get().uri(url("/")).retrieve().body(String.class);
        assertThat(page).contains("Teach the bundled example").contains("app.js");
        String script = rest.get().uri(url("/app.js")).retrieve().body(String.class);
        String style = rest.get().uri(url("/app.css")).retrieve().body(String.class);
        // nothing is loaded from elsewhere: the only absolute URL is the SVG namespace
        assertThat(Pattern.compile("https?://[^\"' )]+").matcher(page + script + style).results().map(MatchResult::group))
                .containsOnly("http://www.w3.org/2000/svg");

        JsonNode info = call(HttpMethod.GET, "/api/info", null).getBody();
        assertThat(info.path("model").path("layers").asInt()).isEqualTo(modelInfo.layers());
        assertThat(info.path("model").path("store").asString()).isEqualTo("in-memory");
        JsonNode shapes = info.path("examples").get(0);
        assertThat(shapes.path("name").asString()).isEqualTo("shapes");
        assertThat(shapes.path("demonstrations").asInt()).isEqualTo(15);
        assertThat(shapes.path("heldOut").values()).extracting(h -> h.path("label").asString())
                .containsExactly("zu", "ko", "zu", "pi", "pi", "ko");
        ResponseEntity<byte[]> picture = rest.get().uri(url(shapes.path("heldOut").get(0).path("image").asString()))
                .retrieve().toEntity(byte[].class);
        assertThat(picture.getHeaders().getContentType()).isEqualTo(MediaType.IMAGE_PNG);

        JsonNode openApi = call(HttpMethod.GET, "/v3/api-docs", null).getBody();
        assertThat(openApi.path("paths").propertyNames()).contains("/api/tasks", "/api/tasks/{taskId}",
                "/api/tasks/{taskId}/teach", "/api/tasks/{taskId}/teach/{jobId}/events", "/api/ask", "/api/info");
        String swagger = rest.get().uri(url("/swagger-ui/index.html")).retrieve().body(String.class);
        assertThat(swagger).contains("swagger-ui");
    }

    private List<ServerSentEvents.Event> teachAndFollow(String taskId, MultiValueMap<String, Object> form) {
        ResponseEntity<JsonNode> accepted = call(HttpMethod.POST, "/api/tasks/" + taskId + "/teach", form);
        assertThat(accepted.getStatusCode().value()).as("%s", accepted.getBody()).isEqualTo(202);
        List<ServerSentEvents.Event> stream = events(HttpMethod.GET, accepted.getHeaders().getLocation().toString(), null);
        assertThat(stream.get(stream.size() - 1).name()).as("%s", stream).isEqualTo("report");
        return stream;
    }

    private List<Demonstration> shapes() {
        return examples.demonstrations("shapes").orElseThrow();
    }

    private static byte[] heldOut(String name) throws IOException {
        try (InputStream in = SampleApiTest.class.getResourceAsStream("/examples/shapes/held-out/" + name)) {
            return in.readAllBytes();
        }
    }

    private static ByteArrayResource png(String name, byte[] bytes) {
        return file(name, bytes);
    }

    private static ByteArrayResource file(String name, byte[] bytes) {
        return new ByteArrayResource(bytes) {
            @Override
            public String getFilename() {
                return name;
            }
        };
    }

    private static MultiValueMap<String, Object> form(Object... namesAndValues) {
        MultiValueMap<String, Object> form = new LinkedMultiValueMap<>();
        for (int i = 0; i < namesAndValues.length; i += 2) {
            form.add((String) namesAndValues[i], namesAndValues[i + 1]);
        }
        return form;
    }

    private ResponseEntity<JsonNode> call(HttpMethod method, String path, MultiValueMap<String, Object> form) {
        RestClient.RequestBodySpec request = rest.method(method).uri(URI.create(url(path)))
                .accept(MediaType.APPLICATION_JSON, MediaType.APPLICATION_PROBLEM_JSON, MediaType.TEXT_EVENT_STREAM);
        if (form != null) {
            request.contentType(MediaType.MULTIPART_FORM_DATA).body(form);
        }
        return request.retrieve().onStatus(status -> true, (req, res) -> { }).toEntity(JsonNode.class);
    }

    private List<ServerSentEvents.Event> events(HttpMethod method, String path, MultiValueMap<String, Object> form) {
        RestClient.RequestBodySpec request = rest.method(method).uri(URI.create(url(path)))
                .accept(MediaType.TEXT_EVENT_STREAM, MediaType.APPLICATION_PROBLEM_JSON);
        if (form != null) {
            request.contentType(MediaType.MULTIPART_FORM_DATA).body(form);
        }
        return request.exchange((req, res) -> {
            assertThat(res.getStatusCode().value()).as("status of %s %s", method, path).isEqualTo(200);
            assertThat(res.getHeaders().getContentType().isCompatibleWith(MediaType.TEXT_EVENT_STREAM)).isTrue();
            return ServerSentEvents.readAll(res.getBody());
        });
    }

    private static void assertProblem(ResponseEntity<JsonNode> response, int status, String code) {
        assertThat(response.getStatusCode().value()).as("%s", response.getBody()).isEqualTo(status);
        assertThat(response.getHeaders().getContentType()).isEqualTo(MediaType.APPLICATION_PROBLEM_JSON);
        assertThat(response.getBody().path("status").asInt()).isEqualTo(status);
        assertThat(response.getBody().path("code").asString()).isEqualTo(code);
        assertThat(response.getBody().path("detail").asString()).isNotBlank();
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}

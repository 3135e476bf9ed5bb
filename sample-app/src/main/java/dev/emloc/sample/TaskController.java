package dev.emloc.sample;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import dev.emloc.compress.Demonstration;
import dev.emloc.memory.TaskKey;
import dev.emloc.spring.ai.DemonstrationFiles;
import dev.emloc.spring.ai.TaskAdapters;
import dev.emloc.spring.ai.UnknownTaskException;
import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.Parameter;
import io.swagger.v3.oas.annotations.tags.Tag;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.http.codec.ServerSentEvent;
import org.springframework.util.FileSystemUtils;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RequestPart;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.multipart.MultipartFile;
import org.springframework.web.server.ResponseStatusException;
import reactor.core.publisher.Flux;

/** Teaching, listing, describing and forgetting tasks. */
@RestController
@RequestMapping("/api/tasks")
@Tag(name = "tasks", description = "Teach a task from demonstrations, follow the compression, look at it, forget it")
public class TaskController {

    private final TaskAdapters adapters;
    private final TaskViews views;
    private final TeachJobs jobs;
    private final BundledExamples examples;
    private final ImageChecks images;
    private final ModelInfo model;

    public TaskController(TaskAdapters adapters, TaskViews views, TeachJobs jobs, BundledExamples examples,
            ImageChecks images, ModelInfo model) {
        this.adapters = adapters;
        this.views = views;
        this.jobs = jobs;
        this.examples = examples;
        this.images = images;
        this.model = model;
    }

    @GetMapping
    @Operation(summary = "Every task of the namespace, sorted by id")
    public List<TaskViews.TaskSummary> list() {
        return views.list();
    }

    @GetMapping("/{taskId}")
    @Operation(summary = "A task with its compression report: tokens kept per layer and per modality, totals, time")
    public TaskViews.TaskDetails describe(@PathVariable String taskId) {
        return views.details(validTaskId(taskId)).orElseThrow(() -> unknown(taskId));
    }

    @DeleteMapping("/{taskId}")
    @Operation(summary = "Forget a task: its memory is deleted (requests already using it finish with it)")
    public ResponseEntity<Void> forget(@PathVariable String taskId) {
        if (!adapters.forget(validTaskId(taskId))) {
            throw unknown(taskId);
        }
        return ResponseEntity.noContent().build();
    }

    /**
     * Starts teaching from one source: a bundled example set ({@code example}), a JSONL file with its images
     * ({@code jsonl} + {@code images}), or images with one answer each ({@code images} + {@code answers}, asked
     * {@code question}).
     */
    @PostMapping("/{taskId}/teach")
    @Operation(summary = "Teach a task; returns a job whose events stream the progress, then the report",
            description = "One source: ?example=shapes (a bundled set); or multipart images (files) with answers (one per"
                    + " image, same order) and an optional question; or multipart jsonl (a demonstrations file, see"
                    + " docs/spring-ai.md) with the images it names (by file name). Answers 202 with the job.")
    public ResponseEntity<TeachJobs.Status> teach(@PathVariable String taskId,
            @Parameter(description = "name of a bundled example set, e.g. shapes") @RequestParam(required = false) String example,
            @RequestPart(name = "images", required = false) List<MultipartFile> imageFiles,
            @RequestParam(name = "answers", required = false) List<String> answers,
            @RequestParam(name = "question", required = false) String question,
            @RequestPart(name = "jsonl", required = false) MultipartFile jsonlFile) {
        validTaskId(taskId);
        MultipartFile jsonl = Uploads.isPresent(jsonlFile) ? jsonlFile : null;
        List<MultipartFile> uploads = imageFiles == null ? List.of()
                : imageFiles.stream().filter(Uploads::isPresent).toList();
        int sources = (example != null ? 1 : 0) + (jsonl != null ? 1 : 0)
                + (jsonl == null && (!uploads.isEmpty() || answers != null && !answers.isEmpty()) ? 1 : 0);
        if (sources != 1) {
            throw badRequest("Give exactly one source of demonstrations: ?example=<bundled set>, a jsonl part with its"
                    + " images, or images with one answer each");
        }
        List<Demonstration> demonstrations;
        if (example != null) {
            demonstrations = examples.demonstrations(example).orElseThrow(() -> new ResponseStatusException(
                    HttpStatus.NOT_FOUND, "There is no bundled example set '" + example + "'; the sets are "
                    + examples.list().stream().map(BundledExamples.Example::name).toList()));
        } else if (jsonl != null) {
            demonstrations = fromJsonl(jsonl, uploads);
        } else {
            demonstrations = fromImages(uploads, answers == null ? List.of() : answers, question);
        }
        TeachJobs.Status status = jobs.submit(taskId, demonstrations);
        URI events = URI.create("/api/tasks/" + taskId + "/teach/" + status.jobId() + "/events");
        return ResponseEntity.accepted().location(events).body(status);
    }

    @GetMapping(path = "/{taskId}/teach/{jobId}/events", produces = MediaType.TEXT_EVENT_STREAM_VALUE)
    @Operation(summary = "Server-sent events of a teaching job: progress, then report (or error); the latest comes first")
    public Flux<ServerSentEvent<Object>> events(@PathVariable String taskId, @PathVariable String jobId) {
        return jobs.events(taskId, jobId).orElseThrow(() -> noJob(taskId, jobId));
    }

    @GetMapping("/{taskId}/teach/{jobId}")
    @Operation(summary = "A teaching job's state and latest progress")
    public TeachJobs.Status job(@PathVariable String taskId, @PathVariable String jobId) {
        return jobs.status(taskId, jobId).orElseThrow(() -> noJob(taskId, jobId));
    }

    @DeleteMapping("/{taskId}/teach/{jobId}")
    @Operation(summary = "Cancel a teaching job: nothing is saved, the stored memory stays as it was")
    public TeachJobs.Status cancel(@PathVariable String taskId, @PathVariable String jobId) {
        jobs.cancel(taskId, jobId).orElseThrow(() -> noJob(taskId, jobId));
        return jobs.status(taskId, jobId).orElseThrow(() -> noJob(taskId, jobId));
    }

    private List<Demonstration> fromImages(List<MultipartFile> uploads, List<String> answers, String question) {
        if (uploads.size() != answers.size()) {
            throw badRequest("Got " + uploads.size() + " image(s) and " + answers.size() + " answer(s); send one answer"
                    + " per image, in the same order");
        }
        String asked = question == null || question.isBlank() ? defaultQuestion() : question.strip();
        List<Demonstration> demonstrations = new ArrayList<>();
        for (int i = 0; i < uploads.size(); i++) {
            MultipartFile file = uploads.get(i);
            String name = file.getOriginalFilename() == null ? "image " + (i + 1) : file.getOriginalFilename();
            String answer = answers.get(i) == null ? "" : answers.get(i).strip();
            if (answer.isEmpty()) {
                throw badRequest("The answer for image '" + name + "' (number " + (i + 1) + ") is blank; every"
                        + " demonstration needs an answer");
            }
            byte[] bytes = Uploads.bytes(file);
            images.check(name, bytes);
            demonstrations.add(Demonstration.withImage(bytes, asked, answer));
        }
        return demonstrations;
    }

    /** Writes the upload to a temporary directory, so that {@link DemonstrationFiles} checks it as it checks files. */
    private List<Demonstration> fromJsonl(MultipartFile jsonl, List<MultipartFile> uploads) {
        Path directory = null;
        try {
            directory = Files.createTempDirectory("emloc-sample-upload-");
            Set<String> names = new HashSet<>();
            for (int i = 0; i < uploads.size(); i++) {
                MultipartFile file = uploads.get(i);
                String name = Uploads.safeFileName(file.getOriginalFilename(), i + 1);
                if (!names.add(name)) {
                    throw badRequest("Two images are called '" + name + "'; the JSONL names images by file name");
                }
                byte[] bytes = Uploads.bytes(file);
                images.check(name, bytes);
                Files.write(directory.resolve(name), bytes);
            }
            String jsonlName = Uploads.safeFileName(jsonl.getOriginalFilename(), 0);
            Path file = directory.resolve(jsonlName.endsWith(".jsonl") ? jsonlName : "demonstrations.jsonl");
            jsonl.transferTo(file);
            return DemonstrationFiles.readJsonl(file, directory, new DemonstrationFiles.Limits(16L << 20, 1_000, 16,
                    images.maxImageBytes(), 512L << 20));
        } catch (IOException e) {
            throw new UncheckedIOException("Could not keep the uploaded demonstrations: " + e.getMessage(), e);
        } finally {
            deleteQuietly(directory);
        }
    }

    private String defaultQuestion() {
        return examples.list().stream().map(BundledExamples.Example::question).filter(q -> !q.isBlank()).findFirst()
                .orElse("What is this?");
    }

    private static void deleteQuietly(Path directory) {
        try {
            if (directory != null) {
                FileSystemUtils.deleteRecursively(directory);
            }
        } catch (IOException ignored) {
            // a temporary directory left behind is removed with the others by the system
        }
    }

    /** {@code taskId}, or a 400 saying what is wrong with it. */
    static String validTaskId(String taskId) {
        try {
            TaskKey.requireValid("task id", taskId, TaskKey.MAX_TASK_ID_LENGTH);
        } catch (IllegalArgumentException e) {
            throw new ResponseStatusException(HttpStatus.BAD_REQUEST, e.getMessage());
        }
        return taskId;
    }

    private UnknownTaskException unknown(String taskId) {
        return new UnknownTaskException(new TaskKey(adapters.namespace(), taskId), model.store(),
                "teach it first (POST /api/tasks/" + taskId + "/teach), or check the task id");
    }

    private static ResponseStatusException noJob(String taskId, String jobId) {
        return new ResponseStatusException(HttpStatus.NOT_FOUND, "Task '" + taskId + "' has no teaching job '" + jobId
                + "' (finished jobs are kept " + TeachJobs.RETENTION.toMinutes() + " minutes)");
    }

    private static ResponseStatusException badRequest(String detail) {
        return new ResponseStatusException(HttpStatus.BAD_REQUEST, detail);
    }
}

package dev.emloc.sample;

import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;

import dev.emloc.memory.IncompatibleTaskMemoryException;
import dev.emloc.memory.TaskMemoryFormatException;
import dev.emloc.memory.TaskMemoryStoreException;
import dev.emloc.spring.ai.DemonstrationFileException;
import dev.emloc.spring.ai.EmlocOverloadedException;
import dev.emloc.spring.ai.EmlocRequestException;
import dev.emloc.spring.ai.UnknownTaskException;
import dev.emloc.vision.ImageInputException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.HttpStatus;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.ProblemDetail;
import org.springframework.stereotype.Component;
import org.springframework.web.ErrorResponse;

/**
 * Turns the errors of the starter and of this application into RFC 9457 problem details, for HTTP responses
 * ({@link ApiExceptionHandler}) and for the {@code error} events of the streams alike. Every problem carries a
 * {@code code} a client can switch on; the {@code detail} is the exception's message, which says what to do.
 */
@Component
public class Problems {

    /** Seconds a client is told to wait before retrying a refused request. */
    static final int RETRY_AFTER_SECONDS = 5;

    private static final Logger log = LoggerFactory.getLogger(Problems.class);

    /** The problem for {@code error}. */
    public ProblemDetail of(Throwable error) {
        Throwable e = unwrap(error);
        if (e instanceof UnknownTaskException) {
            return problem(HttpStatus.NOT_FOUND, "Unknown task", "unknown-task", e.getMessage());
        }
        if (e instanceof EmlocOverloadedException) {
            ProblemDetail problem = problem(HttpStatus.SERVICE_UNAVAILABLE, "Overloaded", "overloaded", e.getMessage());
            problem.setProperty("retryAfterSeconds", RETRY_AFTER_SECONDS);
            return problem;
        }
        if (e instanceof DemonstrationFileException bad) {
            ProblemDetail problem = problem(HttpStatus.BAD_REQUEST, "Bad demonstrations", "bad-demonstrations",
                    withoutDirectory(bad));
            if (bad.line() > 0) {
                problem.setProperty("line", bad.line());
            }
            return problem;
        }
        if (e instanceof ImageInputException) {
            return problem(HttpStatus.BAD_REQUEST, "Bad image", "bad-image", e.getMessage());
        }
        if (e instanceof IncompatibleTaskMemoryException) {
            return problem(HttpStatus.CONFLICT, "Task memory of another model", "incompatible-memory", e.getMessage());
        }
        if (e instanceof TaskMemoryStoreException || e instanceof TaskMemoryFormatException) {
            return problem(HttpStatus.SERVICE_UNAVAILABLE, "Task memory store failed", "store-failed", e.getMessage());
        }
        if (e instanceof CancellationException) {
            return problem(HttpStatus.CONFLICT, "Cancelled", "cancelled",
                    e.getMessage() == null ? "The job was cancelled; nothing was saved" : e.getMessage());
        }
        if (e instanceof ErrorResponse response) {
            ProblemDetail body = response.getBody();
            HttpStatusCode status = response.getStatusCode();
            return problem(status, body.getTitle(), code(status), body.getDetail());
        }
        if (e instanceof EmlocRequestException) {
            return problem(HttpStatus.BAD_REQUEST, "Invalid request", "invalid-request", e.getMessage());
        }
        return unexpected(e);
    }

    /** A 500 for an error nobody expected; logged with its stack trace. */
    ProblemDetail unexpected(Throwable e) {
        log.error("Unexpected error", e);
        return problem(HttpStatus.INTERNAL_SERVER_ERROR, "Internal error", "internal-error",
                e.getClass().getSimpleName() + ": " + e.getMessage());
    }

    /** The problem's status as a status code. */
    static HttpStatusCode status(ProblemDetail problem) {
        return HttpStatusCode.valueOf(problem.getStatus());
    }

    static ProblemDetail problem(HttpStatusCode status, String title, String code, String detail) {
        ProblemDetail problem = ProblemDetail.forStatusAndDetail(status, detail);
        problem.setTitle(title);
        problem.setProperty("code", code);
        return problem;
    }

    /** The code of a problem known only by its status. */
    static String code(HttpStatusCode status) {
        return switch (status.value()) {
            case 400 -> "invalid-request";
            case 404 -> "not-found";
            case 413 -> "too-large";
            case 405 -> "method-not-allowed";
            case 406 -> "not-acceptable";
            case 415 -> "unsupported-media-type";
            default -> "http-" + status.value();
        };
    }

    /** Uploads are read from a temporary directory whose name means nothing to the client. */
    private static String withoutDirectory(DemonstrationFileException e) {
        String message = e.getMessage();
        String file = e.file() == null ? null : e.file().toString();
        if (file != null && message.startsWith(file) && e.file().getFileName() != null) {
            message = e.file().getFileName() + message.substring(file.length());
        }
        return message;
    }

    private static Throwable unwrap(Throwable error) {
        Throwable e = error;
        while ((e instanceof CompletionException || e instanceof java.util.concurrent.ExecutionException)
                && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }
}

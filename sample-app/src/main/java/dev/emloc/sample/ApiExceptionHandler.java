package dev.emloc.sample;

import dev.emloc.memory.IncompatibleTaskMemoryException;
import dev.emloc.memory.TaskMemoryFormatException;
import dev.emloc.memory.TaskMemoryStoreException;
import dev.emloc.spring.ai.DemonstrationFileException;
import dev.emloc.spring.ai.EmlocOverloadedException;
import dev.emloc.spring.ai.EmlocRequestException;
import dev.emloc.spring.ai.UnknownTaskException;
import dev.emloc.vision.ImageInputException;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;
import org.springframework.web.ErrorResponse;
import org.springframework.web.bind.annotation.ExceptionHandler;
import org.springframework.web.bind.annotation.RestControllerAdvice;
import org.springframework.web.context.request.WebRequest;
import org.springframework.web.servlet.mvc.method.annotation.ResponseEntityExceptionHandler;

/**
 * Every error of the API as an RFC 9457 problem detail ({@code application/problem+json}) with a {@code code}: the
 * starter's exceptions through {@link Problems}, Spring MVC's own (missing parts, oversized uploads, unknown paths)
 * through {@link ResponseEntityExceptionHandler}. A refusal for a full queue says when to retry.
 */
@RestControllerAdvice
public class ApiExceptionHandler extends ResponseEntityExceptionHandler {

    private final Problems problems;

    public ApiExceptionHandler(Problems problems) {
        this.problems = problems;
    }

    @ExceptionHandler({UnknownTaskException.class, EmlocOverloadedException.class, DemonstrationFileException.class,
            ImageInputException.class, EmlocRequestException.class, IncompatibleTaskMemoryException.class,
            TaskMemoryStoreException.class, TaskMemoryFormatException.class})
    ResponseEntity<ProblemDetail> handle(RuntimeException e) {
        ProblemDetail problem = problems.of(e);
        ResponseEntity.BodyBuilder response = ResponseEntity.status(problem.getStatus());
        if (e instanceof EmlocOverloadedException) {
            response.header(HttpHeaders.RETRY_AFTER, Integer.toString(Problems.RETRY_AFTER_SECONDS));
        }
        return response.body(problem);
    }

    /** Anything else is a bug: a 500 problem, logged with its stack trace by {@link Problems}. */
    @ExceptionHandler(Exception.class)
    ResponseEntity<ProblemDetail> unexpected(Exception e) {
        return ResponseEntity.internalServerError().body(problems.unexpected(e));
    }

    /** Spring MVC's problems get a {@code code} too. */
    @Override
    protected ResponseEntity<Object> handleExceptionInternal(Exception ex, Object body, HttpHeaders headers,
            HttpStatusCode statusCode, WebRequest request) {
        Object problem = body == null && ex instanceof ErrorResponse response ? response.getBody() : body;
        if (problem instanceof ProblemDetail detail && (detail.getProperties() == null
                || !detail.getProperties().containsKey("code"))) {
            detail.setProperty("code", Problems.code(statusCode));
        }
        return super.handleExceptionInternal(ex, problem, headers, statusCode, request);
    }
}

package dev.emloc.sample;

import dev.emloc.memory.IncompatibleTaskMemoryException;
import dev.emloc.memory.TaskMemoryFormatException;
import dev.emloc.memory.TaskMemoryStoreException;
import dev.emloc.spring.ai.EmlocOverloadedException;
import dev.emloc.vision.ImageInputException;
import org.springframework.http.HttpHeaders;
import org.springframework.http.HttpStatusCode;
import org.springframework.http.ProblemDetail;
import org.springframework.http.ResponseEntity;
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

    @ExceptionHandler({EmlocOverloadedException.class, ImageInputException.class, IncompatibleTaskMemoryException.class,
            TaskMemoryStoreException.class, TaskMemoryFormatException.class, IllegalArgumentException.class})
    ResponseEntity<ProblemDetail> handle(RuntimeException e) {
        ProblemDetail problem = problems.of(e);
        ResponseEntity.BodyBuilder response = ResponseEntity.status(problem.getStatus());
        if (e instanceof EmlocOverloadedException) {
            response.header(HttpHeaders.RETRY_AFTER, Integer.toString(Problems.RETRY_AFTER_SECONDS));
        }
        return response.body(problem);
    }

    /** Spring MVC's problems get a {@code code} too. */
    @Override
    protected ResponseEntity<Object> handleExceptionInternal(Exception ex, Object body, HttpHeaders headers,
            HttpStatusCode statusCode, WebRequest request) {
        if (body instanceof ProblemDetail problem && (problem.getProperties() == null
                || !problem.getProperties().containsKey("code"))) {
            problem.setProperty("code", Problems.code(statusCode));
        }
        return super.handleExceptionInternal(ex, body, headers, statusCode, request);
    }
}

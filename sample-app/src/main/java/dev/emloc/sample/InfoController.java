package dev.emloc.sample;

import java.util.List;

import io.swagger.v3.oas.annotations.Operation;
import io.swagger.v3.oas.annotations.tags.Tag;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/** What the application runs on, and the bundled example sets. */
@RestController
@Tag(name = "info", description = "The model, the store and the bundled examples")
public class InfoController {

    /** {@code GET /api/info}: the model and store, and the bundled sets. */
    public record Info(ModelInfo model, List<BundledExamples.Example> examples) {
    }

    private final ModelInfo model;
    private final BundledExamples examples;

    public InfoController(ModelInfo model, BundledExamples examples) {
        this.model = model;
        this.examples = examples;
    }

    @GetMapping("/api/info")
    @Operation(summary = "The model (path, fingerprint, layers, device), the store, and the bundled example sets")
    public Info info() {
        return new Info(model, examples.list());
    }

    @GetMapping("/api/examples")
    @Operation(summary = "The bundled example sets, with their held-out queries and expected labels")
    public List<BundledExamples.Example> examples() {
        return examples.list();
    }
}

package dev.emloc.sample;

import java.nio.file.Path;
import java.util.stream.Collectors;

import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;

/** Says where the demo model was looked for and how to give the sample another checkpoint. */
public class DemoModelFailureAnalyzer extends AbstractFailureAnalyzer<DemoModelNotFoundException> {

    @Override
    protected FailureAnalysis analyze(Throwable rootFailure, DemoModelNotFoundException cause) {
        String searched = cause.searched().stream().map(Path::toString).collect(Collectors.joining(" or "));
        String description = "The sample assistant runs the demo model by default, but there is no checkpoint (config.json)"
                + " at " + searched + ", and spring.ai.emloc.model-path is not set.";
        String action = "Put the demo model's checkpoint directory (config.json, model.safetensors, tokenizer.json,"
                + " preprocessor_config.json) at models/emloc-demo in the repository, run the application from the"
                + " repository root or from sample-app/, or set spring.ai.emloc.model-path to a local Qwen2-VL checkpoint"
                + " directory (for example --spring.ai.emloc.model-path=/models/Qwen2-VL-2B-Instruct). See docs/sample-app.md.";
        return new FailureAnalysis(description, action, cause);
    }
}

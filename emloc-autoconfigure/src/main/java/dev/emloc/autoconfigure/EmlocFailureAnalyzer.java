package dev.emloc.autoconfigure;

import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;

/** Explains a missing or unreadable model path at startup: what is wrong, and which property to set. */
public class EmlocFailureAnalyzer extends AbstractFailureAnalyzer<EmlocModelPathException> {

    @Override
    protected FailureAnalysis analyze(Throwable rootFailure, EmlocModelPathException cause) {
        String description = cause.path() == null
                ? "The EMLoC chat model has no checkpoint: spring.ai.emloc.model-path is not set."
                : "The EMLoC chat model cannot load spring.ai.emloc.model-path=" + cause.path() + ": " + cause.getMessage();
        String action = "Set spring.ai.emloc.model-path to a local Hugging Face Qwen2-VL (or Qwen2) checkpoint directory"
                + " holding config.json, *.safetensors, tokenizer.json and preprocessor_config.json, readable by this"
                + " process (nothing is downloaded at run time). To run without the EMLoC chat model, set"
                + " spring.ai.model.chat=none.";
        return new FailureAnalysis(description, action, cause);
    }
}

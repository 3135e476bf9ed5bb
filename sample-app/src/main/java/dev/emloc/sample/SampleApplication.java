package dev.emloc.sample;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/**
 * The sample assistant: a web page and a REST API to teach tasks from image demonstrations and ask questions with
 * their task memories. Runs the demo model with an in-memory store unless told otherwise (see
 * {@link SampleEnvironment} and docs/sample-app.md).
 */
@SpringBootApplication
public class SampleApplication {

    public static void main(String[] args) {
        // The CPU libtorch comes from the classpath: DJL must never try to download one, or report usage.
        System.setProperty("ai.djl.offline", System.getProperty("ai.djl.offline", "true"));
        System.setProperty("offline", System.getProperty("offline", "true"));
        System.setProperty("OPT_OUT_TRACKING", System.getProperty("OPT_OUT_TRACKING", "true"));
        SpringApplication.run(SampleApplication.class, args);
    }
}

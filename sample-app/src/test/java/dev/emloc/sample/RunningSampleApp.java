package dev.emloc.sample;

import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The application on a random port, shared by the API and browser tests (one context: the model loads once). It runs
 * on the demo model when there is one, as a user would start it, otherwise on a tiny random model; images above 64 KB
 * are refused, and uploads above 256 KB, so that both size limits can be tested.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "spring.ai.emloc.device=cpu",
        "spring.ai.emloc.chat.max-tokens=8",
        "spring.ai.emloc.vision.max-image-size=64KB",
        "spring.servlet.multipart.max-file-size=256KB",
        // Selenium looks for a DevTools (CDP) binding of this Chromium version, which the test does not use
        "logging.level.org.openqa.selenium.devtools=error", "logging.level.org.openqa.selenium.chromium=error"})
abstract class RunningSampleApp {

    @LocalServerPort
    int port;

    @Autowired
    ModelInfo modelInfo;

    @DynamicPropertySource
    static void model(DynamicPropertyRegistry registry) {
        if (SampleTestModel.demoModel().isEmpty()) {
            registry.add("spring.ai.emloc.model-path", () -> SampleTestModel.tinyCheckpoint().toString());
        }
    }

    String url(String path) {
        return "http://localhost:" + port + path;
    }
}

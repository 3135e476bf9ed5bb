package dev.emloc.sample;

import java.nio.file.Path;

import dev.emloc.autoconfigure.EmlocProperties;
import dev.emloc.memory.TaskMemoryStore;
import dev.emloc.spring.ai.EmlocChatModel;
import dev.emloc.spring.ai.TaskAdapters;
import dev.emloc.spring.ai.TaskMemoryAdvisor;
import dev.emloc.vision.ImageDecoder;
import dev.emloc.vision.VisionLanguageModel;
import io.swagger.v3.oas.models.OpenAPI;
import io.swagger.v3.oas.models.info.Info;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.ai.chat.client.ChatClient;
import org.springframework.beans.factory.config.BeanFactoryPostProcessor;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.event.EventListener;
import org.springframework.core.env.Environment;
import org.springframework.web.servlet.config.annotation.ResourceHandlerRegistry;
import org.springframework.web.servlet.config.annotation.WebMvcConfigurer;

/** The beans the sample adds to the starter's: a {@link ChatClient} with task memories, and what it runs on. */
@Configuration(proxyBeanMethods = false)
public class SampleConfiguration implements WebMvcConfigurer {

    private static final Logger log = LoggerFactory.getLogger(SampleConfiguration.class);

    /**
     * Runs before any bean is made, so that a missing model is reported as such ({@link DemoModelFailureAnalyzer})
     * rather than as the starter's bare "model-path is not set".
     */
    @Bean
    static BeanFactoryPostProcessor demoModelCheck(Environment environment) {
        return beanFactory -> SampleEnvironment.requireModelPath(environment::getProperty, Path.of("").toAbsolutePath());
    }

    /** The chat client every question goes through: the advisor puts the request's task on its options. */
    @Bean
    ChatClient chatClient(EmlocChatModel chatModel, TaskMemoryAdvisor taskMemory) {
        return ChatClient.builder(chatModel).defaultAdvisors(taskMemory).build();
    }

    @Bean
    ModelInfo modelInfo(VisionLanguageModel model, EmlocChatModel chatModel, TaskAdapters adapters, TaskMemoryStore store,
            EmlocProperties properties, Environment environment) {
        return ModelInfo.of(model, chatModel, adapters, store, properties, environment);
    }

    /** Checks uploaded images before they are queued, with the limits the model applies. */
    @Bean
    ImageChecks imageChecks(VisionLanguageModel model, EmlocProperties properties) {
        return new ImageChecks(new ImageDecoder(model.processor().limits()),
                properties.getVision().getMaxImageSize().toBytes());
    }

    @Bean
    OpenAPI sampleOpenApi() {
        return new OpenAPI().info(new Info().title("EMLoC sample assistant").version("0.1.0")
                .description("Teach a task from image demonstrations (compressed by EMLoC into a task memory), follow the"
                        + " compression, look at what each layer kept, ask questions with a streamed answer. Errors are"
                        + " RFC 9457 problem details. See docs/sample-app.md."));
    }

    /** The bundled example sets, so that the page can show (and the browser upload) their pictures. */
    @Override
    public void addResourceHandlers(ResourceHandlerRegistry registry) {
        registry.addResourceHandler("/examples/**").addResourceLocations("classpath:/" + BundledExamples.ROOT + "/");
    }

    @EventListener
    void ready(ApplicationReadyEvent event) {
        ModelInfo info = event.getApplicationContext().getBean(ModelInfo.class);
        String url = event.getApplicationContext() instanceof WebServerApplicationContext web
                ? "http://localhost:" + web.getWebServer().getPort() + "/" : "(no web server)";
        log.info("EMLoC sample assistant ready at {} with {}", url, info.describe());
        if (info.demoModel()) {
            log.info("Task memories keep retention candidates [{}] of every chunk ({}): the demo model answers right only"
                    + " from nearly whole memories (docs/sample-app.md)", event.getApplicationContext().getEnvironment()
                    .getProperty(SampleEnvironment.RETENTION), SampleEnvironment.RETENTION);
        }
    }
}

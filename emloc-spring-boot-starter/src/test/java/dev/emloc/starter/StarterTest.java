package dev.emloc.starter;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;

import dev.emloc.compress.CompressorFixtures;
import dev.emloc.memory.InMemoryTaskMemoryStore;
import dev.emloc.memory.TaskMemoryStore;
import dev.emloc.spring.ai.EmlocChatModel;
import dev.emloc.spring.ai.TaskAdapters;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.ai.chat.client.ChatClient;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Configuration;

/** A Spring Boot application with nothing but the starter and a model path gets a working chat model. */
class StarterTest {

    @Configuration(proxyBeanMethods = false)
    @EnableAutoConfiguration
    static class App {
    }

    @Test
    void anApplicationWithTheStarterAndAModelPathAnswersThroughChatClient(@TempDir Path dir) {
        Path checkpoint = CompressorFixtures.tinyCheckpoint(dir, true, 3);
        SpringApplication application = new SpringApplication(App.class);
        application.setWebApplicationType(WebApplicationType.NONE);
        try (ConfigurableApplicationContext context = application.run("--spring.ai.emloc.model-path=" + checkpoint,
                "--spring.ai.emloc.device=cpu", "--spring.ai.emloc.chat.max-tokens=3")) {
            EmlocChatModel chatModel = context.getBean(EmlocChatModel.class);
            assertThat(context.getBean(TaskAdapters.class)).isNotNull();
            assertThat(context.getBean(TaskMemoryStore.class)).isInstanceOf(InMemoryTaskMemoryStore.class);
            String answer = ChatClient.create(chatModel).prompt().user("hello").call().content();
            assertThat(answer).isNotNull();
            assertThat(chatModel.completedRequests()).isEqualTo(1);
        }
    }
}

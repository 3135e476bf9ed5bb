package dev.emloc.autoconfigure;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import dev.emloc.compress.CompressorFixtures;
import dev.emloc.compress.Demonstration;
import dev.emloc.memory.InMemoryTaskMemoryStore;
import dev.emloc.memory.TaskMemoryStore;
import dev.emloc.model.ModelOptions;
import dev.emloc.spring.ai.EmlocChatModel;
import dev.emloc.spring.ai.EmlocMetadata;
import dev.emloc.spring.ai.OnMissingTask;
import dev.emloc.spring.ai.TaskAdapters;
import dev.emloc.spring.ai.TaskMemoryAdvisor;
import dev.emloc.spring.redis.RedisServerFixture;
import dev.emloc.spring.redis.RedisTaskMemoryStore;
import dev.emloc.vision.VisionLanguageModel;
import dev.emloc.vision.VisionLimits;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.ai.chat.client.ChatClient;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.data.redis.autoconfigure.DataRedisAutoConfiguration;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** The auto-configuration, with a tiny generated checkpoint and a real Redis. */
class EmlocAutoConfigurationTest {

    static Path checkpoint;
    static RedisServerFixture redis;

    @BeforeAll
    static void setUp(@TempDir Path dir) {
        checkpoint = CompressorFixtures.tinyCheckpoint(dir, true, 5);
        redis = RedisServerFixture.start();
    }

    @AfterAll
    static void tearDown() {
        redis.close();
    }

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(EmlocAutoConfiguration.class))
            .withPropertyValues("spring.ai.emloc.device=cpu");

    private ApplicationContextRunner withModel() {
        return runner.withPropertyValues("spring.ai.emloc.model-path=" + checkpoint);
    }

    private static ApplicationContextRunner withRedis(ApplicationContextRunner r) {
        return r.withConfiguration(AutoConfigurations.of(DataRedisAutoConfiguration.class))
                .withPropertyValues("spring.data.redis.host=" + redis.host(), "spring.data.redis.port=" + redis.port(),
                        "spring.data.redis.timeout=2s");
    }

    @Test
    void allBeansArePresentByDefaultWithAnInMemoryStoreWithoutRedis() {
        withModel().run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context).hasSingleBean(VisionLanguageModel.class).hasSingleBean(EmlocChatModel.class)
                    .hasSingleBean(TaskAdapters.class).hasSingleBean(TaskMemoryAdvisor.class)
                    .hasSingleBean(EmlocHealthIndicator.class).hasSingleBean(EmlocMetrics.class);
            assertThat(context.getBean(TaskMemoryStore.class)).isInstanceOf(InMemoryTaskMemoryStore.class);
        });
    }

    @Test
    void redisIsTheStoreWhenAConnectionFactoryExistsUnlessInMemoryIsAskedFor() {
        withRedis(withModel()).run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context.getBean(TaskMemoryStore.class)).isInstanceOf(RedisTaskMemoryStore.class);
            assertThat(context.getBean(TaskMemoryStore.class).endpoint())
                    .isEqualTo("redis://" + redis.host() + ":" + redis.port());
        });
        withRedis(withModel()).withPropertyValues("spring.ai.emloc.memory.store=in-memory").run(context ->
                assertThat(context.getBean(TaskMemoryStore.class)).isInstanceOf(InMemoryTaskMemoryStore.class));
        withModel().withPropertyValues("spring.ai.emloc.memory.store=redis").run(context -> {
            assertThat(context).hasFailed();
            assertThat(context.getStartupFailure()).rootCause().hasMessageContaining("no RedisConnectionFactory")
                    .hasMessageContaining("spring.ai.emloc.memory.store=in-memory");
        });
    }

    @Test
    void everyBeanBacksOffWhenTheApplicationDefinesItsOwn() {
        // no model path: the application's own model and store are used and nothing is loaded from properties
        runner.withUserConfiguration(OwnModelAndStore.class).run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context.getBean(TaskMemoryStore.class)).isSameAs(context.getBean("myStore"));
            assertThat(context.getBean(VisionLanguageModel.class)).isSameAs(context.getBean("myModel"));
            assertThat(context).hasSingleBean(EmlocChatModel.class);
        });
        withModel().withUserConfiguration(OwnAdvisor.class).run(context ->
                assertThat(context.getBean(TaskMemoryAdvisor.class).defaultTaskId()).isEqualTo("mine"));
    }

    @Test
    void chatNoneTurnsItAllOff() {
        runner.withPropertyValues("spring.ai.model.chat=none").run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context).doesNotHaveBean(EmlocChatModel.class).doesNotHaveBean(VisionLanguageModel.class)
                    .doesNotHaveBean(TaskMemoryStore.class);
        });
        withModel().withPropertyValues("spring.ai.model.chat=emloc").run(context ->
                assertThat(context).hasSingleBean(EmlocChatModel.class));
    }

    @Test
    void propertiesBindAndReachTheBeans() {
        withModel().withPropertyValues("spring.ai.emloc.workers.threads=2", "spring.ai.emloc.workers.queue-capacity=3",
                "spring.ai.emloc.chat.temperature=0.4", "spring.ai.emloc.chat.max-tokens=7",
                "spring.ai.emloc.chat.stop-sequences=END,STOP", "spring.ai.emloc.chat.task-id=invoices",
                "spring.ai.emloc.compression.demos-per-chunk=2", "spring.ai.emloc.compression.js-threshold=0.01",
                "spring.ai.emloc.memory.namespace=acme", "spring.ai.emloc.memory.ttl=2h",
                "spring.ai.emloc.memory.on-missing-task=zero-shot", "spring.ai.emloc.memory.in-memory-max-size=64MB",
                "spring.ai.emloc.memory.precision=float16").run(context -> {
            assertThat(context).hasNotFailed();
            EmlocProperties p = context.getBean(EmlocProperties.class);
            assertThat(p.getMemory().getTtl()).isEqualTo(Duration.ofHours(2));
            assertThat(p.getMemory().getOnMissingTask()).isEqualTo(OnMissingTask.ZERO_SHOT);
            assertThat(p.getMemory().getInMemoryMaxSize().toMegabytes()).isEqualTo(64);
            EmlocChatModel chat = context.getBean(EmlocChatModel.class);
            assertThat(chat.workerThreads()).isEqualTo(2);
            assertThat(chat.queueCapacity()).isEqualTo(3);
            assertThat(chat.namespace()).isEqualTo("acme");
            assertThat(chat.getDefaultOptions().getTemperature()).isEqualTo(0.4);
            assertThat(chat.getDefaultOptions().getMaxTokens()).isEqualTo(7);
            assertThat(chat.getDefaultOptions().getStopSequences()).containsExactly("END", "STOP");
            assertThat(chat.getDefaultOptions().getTaskId()).isEqualTo("invoices");
            TaskAdapters adapters = context.getBean(TaskAdapters.class);
            assertThat(adapters.namespace()).isEqualTo("acme");
            assertThat(adapters.compressionSettings().demosPerChunk()).isEqualTo(2);
            assertThat(adapters.compressionSettings().jsThreshold()).isEqualTo(0.01);
            assertThat(context.getBean(TaskMemoryAdvisor.class).defaultTaskId()).isEqualTo("invoices");
        });
    }

    @Test
    void aMissingOrUnreadableModelPathIsExplainedWithThePropertyToSet(@TempDir Path empty) {
        runner.run(context -> {
            assertThat(context).hasFailed();
            FailureAnalysis analysis = analyze(context.getStartupFailure());
            assertThat(analysis.getDescription()).contains("spring.ai.emloc.model-path is not set");
            assertThat(analysis.getAction()).contains("Set spring.ai.emloc.model-path").contains("spring.ai.model.chat=none");
        });
        runner.withPropertyValues("spring.ai.emloc.model-path=" + empty.resolve("nowhere")).run(context -> {
            FailureAnalysis analysis = analyze(context.getStartupFailure());
            assertThat(analysis.getDescription()).contains("nowhere").contains("it does not exist");
        });
        runner.withPropertyValues("spring.ai.emloc.model-path=" + empty).run(context -> {
            FailureAnalysis analysis = analyze(context.getStartupFailure());
            assertThat(analysis.getDescription()).contains(empty.toString()).contains("config.json");
        });
    }

    @Test
    void aTaskTaughtInOneContextIsAnsweredFromRedisByAContextBuiltAfterwards() {
        redis.flushAll();
        List<Demonstration> demos = CompressorFixtures.textDemos(4, 21);
        ApplicationContextRunner app = withRedis(withModel()).withPropertyValues("spring.ai.emloc.memory.namespace=e2e",
                "spring.ai.emloc.chat.max-tokens=4");
        String[] generation = new String[1];
        app.run(context -> {
            TaskAdapters adapters = context.getBean(TaskAdapters.class);
            generation[0] = adapters.teach("colours", demos).generation();
            assertThat(adapters.compressions()).isEqualTo(1);
        });
        app.run(context -> {
            TaskAdapters adapters = context.getBean(TaskAdapters.class);
            EmlocChatModel chatModel = context.getBean(EmlocChatModel.class);
            ChatClient client = ChatClient.builder(chatModel).defaultAdvisors(context.getBean(TaskMemoryAdvisor.class)).build();
            ChatResponse response = client.prompt().user("code 123?")
                    .advisors(a -> a.param(TaskMemoryAdvisor.TASK_ID, "colours")).call().chatResponse();
            assertThat(response.getMetadata().<String>get(EmlocMetadata.MEMORY_GENERATION)).isEqualTo(generation[0]);
            assertThat(response.getMetadata().getUsage().getCacheReadInputTokens()).isPositive();
            assertThat(chatModel.memoryLoads()).isEqualTo(1);
            // teaching the same demonstrations again reads the stored memory instead of compressing
            assertThat(adapters.teach("colours", demos).generation()).isEqualTo(generation[0]);
            assertThat(adapters.compressions()).isZero();
            assertThat(context.getBean(EmlocHealthIndicator.class).health(true).getStatus()).isEqualTo(Status.UP);
        });
    }

    @Test
    void healthIsDownWhileRedisIsDown() {
        withRedis(withModel()).run(context -> {
            EmlocHealthIndicator health = context.getBean(EmlocHealthIndicator.class);
            assertThat(health.health(true).getStatus()).isEqualTo(Status.UP);
            redis.stop();
            try {
                Health down = health.health(true);
                assertThat(down.getStatus()).isEqualTo(Status.DOWN);
                assertThat(String.valueOf(down.getDetails().get("storeError"))).contains("redis://" + redis.host());
            } finally {
                redis.restart();
            }
        });
    }

    @Test
    void everyPropertyHasGeneratedMetadataWithADescription() throws Exception {
        tools.jackson.databind.JsonNode root;
        try (java.io.InputStream in = getClass().getResourceAsStream("/META-INF/spring-configuration-metadata.json")) {
            assertThat(in).as("configuration metadata generated at build time").isNotNull();
            root = new tools.jackson.databind.ObjectMapper().readTree(in);
        }
        java.util.Map<String, String> described = new java.util.TreeMap<>();
        root.get("properties").forEach(p -> described.put(p.get("name").asString(),
                p.has("description") ? p.get("description").asString() : ""));
        assertThat(described).containsKeys("spring.ai.emloc.model-path", "spring.ai.emloc.device", "spring.ai.emloc.dtype",
                "spring.ai.emloc.workers.threads", "spring.ai.emloc.workers.queue-capacity", "spring.ai.emloc.chat.temperature",
                "spring.ai.emloc.chat.task-id", "spring.ai.emloc.compression.demos-per-chunk", "spring.ai.emloc.memory.store",
                "spring.ai.emloc.memory.namespace", "spring.ai.emloc.memory.ttl", "spring.ai.emloc.memory.on-missing-task",
                "spring.ai.emloc.vision.max-image-size");
        assertThat(described).allSatisfy((name, description) -> assertThat(description).as(name).isNotBlank());
    }

    @Test
    void metricsCountRequestsAndTokens() {
        withModel().run(context -> {
            io.micrometer.core.instrument.simple.SimpleMeterRegistry registry =
                    new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
            context.getBean(EmlocMetrics.class).bindTo(registry);
            EmlocChatModel chat = context.getBean(EmlocChatModel.class);
            chat.call(new org.springframework.ai.chat.prompt.Prompt("hello",
                    dev.emloc.spring.ai.EmlocChatOptions.builder().maxTokens(3).build()));
            assertThat(registry.get("emloc.requests").tag("outcome", "completed").functionCounter().count()).isEqualTo(1);
            assertThat(registry.get("emloc.tokens").tag("type", "generated").functionCounter().count()).isPositive();
            assertThat(registry.get("emloc.tokens").tag("type", "prompt").functionCounter().count()).isPositive();
            assertThat(registry.get("emloc.requests.queued").gauge().value()).isZero();
            assertThat(registry.get("emloc.compressions").functionCounter().count()).isZero();
        });
    }

    static FailureAnalysis analyze(Throwable failure) {
        Throwable cause = failure;
        while (cause != null && !(cause instanceof EmlocModelPathException)) {
            cause = cause.getCause();
        }
        assertThat(cause).as("an EmlocModelPathException in " + failure).isNotNull();
        return new EmlocFailureAnalyzer().analyze(failure);
    }

    @Configuration(proxyBeanMethods = false)
    static class OwnModelAndStore {
        @Bean(destroyMethod = "close")
        VisionLanguageModel myModel() {
            return VisionLanguageModel.load(checkpoint, ModelOptions.cpu(), VisionLimits.defaults());
        }

        @Bean
        TaskMemoryStore myStore() {
            return new InMemoryTaskMemoryStore(1 << 20);
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class OwnAdvisor {
        @Bean
        TaskMemoryAdvisor myAdvisor() {
            return TaskMemoryAdvisor.builder().defaultTaskId("mine").build();
        }
    }
}

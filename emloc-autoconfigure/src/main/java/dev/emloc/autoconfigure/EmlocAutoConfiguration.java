package dev.emloc.autoconfigure;

import java.nio.file.Files;
import java.nio.file.Path;

import dev.emloc.memory.CompressionSettings;
import dev.emloc.memory.InMemoryTaskMemoryStore;
import dev.emloc.memory.TaskMemoryCodec;
import dev.emloc.memory.TaskMemoryStore;
import dev.emloc.model.CheckpointException;
import dev.emloc.model.ModelOptions;
import dev.emloc.spring.ai.EmlocChatModel;
import dev.emloc.spring.ai.EmlocChatOptions;
import dev.emloc.spring.ai.TaskAdapters;
import dev.emloc.spring.ai.TaskMemoryAdvisor;
import dev.emloc.spring.redis.RedisTaskMemoryStore;
import dev.emloc.vision.VisionLanguageModel;
import dev.emloc.vision.VisionLimits;
import io.micrometer.observation.ObservationRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.ai.chat.observation.ChatModelObservationConvention;
import org.springframework.ai.model.SpringAIModelProperties;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.data.redis.connection.RedisConnectionFactory;

/**
 * The EMLoC chat model, its task adapters and the store of task memories, from {@code spring.ai.emloc.*}.
 *
 * <p>Active when {@code spring.ai.model.chat} is {@code emloc} or unset; {@code none} (or another provider) turns
 * it off. Every bean backs off when the application defines its own. The store is Redis when Spring Data Redis
 * and a {@link RedisConnectionFactory} are present and {@code spring.ai.emloc.memory.store} is {@code redis} or
 * unset, and in-memory otherwise (or on request, {@code in-memory}).
 */
@AutoConfiguration(afterName = {"org.springframework.boot.data.redis.autoconfigure.DataRedisAutoConfiguration",
        "org.springframework.boot.micrometer.observation.autoconfigure.ObservationAutoConfiguration"})
@ConditionalOnClass({EmlocChatModel.class, VisionLanguageModel.class})
@ConditionalOnProperty(name = SpringAIModelProperties.CHAT_MODEL, havingValue = EmlocAutoConfiguration.PROVIDER,
        matchIfMissing = true)
@EnableConfigurationProperties(EmlocProperties.class)
public class EmlocAutoConfiguration {

    /** The value of {@code spring.ai.model.chat} that selects this model. */
    public static final String PROVIDER = "emloc";

    private static final Logger log = LoggerFactory.getLogger(EmlocAutoConfiguration.class);

    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    public VisionLanguageModel emlocVisionLanguageModel(EmlocProperties properties) {
        Path path = properties.getModelPath();
        if (path == null) {
            throw new EmlocModelPathException(null, "spring.ai.emloc.model-path is not set", null);
        }
        if (!Files.isDirectory(path)) {
            throw new EmlocModelPathException(path, Files.exists(path) ? "it is not a directory" : "it does not exist", null);
        }
        if (!Files.isReadable(path)) {
            throw new EmlocModelPathException(path, "it is not readable by this process", null);
        }
        ModelOptions options;
        try {
            options = ModelOptions.parse(properties.getDevice(), properties.getDtype());
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException("spring.ai.emloc.device=" + properties.getDevice() + " / spring.ai.emloc.dtype="
                    + properties.getDtype() + ": " + e.getMessage(), e);
        }
        EmlocProperties.Vision vision = properties.getVision();
        VisionLimits limits = VisionLimits.builder().maxInputPixels(vision.getMaxInputPixels())
                .maxImagesPerRequest(vision.getMaxImagesPerRequest()).maxVideoFrames(vision.getMaxVideoFrames()).build();
        try {
            VisionLanguageModel model = VisionLanguageModel.load(path, options, limits);
            log.info("EMLoC model loaded from {} on {} as {}", path, options.device(), options.dtype());
            return model;
        } catch (CheckpointException e) {
            throw new EmlocModelPathException(path, e.getMessage(), e);
        }
    }

    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean(TaskMemoryStore.class)
    public TaskMemoryStore emlocInMemoryTaskMemoryStore(EmlocProperties properties) {
        EmlocProperties.Memory memory = properties.getMemory();
        if (memory.getStore() == EmlocProperties.StoreType.REDIS) {
            throw new IllegalStateException("spring.ai.emloc.memory.store=redis but there is no RedisConnectionFactory:"
                    + " add spring-boot-starter-data-redis and point spring.data.redis.* at your Redis, or set"
                    + " spring.ai.emloc.memory.store=in-memory");
        }
        log.info("EMLoC task memories are kept in this process only (in-memory store, at most {}): they are lost on"
                + " restart and not shared between instances; use Redis (spring.ai.emloc.memory.store=redis) to keep them",
                memory.getInMemoryMaxSize());
        return new InMemoryTaskMemoryStore(memory.getInMemoryMaxSize().toBytes(), new TaskMemoryCodec(precision(properties)),
                memory.getCacheSize().toBytes(), memory.getTtl(), java.time.Clock.systemUTC());
    }

    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    public EmlocChatModel emlocChatModel(VisionLanguageModel model, TaskMemoryStore store, EmlocProperties properties,
            ObjectProvider<ObservationRegistry> observationRegistry,
            ObjectProvider<ChatModelObservationConvention> observationConvention) {
        EmlocProperties.Chat chat = properties.getChat();
        EmlocChatOptions defaults = EmlocChatOptions.builder().temperature(chat.getTemperature()).topP(chat.getTopP())
                .topK(chat.getTopK()).maxTokens(chat.getMaxTokens()).stopSequences(chat.getStopSequences())
                .seed(chat.getSeed()).taskId(chat.getTaskId()).build();
        Path path = properties.getModelPath();
        return EmlocChatModel.builder(model, store).namespace(properties.getMemory().getNamespace()).defaultOptions(defaults)
                .workerThreads(properties.getWorkers().getThreads()).queueCapacity(properties.getWorkers().getQueueCapacity())
                .observationRegistry(observationRegistry.getIfUnique(() -> ObservationRegistry.NOOP))
                .observationConvention(observationConvention.getIfUnique(() -> null))
                .onMissingTask(properties.getMemory().getOnMissingTask())
                .modelName(path == null || path.getFileName() == null ? null : path.getFileName().toString())
                .maxImageBytes(properties.getVision().getMaxImageSize().toBytes())
                .build();
    }

    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    public TaskAdapters emlocTaskAdapters(VisionLanguageModel model, TaskMemoryStore store, EmlocProperties properties) {
        EmlocProperties.Compression c = properties.getCompression();
        CompressionSettings settings = CompressionSettings.builder().demosPerChunk(c.getDemosPerChunk())
                .retentionCandidates(c.getRetentionCandidates()).jsThreshold(c.getJsThreshold()).poolKernel(c.getPoolKernel())
                .build();
        return TaskAdapters.builder(model, store).namespace(properties.getMemory().getNamespace())
                .compressionSettings(settings).defaultTtl(properties.getMemory().getTtl()).queueCapacity(c.getQueueCapacity())
                .build();
    }

    @Bean
    @ConditionalOnMissingBean
    public TaskMemoryAdvisor emlocTaskMemoryAdvisor(EmlocProperties properties) {
        TaskMemoryAdvisor.Builder builder = TaskMemoryAdvisor.builder();
        if (properties.getChat().getTaskId() != null) {
            builder.defaultTaskId(properties.getChat().getTaskId());
        }
        return builder.build();
    }

    static TaskMemoryCodec.Precision precision(EmlocProperties properties) {
        String value = properties.getMemory().getPrecision();
        return switch (value == null ? "" : value.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "float32", "fp32" -> TaskMemoryCodec.Precision.FLOAT32;
            case "float16", "fp16" -> TaskMemoryCodec.Precision.FLOAT16;
            default -> throw new IllegalStateException("spring.ai.emloc.memory.precision=" + value
                    + " is not a stored precision; use float32 or float16");
        };
    }

    /** The Redis store, when Spring Data Redis and a connection factory are there and no other store is wanted. */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass({RedisConnectionFactory.class, RedisTaskMemoryStore.class})
    static class RedisStoreConfiguration {

        @Bean(destroyMethod = "close")
        @ConditionalOnMissingBean(TaskMemoryStore.class)
        @ConditionalOnBean(RedisConnectionFactory.class)
        @ConditionalOnProperty(prefix = EmlocProperties.PREFIX + ".memory", name = "store", havingValue = "redis",
                matchIfMissing = true)
        public RedisTaskMemoryStore emlocRedisTaskMemoryStore(RedisConnectionFactory connectionFactory,
                EmlocProperties properties) {
            EmlocProperties.Memory memory = properties.getMemory();
            RedisTaskMemoryStore.Options options = RedisTaskMemoryStore.Options.defaults().withKeyPrefix(memory.getKeyPrefix())
                    .withPrecision(precision(properties)).withCacheBytes(memory.getCacheSize().toBytes())
                    .withDefaultTtl(memory.getTtl());
            RedisTaskMemoryStore store = new RedisTaskMemoryStore(connectionFactory, options);
            log.info("EMLoC task memories are stored in Redis at {} (namespace '{}')", store.endpoint(), memory.getNamespace());
            return store;
        }
    }

    /** A health indicator, when Spring Boot's health support is on the classpath. */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "org.springframework.boot.health.contributor.HealthIndicator")
    @org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator("emloc")
    static class HealthConfiguration {

        @Bean
        @ConditionalOnMissingBean(name = "emlocHealthIndicator")
        public EmlocHealthIndicator emlocHealthIndicator(VisionLanguageModel model, EmlocChatModel chatModel,
                TaskMemoryStore store) {
            return new EmlocHealthIndicator(model, chatModel, store);
        }
    }

    /** Micrometer meters, when Micrometer is on the classpath (Actuator binds them to its registries). */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "io.micrometer.core.instrument.binder.MeterBinder")
    static class MetricsConfiguration {

        @Bean
        @ConditionalOnMissingBean
        public EmlocMetrics emlocMetrics(EmlocChatModel chatModel, TaskAdapters adapters) {
            return new EmlocMetrics(chatModel, adapters);
        }
    }
}

package dev.emloc.sample;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import dev.emloc.compress.Demonstration;
import dev.emloc.memory.TaskMemoryStore;
import dev.emloc.spring.ai.TaskAdapters;
import dev.emloc.spring.redis.RedisServerFixture;
import dev.emloc.spring.redis.RedisTaskMemoryStore;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.context.ConfigurableApplicationContext;

/** Pointing spring.data.redis.* at a Redis is all it takes: tasks go there, and outlive the application. */
class SampleRedisTest {

    static RedisServerFixture redis;

    @BeforeAll
    static void startRedis() {
        redis = RedisServerFixture.start();
    }

    @AfterAll
    static void stopRedis() {
        redis.close();
    }

    @Test
    void withSpringDataRedisSetTheTasksAreKeptInRedisAcrossRestarts() {
        try (ConfigurableApplicationContext first = start()) {
            assertThat(first.getBean(TaskMemoryStore.class)).isInstanceOf(RedisTaskMemoryStore.class);
            assertThat(first.getBean(ModelInfo.class).store()).startsWith("redis://").contains(Integer.toString(redis.port()));
            first.getBean(TaskAdapters.class).teach("kept", List.of(Demonstration.of("code 417?", "amber")));
        }
        try (ConfigurableApplicationContext second = start()) {
            assertThat(second.getBean(TaskViews.class).list()).extracting(TaskViews.TaskSummary::taskId).contains("kept");
            assertThat(second.getBean(TaskViews.class).details("kept")).get()
                    .satisfies(d -> assertThat(d.task().demonstrations()).isEqualTo(1));
            second.getBean(TaskAdapters.class).forget("kept");
        }
    }

    private static ConfigurableApplicationContext start() {
        return new SpringApplicationBuilder(SampleApplication.class).web(WebApplicationType.NONE).run(
                "--spring.ai.emloc.model-path=" + SampleTestModel.tinyCheckpoint(), "--spring.ai.emloc.device=cpu",
                "--spring.data.redis.host=" + redis.host(), "--spring.data.redis.port=" + redis.port());
    }
}

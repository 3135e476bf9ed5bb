package dev.emloc.spring.redis;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.dao.DataAccessException;
import org.springframework.data.redis.connection.RedisConnection;
import org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory;

class RedisServerFixtureTest {

    private static final Logger log = LoggerFactory.getLogger(RedisServerFixtureTest.class);
    private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(1);

    private static RedisServerFixture redis;

    @BeforeAll
    static void startRedis() {
        redis = RedisServerFixture.start();
    }

    @AfterAll
    static void stopRedis() {
        if (redis != null) {
            redis.close();
        }
    }

    @BeforeEach
    void emptyRedis() {
        redis.flushAll();
    }

    @Test
    void tenMegabyteValueRoundTrips() {
        byte[] key = bytes("emloc:test:big");
        byte[] value = new byte[10 * 1024 * 1024];
        new Random(42).nextBytes(value);
        LettuceConnectionFactory factory = redis.connectionFactory(Duration.ofSeconds(10));
        try (RedisConnection connection = factory.getConnection()) {
            assertThat(connection.stringCommands().set(key, value)).isTrue();
            assertThat(connection.stringCommands().get(key)).isEqualTo(value);
        } finally {
            factory.destroy();
        }
    }

    @Test
    void outageFailsFastAndTheSameFactoryRecovers() {
        byte[] key = bytes("emloc:test:small");
        byte[] value = bytes("hello");
        LettuceConnectionFactory factory = redis.connectionFactory(COMMAND_TIMEOUT);
        try {
            // the shared native connection exists before the outage
            try (RedisConnection connection = factory.getConnection()) {
                connection.stringCommands().set(key, value);
                assertThat(connection.stringCommands().get(key)).isEqualTo(value);
            }

            redis.stop();
            try {
                long started = System.nanoTime();
                Throwable failure = assertTimeoutPreemptively(Duration.ofSeconds(3), () -> catchThrowable(() -> {
                    try (RedisConnection connection = factory.getConnection()) {
                        connection.stringCommands().get(key);
                    }
                }));
                log.info("GET during the outage failed after {} ms: {}", millis(started), String.valueOf(failure));
                assertThat(failure).isInstanceOf(DataAccessException.class);
            } finally {
                redis.restart();
            }

            long restarted = System.nanoTime();
            assertTimeoutPreemptively(Duration.ofSeconds(45), () -> awaitWorking(factory, key, value));
            log.info("the same connection factory worked again {} ms after the restart", millis(restarted));
        } finally {
            factory.destroy();
        }
    }

    private static void awaitWorking(LettuceConnectionFactory factory, byte[] key, byte[] value)
            throws InterruptedException {
        while (true) {
            try (RedisConnection connection = factory.getConnection()) {
                connection.stringCommands().set(key, value);
                assertThat(connection.stringCommands().get(key)).isEqualTo(value);
                return;
            } catch (DataAccessException e) {
                Thread.sleep(100);
            }
        }
    }

    private static long millis(long startedNanos) {
        return Duration.ofNanos(System.nanoTime() - startedNanos).toMillis();
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}

package dev.emloc.spring.redis;

import io.lettuce.core.ClientOptions;
import io.lettuce.core.SocketOptions;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.data.redis.connection.RedisStandaloneConfiguration;
import org.springframework.data.redis.connection.lettuce.LettuceClientConfiguration;
import org.springframework.data.redis.connection.lettuce.LettuceConnectionFactory;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.containers.GenericContainer;
import org.testcontainers.containers.wait.strategy.Wait;
import org.testcontainers.utility.DockerImageName;

/**
 * A real Redis server for tests.
 *
 * <p>{@link #start()} runs Redis in a Testcontainers container when a Docker daemon answers, and otherwise
 * starts a {@code redis-server} process (Debian package {@code redis-server}) on a free port of 127.0.0.1,
 * without persistence. The system property {@code emloc.test.redis} ({@code auto}, {@code docker},
 * {@code process}) forces a mode.
 *
 * <p>{@link #stop()} and {@link #restart()} simulate an outage: the server goes away and comes back on the
 * same host and port, so a connection factory created before the outage can reconnect. In process mode the
 * data is lost with the process; in Docker mode the container is only paused, so it keeps its data.
 */
public final class RedisServerFixture implements AutoCloseable {

    /** The image used when Docker is available. */
    public static final String IMAGE = "redis:7-alpine";

    /** System property forcing the mode: auto (default), docker or process. */
    public static final String MODE_PROPERTY = "emloc.test.redis";

    private static final Logger log = LoggerFactory.getLogger(RedisServerFixture.class);
    private static final Duration STARTUP_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration CONNECT_TIMEOUT = Duration.ofMillis(500);
    private static final String LOOPBACK = "127.0.0.1";
    private static final List<Path> SERVER_CANDIDATES = List.of(Path.of("/usr/bin/redis-server"),
            Path.of("/usr/sbin/redis-server"), Path.of("/usr/local/bin/redis-server"));

    private final Backend backend;
    private final Thread shutdownHook;
    private boolean closed;

    private RedisServerFixture(Backend backend) {
        this.backend = backend;
        this.shutdownHook = new Thread(backend::destroyQuietly, "redis-fixture-shutdown");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    /** Starts a Redis server: a container when Docker runs, otherwise a {@code redis-server} process. */
    public static RedisServerFixture start() {
        String mode = System.getProperty(MODE_PROPERTY, "auto").trim().toLowerCase(Locale.ROOT);
        boolean docker = switch (mode) {
            case "docker" -> true;
            case "process" -> false;
            case "auto", "" -> dockerAvailable();
            default -> throw new IllegalArgumentException(
                    MODE_PROPERTY + " must be auto, docker or process, not " + mode);
        };
        Backend backend;
        if (docker) {
            backend = ContainerBackend.start();
            log.info("Redis for tests: Testcontainers container {} at {}:{}", IMAGE, backend.host(), backend.port());
        } else {
            Path server = findRedisServer();
            if (server == null) {
                throw new IllegalStateException("No Redis server for the tests: Docker is not available and no "
                        + "redis-server executable was found on PATH, /usr/bin or /usr/sbin. Install Debian's "
                        + "redis-server package (sudo apt-get install redis-server) or start Docker.");
            }
            backend = ProcessBackend.start(server);
            log.info("Redis for tests: Docker not available, started {} process at {}:{}", server,
                    backend.host(), backend.port());
        }
        return new RedisServerFixture(backend);
    }

    public String host() {
        return backend.host();
    }

    public int port() {
        return backend.port();
    }

    /** Takes the server away (process killed, or container paused); the port stays reserved for it. */
    public synchronized void stop() {
        checkOpen();
        backend.stop();
    }

    /** Brings the server back on the same host and port and waits until it answers PING. */
    public synchronized void restart() {
        checkOpen();
        backend.restart();
        awaitPing(host(), port(), STARTUP_TIMEOUT, backend::describeFailure);
    }

    /** Removes all keys. */
    public void flushAll() {
        String reply = command(host(), port(), "FLUSHALL");
        if (!reply.equals("+OK")) {
            throw new IllegalStateException("FLUSHALL answered " + reply);
        }
    }

    /**
     * A started standalone Lettuce connection factory for this server, with the given command timeout and a
     * short connect timeout. The caller owns it and must {@link LettuceConnectionFactory#destroy() destroy} it.
     */
    public LettuceConnectionFactory connectionFactory(Duration commandTimeout) {
        ClientOptions clientOptions = ClientOptions.builder()
                .socketOptions(SocketOptions.builder().connectTimeout(CONNECT_TIMEOUT).build())
                .build();
        LettuceClientConfiguration client = LettuceClientConfiguration.builder()
                .commandTimeout(commandTimeout)
                .clientOptions(clientOptions)
                .build();
        LettuceConnectionFactory factory =
                new LettuceConnectionFactory(new RedisStandaloneConfiguration(host(), port()), client);
        factory.afterPropertiesSet();
        factory.start();
        return factory;
    }

    /** Stops the server for good and deletes its files. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        backend.destroyQuietly();
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException shuttingDown) {
            // the hook runs anyway
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("Redis fixture closed");
        }
    }

    private static boolean dockerAvailable() {
        try {
            return DockerClientFactory.instance().isDockerAvailable();
        } catch (Throwable e) {
            log.debug("Docker not available", e);
            return false;
        }
    }

    private static Path findRedisServer() {
        String path = System.getenv("PATH");
        List<Path> candidates = new ArrayList<>();
        if (path != null) {
            for (String dir : path.split(java.io.File.pathSeparator)) {
                if (!dir.isEmpty()) {
                    candidates.add(Path.of(dir, "redis-server"));
                }
            }
        }
        candidates.addAll(SERVER_CANDIDATES);
        return candidates.stream().filter(p -> Files.isRegularFile(p) && Files.isExecutable(p)).findFirst()
                .orElse(null);
    }

    /** Sends one command without arguments in RESP and returns the first reply line. */
    static String command(String host, int port, String command) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, port), (int) CONNECT_TIMEOUT.toMillis());
            socket.setSoTimeout(5_000);
            OutputStream out = socket.getOutputStream();
            out.write(("*1\r\n$" + command.length() + "\r\n" + command + "\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            StringBuilder line = new StringBuilder();
            int c;
            while ((c = in.read()) != -1 && c != '\r') {
                line.append((char) c);
            }
            return line.toString();
        } catch (IOException e) {
            throw new UncheckedIOException("Redis at " + host + ":" + port + " did not answer " + command, e);
        }
    }

    private static void awaitPing(String host, int port, Duration timeout, java.util.function.Supplier<String> why) {
        long deadline = System.nanoTime() + timeout.toNanos();
        Exception last = null;
        while (System.nanoTime() < deadline) {
            String failure = why.get();
            if (failure != null) {
                throw new IllegalStateException(failure);
            }
            try {
                String reply = command(host, port, "PING");
                if (reply.equals("+PONG")) {
                    return;
                }
                last = new IllegalStateException("PING answered " + reply);
            } catch (UncheckedIOException e) {
                last = e;
            }
            sleep(50);
        }
        String failure = why.get();
        throw new IllegalStateException("Redis at " + host + ":" + port + " did not answer PING within " + timeout
                + (failure != null ? ": " + failure : ""), last);
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private interface Backend {
        String host();

        int port();

        void stop();

        void restart();

        /** Why the server cannot come up (its process died), or null. */
        String describeFailure();

        /** Stops for good and cleans up; never throws. */
        void destroyQuietly();
    }

    /** A redis-server child process on 127.0.0.1. */
    private static final class ProcessBackend implements Backend {
        private final Path executable;
        private final Path dir;
        private final Path logFile;
        private final int port;
        private volatile Process process;

        private ProcessBackend(Path executable, Path dir, int port) {
            this.executable = executable;
            this.dir = dir;
            this.logFile = dir.resolve("redis.log");
            this.port = port;
        }

        static ProcessBackend start(Path executable) {
            Path dir;
            try {
                dir = Files.createTempDirectory("emloc-redis-");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            IllegalStateException failure = null;
            // A free port can be taken by someone else before redis-server binds it: try a few.
            for (int attempt = 0; attempt < 3; attempt++) {
                ProcessBackend backend = new ProcessBackend(executable, dir, freePort());
                try {
                    backend.launch();
                    return backend;
                } catch (IllegalStateException e) {
                    backend.kill();
                    if (failure == null) {
                        failure = e;
                    } else {
                        failure.addSuppressed(e);
                    }
                }
            }
            deleteRecursively(dir);
            throw failure;
        }

        private void launch() {
            ProcessBuilder builder = new ProcessBuilder(executable.toString(),
                    "--bind", LOOPBACK,
                    "--port", Integer.toString(port),
                    "--save", "",
                    "--appendonly", "no",
                    "--dir", dir.toString(),
                    "--daemonize", "no")
                    .directory(dir.toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
            try {
                process = builder.start();
            } catch (IOException e) {
                throw new IllegalStateException("Could not start " + executable, e);
            }
            awaitPing(LOOPBACK, port, STARTUP_TIMEOUT, this::describeFailure);
        }

        @Override
        public String host() {
            return LOOPBACK;
        }

        @Override
        public int port() {
            return port;
        }

        @Override
        public void stop() {
            kill();
        }

        @Override
        public void restart() {
            if (process != null && process.isAlive()) {
                return;
            }
            launch();
        }

        @Override
        public String describeFailure() {
            Process p = process;
            if (p == null || p.isAlive()) {
                return null;
            }
            return executable + " on port " + port + " exited with " + p.exitValue() + "; log:\n" + logTail();
        }

        @Override
        public void destroyQuietly() {
            try {
                kill();
            } finally {
                deleteRecursively(dir);
            }
        }

        private void kill() {
            Process p = process;
            if (p == null) {
                return;
            }
            p.destroyForcibly();
            try {
                if (!p.waitFor(10, TimeUnit.SECONDS)) {
                    log.warn("redis-server pid {} did not exit after SIGKILL", p.pid());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        private String logTail() {
            try {
                List<String> lines = Files.readAllLines(logFile, StandardCharsets.UTF_8);
                return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
            } catch (IOException e) {
                return "(no log: " + e + ")";
            }
        }

        private static int freePort() {
            try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName(LOOPBACK))) {
                return socket.getLocalPort();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        private static void deleteRecursively(Path dir) {
            if (!Files.exists(dir)) {
                return;
            }
            try (Stream<Path> paths = Files.walk(dir)) {
                paths.sorted(Comparator.reverseOrder()).forEach(p -> {
                    try {
                        Files.deleteIfExists(p);
                    } catch (IOException e) {
                        log.debug("could not delete {}", p, e);
                    }
                });
            } catch (IOException e) {
                log.debug("could not delete {}", dir, e);
            }
        }
    }

    /**
     * A Testcontainers Redis container; an outage is a {@code docker pause}, so the mapped port stays.
     * A plain GenericContainer: com.redis:testcontainers-redis 2.2.4 is built against Testcontainers 1.x and
     * its toString() fails with the Testcontainers 2.x that Spring Boot 4 manages (see the module's pom).
     */
    private static final class ContainerBackend implements Backend {
        private static final int REDIS_PORT = 6379;

        private final GenericContainer<?> container;
        private boolean paused;

        private ContainerBackend(GenericContainer<?> container) {
            this.container = container;
        }

        static ContainerBackend start() {
            GenericContainer<?> container = new GenericContainer<>(DockerImageName.parse(IMAGE))
                    .withExposedPorts(REDIS_PORT)
                    .withCommand("redis-server", "--save", "", "--appendonly", "no")
                    .waitingFor(Wait.forLogMessage(".*Ready to accept connections.*\\n", 1))
                    .withStartupTimeout(Duration.ofSeconds(60));
            try {
                container.start();
            } catch (RuntimeException e) {
                container.stop();
                throw e;
            }
            return new ContainerBackend(container);
        }

        @Override
        public String host() {
            return container.getHost();
        }

        @Override
        public int port() {
            return container.getMappedPort(REDIS_PORT);
        }

        @Override
        public synchronized void stop() {
            if (!paused) {
                container.getDockerClient().pauseContainerCmd(container.getContainerId()).exec();
                paused = true;
            }
        }

        @Override
        public synchronized void restart() {
            if (paused) {
                container.getDockerClient().unpauseContainerCmd(container.getContainerId()).exec();
                paused = false;
            }
        }

        @Override
        public String describeFailure() {
            return container.isRunning() ? null : "container " + container.getContainerId() + " is not running";
        }

        @Override
        public synchronized void destroyQuietly() {
            try {
                container.stop();
            } catch (RuntimeException e) {
                log.debug("could not stop the Redis container", e);
            }
        }
    }
}

package dev.emloc.bench;

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
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A throw-away {@code redis-server} process for a benchmark: 127.0.0.1, a free port, no persistence
 * ({@code --save "" --appendonly no}), a temporary directory; killed by {@link #close()} or, if the JVM exits
 * first, by a shutdown hook. (The tests' {@code RedisServerFixture} lives in test sources, which main code
 * cannot use.)
 */
final class LocalRedisServer implements AutoCloseable {

    static final String LOOPBACK = "127.0.0.1";
    private static final long STARTUP_MILLIS = 10_000;
    private static final List<Path> CANDIDATES = List.of(Path.of("/usr/bin/redis-server"), Path.of("/usr/sbin/redis-server"),
            Path.of("/usr/local/bin/redis-server"));

    private final Path executable;
    private final Path dir;
    private final int port;
    private final Process process;
    private final Thread shutdownHook;
    private boolean closed;

    private LocalRedisServer(Path executable, Path dir, int port, Process process) {
        this.executable = executable;
        this.dir = dir;
        this.port = port;
        this.process = process;
        this.shutdownHook = new Thread(this::destroy, "local-redis-shutdown");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    /** Starts {@code redis-server} (from PATH or /usr/bin, /usr/sbin, /usr/local/bin) and waits until it answers PING. */
    static LocalRedisServer start() throws IOException {
        Path executable = find();
        if (executable == null) {
            throw new IllegalStateException("No redis-server executable on PATH, /usr/bin, /usr/sbin or /usr/local/bin:"
                    + " install one (Debian: apt-get install redis-server) or pass --redis=host:port");
        }
        Path dir = Files.createTempDirectory("emloc-bench-redis-");
        IllegalStateException failure = null;
        for (int attempt = 0; attempt < 3; attempt++) {   // a free port may be taken before redis-server binds it
            int port = freePort();
            Process process = new ProcessBuilder(executable.toString(), "--bind", LOOPBACK, "--port", Integer.toString(port),
                    "--save", "", "--appendonly", "no", "--dir", dir.toString(), "--daemonize", "no")
                    .directory(dir.toFile()).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("redis.log").toFile())).start();
            try {
                awaitPing(process, port, dir);
                return new LocalRedisServer(executable, dir, port, process);
            } catch (IllegalStateException e) {
                kill(process);
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

    String host() {
        return LOOPBACK;
    }

    int port() {
        return port;
    }

    long pid() {
        return process.pid();
    }

    Path executable() {
        return executable;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        destroy();
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException shuttingDown) {
            // the hook runs anyway
        }
    }

    private void destroy() {
        kill(process);
        deleteRecursively(dir);
    }

    /** Sends one argument-less command in RESP and returns the first line of the reply. */
    static String command(String host, int port, String command) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, port), 500);
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

    private static void awaitPing(Process process, int port, Path dir) {
        long deadline = System.currentTimeMillis() + STARTUP_MILLIS;
        Exception last = null;
        while (System.currentTimeMillis() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("redis-server on port " + port + " exited with " + process.exitValue()
                        + "; log:\n" + logTail(dir));
            }
            try {
                String reply = command(LOOPBACK, port, "PING");
                if (reply.equals("+PONG")) {
                    return;
                }
                last = new IllegalStateException("PING answered " + reply);
            } catch (UncheckedIOException e) {
                last = e;
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("Interrupted while waiting for redis-server", e);
            }
        }
        throw new IllegalStateException("redis-server on port " + port + " did not answer PING within " + STARTUP_MILLIS
                + " ms; log:\n" + logTail(dir), last);
    }

    private static void kill(Process process) {
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static Path find() {
        List<Path> candidates = new ArrayList<>();
        String path = System.getenv("PATH");
        if (path != null) {
            for (String entry : path.split(java.io.File.pathSeparator)) {
                if (!entry.isEmpty()) {
                    candidates.add(Path.of(entry, "redis-server"));
                }
            }
        }
        candidates.addAll(CANDIDATES);
        return candidates.stream().filter(p -> Files.isRegularFile(p) && Files.isExecutable(p)).findFirst().orElse(null);
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName(LOOPBACK))) {
            return socket.getLocalPort();
        }
    }

    private static String logTail(Path dir) {
        try {
            List<String> lines = Files.readAllLines(dir.resolve("redis.log"), StandardCharsets.UTF_8);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
        } catch (IOException e) {
            return "(no log: " + e + ")";
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
                    // best effort
                }
            });
        } catch (IOException e) {
            // best effort
        }
    }
}

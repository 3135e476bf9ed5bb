package dev.emloc.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;

import tools.jackson.core.JacksonException;
import tools.jackson.core.StreamReadFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * One {@code .safetensors} file: its validated header, and its tensors' bytes memory-mapped on demand.
 *
 * <p>The format: an 8-byte little-endian header length {@code n}, {@code n} bytes of JSON
 * ({@code {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}}) with offsets relative
 * to the end of the header, then the data. Opening reads only the header and checks it against the file size:
 * every region lies inside the file, regions do not overlap, and each holds exactly
 * {@code product(shape) * dtypeSize} bytes. Data is never read into the heap; {@link #map} maps the window a caller
 * asks for, so files (and tensors) beyond 2 GB work.
 *
 * <p>Thread-safe: the header is immutable and mapping uses positional channel operations.
 */
public final class Safetensors implements AutoCloseable {

    /** The format's own limit on the header size; a larger claimed length means a corrupt or foreign file. */
    public static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    private static final String METADATA_KEY = "__metadata__";

    private static final ObjectMapper JSON = JsonMapper.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

    private final Path file;
    private final FileChannel channel;
    private final SortedMap<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private Safetensors(Path file, FileChannel channel, SortedMap<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.file = file;
        this.channel = channel;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Opens {@code file} and validates its header; the caller closes the result. */
    public static Safetensors open(Path file) {
        FileChannel channel;
        try {
            channel = FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new CheckpointException("Safetensors file " + file + " does not exist");
        } catch (IOException e) {
            throw new CheckpointException("Cannot open safetensors file " + file + ": " + e.getMessage(), e);
        }
        try {
            Header header = readHeader(file, channel);
            return new Safetensors(file, channel, header.tensors(), header.metadata());
        } catch (RuntimeException e) {
            closeQuietly(channel, e);
            throw e;
        }
    }

    /** The file this reads. */
    public Path file() {
        return file;
    }

    /** The header's {@code __metadata__} (string values), empty when absent. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Names of all tensors, sorted. */
    public Set<String> tensorNames() {
        return tensors.keySet();
    }

    /** All tensors, sorted by name. */
    public Collection<TensorInfo> tensors() {
        return tensors.values();
    }

    /** The tensor stored under exactly {@code name}. */
    public Optional<TensorInfo> find(String name) {
        return Optional.ofNullable(tensors.get(name));
    }

    /**
     * Maps {@code byteCount} bytes of {@code tensor}'s data starting {@code byteOffset} bytes into it, read-only,
     * little-endian, position 0. The mapping lives until the buffer is garbage; it stays valid after {@link #close}.
     */
    public ByteBuffer map(TensorInfo tensor, long byteOffset, int byteCount) {
        checkWindow(tensor, byteOffset, byteCount);
        try {
            MappedByteBuffer mapped = channel.map(FileChannel.MapMode.READ_ONLY, tensor.dataOffset() + byteOffset, byteCount);
            return mapped.order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new CheckpointException("Cannot map " + byteCount + " bytes of tensor '" + tensor.name() + "' in " + file
                    + ": " + e.getMessage(), e);
        }
    }

    /** Reads {@code byteCount} bytes of {@code tensor}'s data starting {@code byteOffset} bytes into it, into a heap buffer. */
    public ByteBuffer read(TensorInfo tensor, long byteOffset, int byteCount) {
        checkWindow(tensor, byteOffset, byteCount);
        ByteBuffer target = ByteBuffer.allocate(byteCount);
        long position = tensor.dataOffset() + byteOffset;
        try {
            while (target.hasRemaining()) {
                if (channel.read(target, position + target.position()) < 0) {
                    throw new CheckpointException("Safetensors file " + file + " ended inside tensor '" + tensor.name()
                            + "'; it was truncated after opening");
                }
            }
        } catch (IOException e) {
            throw new CheckpointException("Cannot read tensor '" + tensor.name() + "' from " + file + ": " + e.getMessage(), e);
        }
        return target.flip().order(ByteOrder.LITTLE_ENDIAN);
    }

    private void checkWindow(TensorInfo tensor, long byteOffset, int byteCount) {
        if (!tensor.file().equals(file) || !tensor.equals(tensors.get(tensor.name()))) {
            throw new IllegalArgumentException("Tensor '" + tensor.name() + "' of " + tensor.file() + " is not from " + file);
        }
        if (byteOffset < 0 || byteCount < 0 || byteOffset + byteCount > tensor.byteLength()) {
            throw new IndexOutOfBoundsException("Bytes " + byteOffset + ".." + (byteOffset + byteCount) + " lie outside tensor '"
                    + tensor.name() + "' of " + tensor.byteLength() + " bytes");
        }
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            throw new CheckpointException("Cannot close " + file + ": " + e.getMessage(), e);
        }
    }

    private record Header(SortedMap<String, TensorInfo> tensors, Map<String, String> metadata) {
    }

    private static Header readHeader(Path file, FileChannel channel) {
        try {
            long fileSize = channel.size();
            if (fileSize < 8) {
                throw new CheckpointException("Safetensors file " + file + " has " + fileSize
                        + " bytes, fewer than its 8-byte header length; it is truncated or not a safetensors file");
            }
            long headerLength = readFully(channel, 0, 8, file).order(ByteOrder.LITTLE_ENDIAN).getLong();
            if (headerLength < 2 || headerLength > MAX_HEADER_BYTES || headerLength > fileSize - 8) {
                throw new CheckpointException("Safetensors file " + file + " claims a header of " + headerLength
                        + " bytes but the file has " + fileSize + " (header limit " + MAX_HEADER_BYTES
                        + "); it is truncated or not a safetensors file, re-save or re-download it");
            }
            ByteBuffer headerBytes = readFully(channel, 8, (int) headerLength, file);
            JsonNode root;
            try {
                root = JSON.readTree(new String(headerBytes.array(), StandardCharsets.UTF_8).trim());
            } catch (JacksonException e) {
                throw new CheckpointException("Safetensors file " + file + " has a corrupt JSON header: " + e.getOriginalMessage()
                        + "; re-save or re-download it", e);
            }
            if (root == null || !root.isObject()) {
                throw new CheckpointException("Safetensors file " + file + " has a header that is not a JSON object; re-save or re-download it");
            }
            long dataStart = 8 + headerLength;
            long dataSize = fileSize - dataStart;
            SortedMap<String, TensorInfo> tensors = new TreeMap<>();
            Map<String, String> metadata = Map.of();
            for (Map.Entry<String, JsonNode> property : root.properties()) {
                if (METADATA_KEY.equals(property.getKey())) {
                    metadata = parseMetadata(property.getValue(), file);
                } else {
                    tensors.put(property.getKey(), parseTensor(property.getKey(), property.getValue(), file, dataStart, dataSize));
                }
            }
            checkNoOverlap(tensors.values(), file);
            return new Header(Collections.unmodifiableSortedMap(tensors), metadata);
        } catch (IOException e) {
            throw new CheckpointException("Cannot read the header of " + file + ": " + e.getMessage(), e);
        }
    }

    private static TensorInfo parseTensor(String name, JsonNode node, Path file, long dataStart, long dataSize) {
        if (!node.isObject() || !node.path("dtype").isString() || !node.path("shape").isArray()
                || !node.path("data_offsets").isArray() || node.path("data_offsets").size() != 2) {
            throw new CheckpointException("Tensor '" + name + "' in " + file
                    + " needs dtype, shape and data_offsets [begin, end] in the header, got " + node + "; re-save or re-download it");
        }
        TensorDtype dtype = TensorDtype.parse(node.get("dtype").stringValue(), name, file);
        List<Long> shape = new ArrayList<>();
        for (JsonNode dimension : node.get("shape")) {
            shape.add(nonNegativeLong(dimension, name, "shape", file));
        }
        long begin = nonNegativeLong(node.get("data_offsets").get(0), name, "data_offsets", file);
        long end = nonNegativeLong(node.get("data_offsets").get(1), name, "data_offsets", file);
        if (begin > end || end > dataSize) {
            throw new CheckpointException("Tensor '" + name + "' in " + file + " claims data bytes [" + begin + ", " + end
                    + ") but the data section has " + dataSize + " bytes; the file is truncated or corrupt, re-save or re-download it");
        }
        try {
            return new TensorInfo(name, dtype, shape, file, dataStart + begin, end - begin);
        } catch (ArithmeticException e) {
            throw new CheckpointException("Tensor '" + name + "' in " + file + " has shape " + shape
                    + " whose size overflows; the header is corrupt", e);
        }
    }

    private static long nonNegativeLong(JsonNode node, String tensor, String field, Path file) {
        if (node == null || !node.isIntegralNumber() || !node.canConvertToLong() || node.longValue() < 0) {
            throw new CheckpointException("Tensor '" + tensor + "' in " + file + " has " + field + " entry " + node
                    + ", not a non-negative integer; re-save or re-download the file");
        }
        return node.longValue();
    }

    private static Map<String, String> parseMetadata(JsonNode node, Path file) {
        if (!node.isObject()) {
            throw new CheckpointException("The __metadata__ of " + file + " is " + node + ", not a JSON object of strings");
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> entry : node.properties()) {
            metadata.put(entry.getKey(), entry.getValue().isString() ? entry.getValue().stringValue() : entry.getValue().toString());
        }
        return Collections.unmodifiableMap(metadata);
    }

    private static void checkNoOverlap(Collection<TensorInfo> tensors, Path file) {
        List<TensorInfo> byOffset = new ArrayList<>(tensors);
        byOffset.removeIf(tensor -> tensor.byteLength() == 0);
        byOffset.sort(Comparator.comparingLong(TensorInfo::dataOffset));
        for (int i = 1; i < byOffset.size(); i++) {
            TensorInfo previous = byOffset.get(i - 1);
            TensorInfo current = byOffset.get(i);
            if (current.dataOffset() < previous.dataOffset() + previous.byteLength()) {
                throw new CheckpointException("Tensors '" + previous.name() + "' and '" + current.name() + "' overlap in " + file
                        + "; the header is corrupt, re-save or re-download the file");
            }
        }
    }

    private static ByteBuffer readFully(FileChannel channel, long position, int length, Path file) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        while (buffer.hasRemaining()) {
            if (channel.read(buffer, position + buffer.position()) < 0) {
                throw new CheckpointException("Safetensors file " + file + " ended after " + (position + buffer.position())
                        + " bytes while reading its header; it is truncated");
            }
        }
        return buffer.flip();
    }

    private static void closeQuietly(FileChannel channel, RuntimeException failure) {
        try {
            channel.close();
        } catch (IOException e) {
            failure.addSuppressed(e);
        }
    }
}

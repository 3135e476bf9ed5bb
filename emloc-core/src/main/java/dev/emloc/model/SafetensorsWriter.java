package dev.emloc.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * Streams float tensors into a {@code .safetensors} file in one {@link StorageType}, with metadata
 * {@code {"format": "pt"}} as PyTorch writes it.
 *
 * <p>All names and shapes are declared up front, which fixes the header and every tensor's offset; the data then
 * arrives tensor by tensor, whole ({@link #write(String, float[])}) or in consecutive chunks
 * ({@link #append}), and goes straight to the file through a small direct buffer, so a file of any size is written
 * with bounded memory. float32 values are rounded to nearest even for {@code F16} and {@code BF16}.
 * {@link #close()} fails, and deletes the file, if a declared tensor was not completely written.
 *
 * <p>Not thread-safe.
 */
public final class SafetensorsWriter implements AutoCloseable {

    private static final ObjectMapper JSON = JsonMapper.builder().build();
    private static final int CHUNK_ELEMENTS = 1 << 20;

    private final Path file;
    private final StorageType storage;
    private final FileChannel channel;
    private final Map<String, Slot> slots;
    private final long dataStart;
    private final ByteBuffer buffer;
    private boolean closed;

    /** A tensor held in the heap, for {@link #write(Path, StorageType, Map)}. */
    public record FloatTensor(Shape shape, float[] values) {

        public FloatTensor {
            Objects.requireNonNull(shape, "shape");
            Objects.requireNonNull(values, "values");
            if (shape.size() != values.length) {
                throw new IllegalArgumentException("Shape " + shape + " holds " + shape.size() + " values but " + values.length
                        + " were given");
            }
        }

        /** A tensor of {@code values} in row-major order with the given dimensions. */
        public static FloatTensor of(float[] values, long... shape) {
            return new FloatTensor(new Shape(shape), values);
        }
    }

    private static final class Slot {
        final String name;
        final Shape shape;
        final long offset;
        final long elements;
        long written;

        Slot(String name, Shape shape, long offset) {
            this.name = name;
            this.shape = shape;
            this.offset = offset;
            this.elements = shape.size();
        }
    }

    private SafetensorsWriter(Path file, StorageType storage, FileChannel channel, Map<String, Slot> slots, long dataStart) {
        this.file = file;
        this.storage = storage;
        this.channel = channel;
        this.slots = slots;
        this.dataStart = dataStart;
        this.buffer = ByteBuffer.allocateDirect(CHUNK_ELEMENTS * storage.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * Creates (or truncates) {@code file} and writes its header. Tensors are laid out in the iteration order of
     * {@code shapes}.
     */
    public static SafetensorsWriter create(Path file, StorageType storage, Map<String, Shape> shapes) {
        Objects.requireNonNull(storage, "storage");
        if (shapes.isEmpty()) {
            throw new IllegalArgumentException("Declare at least one tensor to write " + file);
        }
        ObjectNode header = JSON.createObjectNode();
        header.putObject("__metadata__").put("format", "pt");
        Map<String, Slot> slots = new LinkedHashMap<>();
        long offset = 0;
        for (Map.Entry<String, Shape> entry : shapes.entrySet()) {
            String name = Objects.requireNonNull(entry.getKey(), "tensor name");
            Shape shape = Objects.requireNonNull(entry.getValue(), "shape of " + name);
            if ("__metadata__".equals(name) || name.isEmpty()) {
                throw new IllegalArgumentException("'" + name + "' cannot name a tensor");
            }
            long bytes = Math.multiplyExact(shape.size(), (long) storage.byteSize());
            ObjectNode node = header.putObject(name);
            node.put("dtype", storage.dtype().name());
            ArrayNode dims = node.putArray("shape");
            for (long dimension : shape.getShape()) {
                dims.add(dimension);
            }
            node.putArray("data_offsets").add(offset).add(offset + bytes);
            slots.put(name, new Slot(name, shape, offset));
            offset += bytes;
        }
        byte[] json = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        // Pad the header with spaces to a multiple of 8 so that data starts aligned, as the reference writer does.
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        FileChannel channel;
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw new CheckpointException("Cannot create " + file + ": " + e.getMessage(), e);
        }
        SafetensorsWriter writer = new SafetensorsWriter(file, storage, channel, slots, 8L + padded);
        try {
            writer.writeFully(head.flip(), 0);
        } catch (RuntimeException e) {
            try {
                channel.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        return writer;
    }

    /** Writes a whole file of heap tensors, in the iteration order of {@code tensors}. */
    public static void write(Path file, StorageType storage, Map<String, FloatTensor> tensors) {
        Map<String, Shape> shapes = new LinkedHashMap<>();
        tensors.forEach((name, tensor) -> shapes.put(name, tensor.shape()));
        try (SafetensorsWriter writer = create(file, storage, shapes)) {
            tensors.forEach((name, tensor) -> writer.write(name, tensor.values()));
        }
    }

    /** Writes a whole file of NDArrays (any float dtype, any device), in the iteration order of {@code arrays}. */
    public static void writeArrays(Path file, StorageType storage, Map<String, NDArray> arrays) {
        Map<String, Shape> shapes = new LinkedHashMap<>();
        arrays.forEach((name, array) -> shapes.put(name, array.getShape()));
        try (SafetensorsWriter writer = create(file, storage, shapes)) {
            arrays.forEach(writer::write);
        }
    }

    /** Writes all values of the declared tensor {@code name}. */
    public void write(String name, float[] values) {
        Slot slot = slot(name);
        if (values.length != slot.elements) {
            throw new IllegalArgumentException("Tensor '" + name + "' has shape " + slot.shape + " (" + slot.elements
                    + " values) but " + values.length + " were given");
        }
        append(name, values, 0, values.length);
    }

    /** Writes the values of {@code array}, whose shape must be the declared one; {@code array} is left open. */
    public void write(String name, NDArray array) {
        Slot slot = slot(name);
        if (!array.getShape().equals(slot.shape)) {
            throw new IllegalArgumentException("Tensor '" + name + "' was declared with shape " + slot.shape + " but the array has "
                    + array.getShape());
        }
        if (array.getDataType() == DataType.FLOAT32) {
            write(name, array.toFloatArray());
        } else {
            try (NDArray asFloat = array.toType(DataType.FLOAT32, true)) {
                write(name, asFloat.toFloatArray());
            }
        }
    }

    /** Writes the next {@code length} values of tensor {@code name}, continuing where the previous call for it ended. */
    public void append(String name, float[] values, int from, int length) {
        Objects.checkFromIndexSize(from, length, values.length);
        Slot slot = slot(name);
        if (slot.written + length > slot.elements) {
            throw new IllegalArgumentException("Tensor '" + name + "' has " + slot.elements + " values; " + slot.written
                    + " are written and " + length + " more do not fit");
        }
        for (int done = 0; done < length; ) {
            int count = Math.min(CHUNK_ELEMENTS, length - done);
            buffer.clear();
            FloatFormats.encode(values, from + done, count, storage, buffer);
            writeFully(buffer.flip(), dataStart + slot.offset + slot.written * storage.byteSize());
            slot.written += count;
            done += count;
        }
    }

    /** Finishes the file; fails, and deletes it, if a declared tensor is incomplete. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        List<String> incomplete = new ArrayList<>();
        for (Slot slot : slots.values()) {
            if (slot.written != slot.elements) {
                incomplete.add(slot.name + " (" + slot.written + " of " + slot.elements + " values)");
            }
        }
        try {
            channel.close();
            if (!incomplete.isEmpty()) {
                Files.deleteIfExists(file);
            }
        } catch (IOException e) {
            throw new CheckpointException("Cannot finish " + file + ": " + e.getMessage(), e);
        }
        if (!incomplete.isEmpty()) {
            throw new IllegalStateException("Deleted " + file + " because tensors were not completely written: " + incomplete);
        }
    }

    private Slot slot(String name) {
        if (closed) {
            throw new IllegalStateException("Writer for " + file + " is closed");
        }
        Slot slot = slots.get(name);
        if (slot == null) {
            throw new IllegalArgumentException("Tensor '" + name + "' was not declared for " + file + "; declared: "
                    + abbreviate(slots.keySet()));
        }
        return slot;
    }

    private void writeFully(ByteBuffer data, long position) {
        try {
            while (data.hasRemaining()) {
                position += channel.write(data, position);
            }
        } catch (IOException e) {
            throw new CheckpointException("Cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    private static String abbreviate(Collection<String> names) {
        List<String> list = new ArrayList<>(names);
        return list.size() <= 8 ? list.toString() : list.subList(0, 8) + " and " + (list.size() - 8) + " more";
    }
}

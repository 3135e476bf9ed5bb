package dev.emloc.memory;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.zip.CRC32C;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * The binary format of a task memory, version {@value #FORMAT_VERSION} (specified in docs/memory-format.md).
 *
 * <p>An encoding is a header section (JSON metadata) followed by one section per layer (that layer's keys and
 * values), each section tagged, versioned and closed by a CRC-32C checksum. As one stream it starts with the magic
 * {@code EMLOCMEM} and ends with an end section; a store may also keep the sections apart (Redis keeps the header
 * in a manifest and each layer under its own key) and reassemble them with {@link #readHeader(byte[])} and
 * {@link #readLayers}.
 *
 * <p>Encoding and decoding go layer by layer, so neither ever holds two full copies of a memory. Decoding checks
 * every tag, version, size and checksum and throws {@link TaskMemoryFormatException} on the first failure; sizes
 * are taken from the header only after its checksum and the codec's {@link Limits} have passed, and payload memory
 * is allocated as bytes actually arrive, never ahead of them from a declared length.
 *
 * <p>Never Java serialization. Thread-safe.
 */
public final class TaskMemoryCodec {

    public static final int FORMAT_VERSION = 1;

    static final byte[] MAGIC = "EMLOCMEM".getBytes(StandardCharsets.US_ASCII);
    static final int HEADER_TAG = tag("EMLH");
    static final int LAYER_TAG = tag("EMLL");
    static final int END_TAG = tag("EMLE");
    /** Fixed part of a layer section before the payload. */
    static final int LAYER_PREFIX_BYTES = 32;
    private static final int CHUNK_BYTES = 4 << 20;
    private static final ObjectMapper JSON = JsonMapper.builder().build();
    private static final SecureRandom IDS = new SecureRandom();

    static {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new ExceptionInInitializerError("Task memories are stored little-endian; this platform is big-endian");
        }
    }

    /** The dtype keys and values are stored in. */
    public enum Precision {
        FLOAT32(1, DataType.FLOAT32),
        FLOAT16(2, DataType.FLOAT16);

        private final int code;
        private final DataType dataType;

        Precision(int code, DataType dataType) {
            this.code = code;
            this.dataType = dataType;
        }

        public int code() { return code; }
        public DataType dataType() { return dataType; }
        public int bytesPerValue() { return dataType.getNumOfBytes(); }

        static Precision ofCode(int code) {
            for (Precision p : values()) {
                if (p.code == code) {
                    return p;
                }
            }
            return null;
        }
    }

    /**
     * Bounds on what a decoder accepts; anything outside is a {@link TaskMemoryFormatException}.
     *
     * @param maxHeaderBytes    largest header JSON
     * @param maxLayers         most layers
     * @param maxKvHeads        most key/value heads
     * @param maxHeadDim        largest head dimension
     * @param maxTokensPerLayer most tokens at one layer
     * @param maxPayloadBytes   largest total of keys and values
     */
    public record Limits(int maxHeaderBytes, int maxLayers, int maxKvHeads, int maxHeadDim, int maxTokensPerLayer,
            long maxPayloadBytes) {

        /** 16 MiB of header, 1,024 layers, 1,024 heads, D ≤ 4,096, 16M tokens per layer, 8 GiB of payload. */
        public static Limits defaults() {
            return new Limits(16 << 20, 1024, 1024, 4096, 1 << 24, 8L << 30);
        }

        public Limits withMaxPayloadBytes(long bytes) {
            return new Limits(maxHeaderBytes, maxLayers, maxKvHeads, maxHeadDim, maxTokensPerLayer, bytes);
        }
    }

    private final Precision precision;
    private final Limits limits;

    /** Stores float32, default limits. */
    public TaskMemoryCodec() {
        this(Precision.FLOAT32, Limits.defaults());
    }

    public TaskMemoryCodec(Precision precision) {
        this(precision, Limits.defaults());
    }

    public TaskMemoryCodec(Precision precision, Limits limits) {
        this.precision = Objects.requireNonNull(precision, "precision");
        this.limits = Objects.requireNonNull(limits, "limits");
    }

    public Precision precision() { return precision; }
    public Limits limits() { return limits; }

    // ---------------------------------------------------------------- one stream

    /** Writes {@code memory}, stored under {@code key}, as one stream. Does not close {@code out}. */
    public MemoryHeader write(TaskKey key, TaskMemory memory, OutputStream out) throws IOException {
        MemoryHeader header = header(key, memory, Instant.now());
        ByteBuffer start = ByteBuffer.allocate(MAGIC.length + 4).order(ByteOrder.LITTLE_ENDIAN);
        start.put(MAGIC).putShort((short) FORMAT_VERSION).putShort((short) 0);
        out.write(start.array());
        out.write(encodeHeader(header));
        for (int l = 0; l < memory.numLayers(); l++) {
            writeLayer(header, memory, l, out);
        }
        ByteBuffer end = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        end.putInt(END_TAG).putShort((short) FORMAT_VERSION).putShort((short) 0).putInt(memory.numLayers());
        CRC32C crc = new CRC32C();
        crc.update(end.array(), 0, 12);
        end.putInt((int) crc.getValue());
        out.write(end.array());
        return header;
    }

    /** {@link #write} into a byte array. */
    public byte[] encode(TaskKey key, TaskMemory memory) {
        ByteArrayOutputStream out = new ByteArrayOutputStream((int) Math.min(Integer.MAX_VALUE - 8, memory.sizeInBytes() + 4096));
        try {
            write(key, memory, out);
        } catch (IOException e) {
            throw new IllegalStateException("Writing to memory failed", e);
        }
        return out.toByteArray();
    }

    /**
     * Reads one stream written by {@link #write}. The memory's arrays are created in a sub-manager of
     * {@code parent} (on its device) as {@code dtype}; the memory owns that manager.
     *
     * @param expectedKey the key it is read for, or null to accept any; a different one is refused
     * @throws TaskMemoryFormatException when the bytes are not a valid task memory
     * @throws IOException               when reading {@code in} fails
     */
    public TaskMemory read(InputStream in, TaskKey expectedKey, NDManager parent, DataType dtype) throws IOException {
        byte[] start = readExactly(in, MAGIC.length + 4, "the start of the encoding");
        for (int i = 0; i < MAGIC.length; i++) {
            if (start[i] != MAGIC[i]) {
                throw new TaskMemoryFormatException("Not an EMLoC task memory: the first bytes are not the magic 'EMLOCMEM'");
            }
        }
        ByteBuffer b = ByteBuffer.wrap(start).order(ByteOrder.LITTLE_ENDIAN);
        checkVersion(Short.toUnsignedInt(b.getShort(MAGIC.length)), "encoding");
        requireZero(b.getShort(MAGIC.length + 2), "the start section's flags");
        MemoryHeader header = readHeaderSection(in);
        if (expectedKey != null && !expectedKey.equals(header.key())) {
            throw new TaskMemoryFormatException("The encoding holds task " + header.key() + ", not " + expectedKey);
        }
        TaskMemory memory = readLayers(header, l -> in, parent, dtype, false);
        try {
            byte[] end = readExactly(in, 16, "the end section");
            ByteBuffer e = ByteBuffer.wrap(end).order(ByteOrder.LITTLE_ENDIAN);
            CRC32C crc = new CRC32C();
            crc.update(end, 0, 12);
            if (e.getInt(0) != END_TAG || Short.toUnsignedInt(e.getShort(4)) != FORMAT_VERSION || e.getShort(6) != 0
                    || e.getInt(8) != header.numLayers() || e.getInt(12) != (int) crc.getValue()) {
                throw new TaskMemoryFormatException("The end section is damaged or missing after layer " + (header.numLayers() - 1));
            }
            return memory;
        } catch (IOException | RuntimeException e) {
            memory.close();
            throw e;
        }
    }

    /** {@link #read} from a byte array; bytes after the end section are refused. */
    public TaskMemory decode(byte[] bytes, TaskKey expectedKey, NDManager parent, DataType dtype) {
        PartsInput in = new PartsInput(List.of(bytes));
        TaskMemory memory;
        try {
            memory = read(in, expectedKey, parent, dtype);
        } catch (IOException e) {
            throw new IllegalStateException("Reading from memory failed", e);
        }
        if (in.available() > 0) {
            memory.close();
            throw new TaskMemoryFormatException(in.available() + " unexpected bytes follow the end section");
        }
        return memory;
    }

    // ---------------------------------------------------------------- sections

    /** The header {@code memory} gets when stored under {@code key} now. */
    public MemoryHeader header(TaskKey key, TaskMemory memory, Instant createdAt) {
        Objects.requireNonNull(key, "key");
        List<Integer> lengths = new ArrayList<>();
        for (int l = 0; l < memory.numLayers(); l++) {
            lengths.add(memory.length(l));
        }
        Shape shape = memory.keys(0).getShape();
        for (int l = 1; l < memory.numLayers(); l++) {
            Shape other = memory.keys(l).getShape();
            if (other.get(1) != shape.get(1) || other.get(3) != shape.get(3)) {
                throw new IllegalArgumentException("Layer " + l + " of task memory '" + memory.taskId() + "' has shape " + other
                        + " but layer 0 has " + shape + "; every layer must have the same heads and head dimension");
            }
        }
        return new MemoryHeader(FORMAT_VERSION, IDS.nextLong(), key.namespace(), key.taskId(), memory.modelFingerprint(),
                memory.settings(), memory.demonstrationsDigest(), memory.demonstrationCount(), memory.positionOffset(),
                precision, memory.numLayers(), (int) shape.get(1), (int) shape.get(3), lengths, createdAt, memory.report());
    }

    /** The header section: tag, version, JSON length, JSON, checksum. */
    public byte[] encodeHeader(MemoryHeader header) {
        byte[] json = JSON.writeValueAsBytes(header);
        ByteBuffer b = ByteBuffer.allocate(12 + json.length + 4).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(HEADER_TAG).putShort((short) FORMAT_VERSION).putShort((short) 0).putInt(json.length).put(json);
        CRC32C crc = new CRC32C();
        crc.update(b.array(), 0, b.position());
        b.putInt((int) crc.getValue());
        return b.array();
    }

    /** Reads a header section from its bytes, as {@link #encodeHeader} wrote them. */
    public MemoryHeader readHeader(byte[] section) {
        try {
            ByteArrayInputStream in = new ByteArrayInputStream(section);
            MemoryHeader header = readHeaderSection(in);
            if (in.available() > 0) {
                throw new TaskMemoryFormatException(in.available() + " unexpected bytes follow the header section");
            }
            return header;
        } catch (IOException e) {
            throw new IllegalStateException("Reading from memory failed", e);
        }
    }

    /** Bytes of one layer's section: the fixed prefix, keys and values, checksum. */
    public static long layerSectionBytes(MemoryHeader header, int layer) {
        return LAYER_PREFIX_BYTES + 2 * header.arrayBytes(layer) + 4;
    }

    /** Writes layer {@code layer} of {@code memory} as one section of the encoding {@code header} describes. */
    public void writeLayer(MemoryHeader header, TaskMemory memory, int layer, OutputStream out) throws IOException {
        ByteBuffer prefix = layerPrefix(header, memory, layer);
        CRC32C crc = new CRC32C();
        crc.update(prefix.array());
        out.write(prefix.array());
        writeArray(memory.keys(layer), header.precision(), crc, out);
        writeArray(memory.values(layer), header.precision(), crc, out);
        ByteBuffer sum = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) crc.getValue());
        out.write(sum.array());
    }

    /** {@link #writeLayer} into a byte array of exactly {@link #layerSectionBytes} bytes. */
    public byte[] encodeLayer(MemoryHeader header, TaskMemory memory, int layer) {
        long size = layerSectionBytes(header, layer);
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("Layer " + layer + " takes " + size + " bytes, more than one array holds");
        }
        byte[] section = new byte[(int) size];
        ByteBuffer out = ByteBuffer.wrap(section).order(ByteOrder.LITTLE_ENDIAN);
        out.put(layerPrefix(header, memory, layer).array());
        putArray(memory.keys(layer), header.precision(), out);
        putArray(memory.values(layer), header.precision(), out);
        CRC32C crc = new CRC32C();
        crc.update(section, 0, out.position());
        out.putInt((int) crc.getValue());
        return section;
    }

    private static ByteBuffer layerPrefix(MemoryHeader header, TaskMemory memory, int layer) {
        ByteBuffer prefix = ByteBuffer.allocate(LAYER_PREFIX_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        prefix.putInt(LAYER_TAG).putShort((short) FORMAT_VERSION).putShort((short) header.precision().code())
                .putLong(header.memoryId()).putInt(layer).putInt(header.kvHeads()).putInt(memory.length(layer))
                .putInt(header.headDim());
        return prefix;
    }

    private static void putArray(NDArray array, Precision precision, ByteBuffer out) {
        NDArray stored = array.getDataType() == precision.dataType() ? array : array.toType(precision.dataType(), false);
        try {
            out.put(stored.toByteBuffer());
        } finally {
            if (stored != array) {
                stored.close();
            }
        }
    }

    /**
     * An input over byte arrays already in memory, such as the values a store fetched for one layer section. The
     * decoder copies them once, straight into the arrays it builds (on a GPU, through one staging buffer), instead of
     * streaming them through chunk buffers.
     */
    public static InputStream source(List<byte[]> parts) {
        return new PartsInput(parts);
    }

    /** Where each layer section comes from: called once per layer, in order. */
    @FunctionalInterface
    public interface LayerSource {
        InputStream open(int layer) throws IOException;
    }

    /**
     * Reads all layer sections of the encoding {@code header} describes and assembles the memory in a sub-manager of
     * {@code parent} as {@code dtype}. On any failure everything allocated is released.
     */
    public TaskMemory readLayers(MemoryHeader header, LayerSource source, NDManager parent, DataType dtype) throws IOException {
        return readLayers(header, source, parent, dtype, true);
    }

    private TaskMemory readLayers(MemoryHeader header, LayerSource source, NDManager parent, DataType dtype,
            boolean sectionPerSource) throws IOException {
        NDManager manager = parent.newSubManager();
        try {
            List<NDArray> keys = new ArrayList<>();
            List<NDArray> values = new ArrayList<>();
            for (int l = 0; l < header.numLayers(); l++) {
                InputStream in = source.open(l);
                readLayerSection(in, header, l, manager, dtype, keys, values);
                if (sectionPerSource && in.read() >= 0) {
                    throw new TaskMemoryFormatException("Unexpected bytes follow the section of layer " + l);
                }
            }
            return TaskMemory.builder(header.taskId(), manager).modelFingerprint(header.modelFingerprint())
                    .settings(header.settings()).demonstrations(header.demonstrationsDigest(), header.demonstrationCount())
                    .layers(keys, values).positionOffset(header.positionOffset()).report(header.report()).build();
        } catch (IllegalArgumentException e) {
            manager.close();
            throw new TaskMemoryFormatException("The layers do not form a valid task memory: " + e.getMessage(), e);
        } catch (IOException | RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    // ---------------------------------------------------------------- internals

    private MemoryHeader readHeaderSection(InputStream in) throws IOException {
        byte[] prefix = readExactly(in, 12, "the header section");
        ByteBuffer p = ByteBuffer.wrap(prefix).order(ByteOrder.LITTLE_ENDIAN);
        if (p.getInt(0) != HEADER_TAG) {
            throw new TaskMemoryFormatException("The header section is missing (expected tag 'EMLH')");
        }
        checkVersion(Short.toUnsignedInt(p.getShort(4)), "header section");
        requireZero(p.getShort(6), "the header section's reserved field");
        int length = p.getInt(8);
        if (length <= 0 || length > limits.maxHeaderBytes()) {
            throw new TaskMemoryFormatException("The header declares " + Integer.toUnsignedString(length)
                    + " bytes of JSON; the limit is " + limits.maxHeaderBytes());
        }
        byte[] json = readGrowing(in, length, "the header JSON");
        byte[] sum = readExactly(in, 4, "the header checksum");
        CRC32C crc = new CRC32C();
        crc.update(prefix);
        crc.update(json);
        if (ByteBuffer.wrap(sum).order(ByteOrder.LITTLE_ENDIAN).getInt() != (int) crc.getValue()) {
            throw new TaskMemoryFormatException("The header section fails its checksum: the bytes are damaged");
        }
        MemoryHeader header;
        try {
            header = JSON.readValue(json, MemoryHeader.class);
        } catch (JacksonException | IllegalArgumentException | NullPointerException e) {
            throw new TaskMemoryFormatException("The header JSON is not a valid task memory header: " + e.getMessage(), e);
        }
        validate(header);
        return header;
    }

    private void validate(MemoryHeader h) {
        if (h == null) {
            throw new TaskMemoryFormatException("The header JSON is empty");
        }
        if (h.format() != FORMAT_VERSION) {
            checkVersion(h.format(), "header");
        }
        try {
            h.key();
        } catch (IllegalArgumentException | NullPointerException e) {
            throw new TaskMemoryFormatException("The header's task key is invalid: " + e.getMessage(), e);
        }
        require(h.modelFingerprint() != null && !h.modelFingerprint().isBlank(), "the model fingerprint is missing");
        require(h.settings() != null, "the compression settings are missing");
        require(h.demonstrationsDigest() != null, "the demonstrations digest is missing");
        require(h.report() != null, "the compression report is missing");
        require(h.precision() != null, "the stored precision is missing");
        require(h.createdAt() != null, "the creation time is missing");
        require(h.demonstrationCount() >= 0, "the demonstration count is negative");
        require(h.positionOffset() >= 0, "the position offset is negative");
        require(h.numLayers() >= 1 && h.numLayers() <= limits.maxLayers(),
                "the layer count " + h.numLayers() + " is outside 1.." + limits.maxLayers());
        require(h.kvHeads() >= 1 && h.kvHeads() <= limits.maxKvHeads(),
                "the key/value head count " + h.kvHeads() + " is outside 1.." + limits.maxKvHeads());
        require(h.headDim() >= 1 && h.headDim() <= limits.maxHeadDim(),
                "the head dimension " + h.headDim() + " is outside 1.." + limits.maxHeadDim());
        require(h.layerLengths() != null && h.layerLengths().size() == h.numLayers(),
                "the header lists " + (h.layerLengths() == null ? 0 : h.layerLengths().size()) + " layer lengths for "
                        + h.numLayers() + " layers");
        long total = 0;
        for (Integer n : h.layerLengths()) {
            require(n != null && n >= 0 && n <= limits.maxTokensPerLayer(),
                    "a layer length " + n + " is outside 0.." + limits.maxTokensPerLayer());
            long arrayBytes = (long) h.kvHeads() * n * h.headDim() * h.precision().bytesPerValue();
            require(arrayBytes <= Integer.MAX_VALUE - 8, "one layer's keys would take " + arrayBytes + " bytes");
            total += 2 * arrayBytes;
        }
        require(total <= limits.maxPayloadBytes(),
                "the keys and values would take " + total + " bytes; the limit is " + limits.maxPayloadBytes());
        require(h.report().layers().isEmpty() || h.report().layers().size() == h.numLayers(),
                "the report covers " + h.report().layers().size() + " layers of " + h.numLayers());
        for (int l = 0; l < h.report().layers().size(); l++) {
            require(h.report().layers().get(l).kept() == h.layerLengths().get(l), "the report says layer " + l + " keeps "
                    + h.report().layers().get(l).kept() + " tokens but the header stores " + h.layerLengths().get(l));
        }
    }

    private static void requireZero(short value, String what) {
        if (value != 0) {
            throw new TaskMemoryFormatException("Invalid task memory: " + what + " is " + value + ", must be 0 in version "
                    + FORMAT_VERSION);
        }
    }

    private static void require(boolean condition, String what) {
        if (!condition) {
            throw new TaskMemoryFormatException("Invalid task memory header: " + what);
        }
    }

    private static void checkVersion(int version, String what) {
        if (version != FORMAT_VERSION) {
            throw new TaskMemoryFormatException("The " + what + " is format version " + version + "; this library reads"
                    + " version " + FORMAT_VERSION + (version > FORMAT_VERSION ? ": upgrade EMLoC, or teach the task again" : ""));
        }
    }

    private void readLayerSection(InputStream in, MemoryHeader h, int layer, NDManager manager, DataType dtype,
            List<NDArray> keys, List<NDArray> values) throws IOException {
        String where = "layer " + layer;
        byte[] prefix = readExactly(in, LAYER_PREFIX_BYTES, "the section of " + where);
        ByteBuffer p = ByteBuffer.wrap(prefix).order(ByteOrder.LITTLE_ENDIAN);
        if (p.getInt(0) != LAYER_TAG) {
            throw new TaskMemoryFormatException("The section of " + where + " is missing (expected tag 'EMLL')");
        }
        checkVersion(Short.toUnsignedInt(p.getShort(4)), "section of " + where);
        Precision stored = Precision.ofCode(Short.toUnsignedInt(p.getShort(6)));
        if (stored != h.precision()) {
            throw new TaskMemoryFormatException("The section of " + where + " stores dtype code " + p.getShort(6)
                    + " but the header says " + h.precision());
        }
        if (p.getLong(8) != h.memoryId()) {
            throw new TaskMemoryFormatException("The section of " + where + " belongs to another encoding (memory id "
                    + Long.toHexString(p.getLong(8)) + ", header " + Long.toHexString(h.memoryId()) + ")");
        }
        int index = p.getInt(16);
        int g = p.getInt(20);
        int n = p.getInt(24);
        int d = p.getInt(28);
        if (index != layer || g != h.kvHeads() || n != h.layerLengths().get(layer) || d != h.headDim()) {
            throw new TaskMemoryFormatException("The section of " + where + " says layer " + index + " of shape (1, " + g
                    + ", " + n + ", " + d + "), but the header expects layer " + layer + " of shape (1, " + h.kvHeads() + ", "
                    + h.layerLengths().get(layer) + ", " + h.headDim() + ")");
        }
        CRC32C crc = new CRC32C();
        crc.update(prefix);
        Shape shape = new Shape(1, g, n, d);
        NDArray k = readArray(in, shape, h, crc, manager, where + " keys");
        NDArray v;
        try {
            v = readArray(in, shape, h, crc, manager, where + " values");
            byte[] sum = readExactly(in, 4, "the checksum of " + where);
            if (ByteBuffer.wrap(sum).order(ByteOrder.LITTLE_ENDIAN).getInt() != (int) crc.getValue()) {
                v.close();
                throw new TaskMemoryFormatException("The section of " + where + " fails its checksum: the bytes are damaged");
            }
        } catch (IOException | RuntimeException e) {
            k.close();
            throw e;
        }
        keys.add(convert(k, dtype));
        values.add(convert(v, dtype));
    }

    private static NDArray convert(NDArray array, DataType dtype) {
        if (array.getDataType() == dtype) {
            return array;
        }
        NDArray converted = array.toType(dtype, false);
        array.close();
        return converted;
    }

    /**
     * Reads one array's bytes chunk by chunk, each chunk copied into its own array as it arrives, then joins them:
     * memory grows with the bytes received, never ahead of them.
     */
    private static NDArray readArray(InputStream in, Shape shape, MemoryHeader h, CRC32C crc, NDManager manager,
            String what) throws IOException {
        DataType stored = h.precision().dataType();
        int valueBytes = stored.getNumOfBytes();
        long total = shape.size() * valueBytes;
        if (total == 0) {
            return manager.zeros(shape, stored);
        }
        if (in instanceof PartsInput parts && parts.remaining() >= total) {
            return copyOnce(parts, (int) total, shape, stored, crc, manager);
        }
        NDList chunks = new NDList();
        ByteBuffer scratch = null;
        try {
            for (long done = 0; done < total; ) {
                int length = (int) Math.min(CHUNK_BYTES, total - done);
                if (scratch == null || scratch.capacity() != length) {
                    scratch = ByteBuffer.allocateDirect(length).order(ByteOrder.LITTLE_ENDIAN);
                }
                fill(in, scratch, what);
                scratch.flip();
                crc.update(scratch.duplicate());
                // on the CPU DJL wraps a direct buffer without copying: duplicate() gives the chunk its own storage
                try (NDArray view = manager.create(scratch, new Shape(length / valueBytes), stored)) {
                    chunks.add(view.duplicate());
                }
                scratch.clear();
                done += length;
            }
            NDArray flat = chunks.size() == 1 ? chunks.get(0) : NDArrays.concat(chunks);
            NDArray result = flat.reshape(shape);
            if (flat != result) {
                flat.close();
            }
            for (NDArray chunk : chunks) {
                if (chunk != flat) {
                    chunk.close();
                }
            }
            return result;
        } catch (IOException | RuntimeException e) {
            chunks.close();
            throw e;
        }
    }

    /** Bytes already in memory: one copy into the new array's own storage (CPU), or into one staging buffer (GPU). */
    private static NDArray copyOnce(PartsInput parts, int total, Shape shape, DataType stored, CRC32C crc, NDManager manager) {
        if (manager.getDevice().equals(ai.djl.Device.cpu())) {
            NDArray result = manager.create(shape, stored);
            try {
                ByteBuffer view = result.toByteBuffer(true);  // the tensor's own memory on the CPU
                if (!view.isDirect() || view.capacity() != total) {
                    throw new IllegalStateException("The engine gave no direct view of a new array");
                }
                parts.copyTo(view, total, crc);
                return result;
            } catch (RuntimeException e) {
                result.close();
                throw e;
            }
        }
        ByteBuffer staging = ByteBuffer.allocateDirect(total).order(ByteOrder.LITTLE_ENDIAN);
        parts.copyTo(staging, total, crc);
        staging.flip();
        return manager.create(staging, shape, stored);              // copied to the device here
    }

    /** Byte arrays read as one stream, which the decoder can also copy from directly. */
    private static final class PartsInput extends InputStream {
        private final List<byte[]> parts;
        private int index;
        private int position;
        private long remaining;

        PartsInput(List<byte[]> parts) {
            this.parts = List.copyOf(parts);
            for (byte[] part : this.parts) {
                remaining += part.length;
            }
        }

        long remaining() {
            return remaining;
        }

        @Override
        public int read() {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] target, int offset, int length) {
            if (length == 0) {
                return 0;
            }
            skipEmpty();
            if (index >= parts.size()) {
                return -1;
            }
            byte[] part = parts.get(index);
            int n = Math.min(length, part.length - position);
            System.arraycopy(part, position, target, offset, n);
            advance(n);
            return n;
        }

        @Override
        public int available() {
            return (int) Math.min(Integer.MAX_VALUE, remaining);
        }

        void copyTo(ByteBuffer target, int length, CRC32C crc) {
            int left = length;
            while (left > 0) {
                skipEmpty();
                byte[] part = parts.get(index);
                int n = Math.min(left, part.length - position);
                crc.update(part, position, n);
                target.put(part, position, n);
                advance(n);
                left -= n;
            }
        }

        private void skipEmpty() {
            while (index < parts.size() && position == parts.get(index).length) {
                index++;
                position = 0;
            }
        }

        private void advance(int n) {
            position += n;
            remaining -= n;
        }
    }

    private static void fill(InputStream in, ByteBuffer target, String what) throws IOException {
        byte[] buffer = new byte[(int) Math.min(1 << 20, target.remaining())];
        while (target.hasRemaining()) {
            int read = in.read(buffer, 0, Math.min(buffer.length, target.remaining()));
            if (read < 0) {
                throw new TaskMemoryFormatException("The encoding is truncated inside " + what);
            }
            target.put(buffer, 0, read);
        }
    }

    private static void writeArray(NDArray array, Precision precision, CRC32C crc, OutputStream out) throws IOException {
        NDArray stored = array.getDataType() == precision.dataType() ? array : array.toType(precision.dataType(), false);
        try {
            ByteBuffer bytes = stored.toByteBuffer();
            crc.update(bytes.duplicate());
            if (bytes.hasArray()) {
                out.write(bytes.array(), bytes.arrayOffset() + bytes.position(), bytes.remaining());
            } else {
                byte[] buffer = new byte[(int) Math.min(1 << 20, bytes.remaining())];
                while (bytes.hasRemaining()) {
                    int n = Math.min(buffer.length, bytes.remaining());
                    bytes.get(buffer, 0, n);
                    out.write(buffer, 0, n);
                }
            }
        } finally {
            if (stored != array) {
                stored.close();
            }
        }
    }

    private static byte[] readExactly(InputStream in, int length, String what) throws IOException {
        byte[] bytes = in.readNBytes(length);
        if (bytes.length != length) {
            throw new TaskMemoryFormatException("The encoding is truncated: " + what + " needs " + length + " bytes, "
                    + bytes.length + " remain");
        }
        return bytes;
    }

    /** Reads {@code length} bytes, allocating as they arrive (1 MiB at a time) rather than from the declared length. */
    private static byte[] readGrowing(InputStream in, int length, String what) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream(Math.min(length, 1 << 20));
        byte[] buffer = new byte[Math.min(length, 1 << 20)];
        int remaining = length;
        while (remaining > 0) {
            int read = in.read(buffer, 0, Math.min(buffer.length, remaining));
            if (read < 0) {
                throw new TaskMemoryFormatException("The encoding is truncated inside " + what + ": " + remaining
                        + " of " + length + " bytes missing");
            }
            out.write(buffer, 0, read);
            remaining -= read;
        }
        return out.toByteArray();
    }

    private static int tag(String ascii) {
        byte[] b = ascii.getBytes(StandardCharsets.US_ASCII);
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getInt();
    }
}

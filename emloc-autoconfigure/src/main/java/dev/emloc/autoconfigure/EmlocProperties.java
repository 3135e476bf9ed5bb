package dev.emloc.autoconfigure;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import dev.emloc.spring.ai.OnMissingTask;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.util.unit.DataSize;

/**
 * Settings of the EMLoC chat model, its task memories and their store, under {@code spring.ai.emloc}.
 */
@ConfigurationProperties(prefix = EmlocProperties.PREFIX)
public class EmlocProperties {

    public static final String PREFIX = "spring.ai.emloc";

    /** Directory of the Qwen2-VL or Qwen2 checkpoint: config.json, *.safetensors, tokenizer.json and, for images, preprocessor_config.json. */
    private Path modelPath;

    /** Device the model runs on: auto (the first GPU the engine sees, else the CPU), cpu, gpu or gpu:N. */
    private String device = "auto";

    /** Data type of weights and caches: float32, or float16 (halves GPU memory; use it on a GPU). */
    private String dtype = "float32";

    private final Workers workers = new Workers();

    private final Chat chat = new Chat();

    private final Compression compression = new Compression();

    private final Memory memory = new Memory();

    private final Vision vision = new Vision();

    public Path getModelPath() { return modelPath; }
    public void setModelPath(Path modelPath) { this.modelPath = modelPath; }
    public String getDevice() { return device; }
    public void setDevice(String device) { this.device = device; }
    public String getDtype() { return dtype; }
    public void setDtype(String dtype) { this.dtype = dtype; }
    public Workers getWorkers() { return workers; }
    public Chat getChat() { return chat; }
    public Compression getCompression() { return compression; }
    public Memory getMemory() { return memory; }
    public Vision getVision() { return vision; }

    /** The bounded pool requests run on: the model is one shared, heavy object. */
    public static class Workers {

        /** Chat requests (calls and streams) that run on the model at the same time; teaching has its own thread. */
        private int threads = 1;

        /** Requests that may wait for a worker; one more is rejected at once with a clear error. */
        private int queueCapacity = 16;

        public int getThreads() { return threads; }
        public void setThreads(int threads) { this.threads = threads; }
        public int getQueueCapacity() { return queueCapacity; }
        public void setQueueCapacity(int queueCapacity) { this.queueCapacity = queueCapacity; }
    }

    /** Default chat options; a request's own options override them. */
    public static class Chat {

        /** Sampling temperature; 0 is greedy. */
        private Double temperature = 0.0;

        /** Nucleus sampling: the smallest set of tokens whose probability reaches this value. */
        private Double topP = 1.0;

        /** Sample among the k most likely tokens only; 0 for all. */
        private Integer topK = 0;

        /** Most tokens generated per answer. */
        private Integer maxTokens = 256;

        /** Strings that end the answer (not included in it). */
        private List<String> stopSequences = new ArrayList<>();

        /** Seed of the sampler, for reproducible sampling; unset draws one per request. */
        private Long seed;

        /** Task answered when a request names none (its memory is used as few-shot adapter); unset for plain chat. */
        private String taskId;

        public Double getTemperature() { return temperature; }
        public void setTemperature(Double temperature) { this.temperature = temperature; }
        public Double getTopP() { return topP; }
        public void setTopP(Double topP) { this.topP = topP; }
        public Integer getTopK() { return topK; }
        public void setTopK(Integer topK) { this.topK = topK; }
        public Integer getMaxTokens() { return maxTokens; }
        public void setMaxTokens(Integer maxTokens) { this.maxTokens = maxTokens; }
        public List<String> getStopSequences() { return stopSequences; }
        public void setStopSequences(List<String> stopSequences) { this.stopSequences = stopSequences; }
        public Long getSeed() { return seed; }
        public void setSeed(Long seed) { this.seed = seed; }
        public String getTaskId() { return taskId; }
        public void setTaskId(String taskId) { this.taskId = taskId; }
    }

    /** How demonstrations are compressed into a task memory (see docs/algorithm.md). */
    public static class Compression {

        /** Whole demonstrations per chunk. */
        private int demosPerChunk = 4;

        /** Fractions of a chunk's tokens tried at each layer, smallest first. */
        private List<Double> retentionCandidates = new ArrayList<>(List.of(0.1, 0.2, 0.5));

        /** Largest Jensen-Shannon divergence (nats) between full and pruned predictions a layer may cause. */
        private double jsThreshold = 0.005;

        /** Width of the average pooling over token importance scores (odd). */
        private int poolKernel = 5;

        /** Teach and append jobs that may wait for the teaching thread; one more is refused at once. */
        private int queueCapacity = 4;

        public int getQueueCapacity() { return queueCapacity; }
        public void setQueueCapacity(int queueCapacity) { this.queueCapacity = queueCapacity; }

        public int getDemosPerChunk() { return demosPerChunk; }
        public void setDemosPerChunk(int demosPerChunk) { this.demosPerChunk = demosPerChunk; }
        public List<Double> getRetentionCandidates() { return retentionCandidates; }
        public void setRetentionCandidates(List<Double> retentionCandidates) { this.retentionCandidates = retentionCandidates; }
        public double getJsThreshold() { return jsThreshold; }
        public void setJsThreshold(double jsThreshold) { this.jsThreshold = jsThreshold; }
        public int getPoolKernel() { return poolKernel; }
        public void setPoolKernel(int poolKernel) { this.poolKernel = poolKernel; }
    }

    /** Where task memories are stored and how they are found. */
    public static class Memory {

        /** Store of task memories: redis (the default when a RedisConnectionFactory exists) or in-memory. */
        private StoreType store;

        /** Namespace (application or tenant) of every task id; tasks of other namespaces are never seen. */
        private String namespace = "default";

        /** Lifetime of a taught memory; unset keeps it until it is forgotten. */
        private Duration ttl;

        /** What a request for a task with no memory gets: error (the default) or zero-shot (an answer without memory, said so in the response metadata). */
        private OnMissingTask onMissingTask = OnMissingTask.ERROR;

        /** Stored dtype of keys and values: float32 (exact) or float16 (half the bytes). */
        private String precision = "float32";

        /** Decoded memories kept in process, so a query does not read the store again while its task is unchanged. */
        private DataSize cacheSize = DataSize.ofGigabytes(1);

        /** Bound of the in-memory store; a memory that does not fit is refused. */
        private DataSize inMemoryMaxSize = DataSize.ofGigabytes(1);

        /** First part of every Redis key. */
        private String keyPrefix = "emloc";

        public StoreType getStore() { return store; }
        public void setStore(StoreType store) { this.store = store; }
        public String getNamespace() { return namespace; }
        public void setNamespace(String namespace) { this.namespace = namespace; }
        public Duration getTtl() { return ttl; }
        public void setTtl(Duration ttl) { this.ttl = ttl; }
        public OnMissingTask getOnMissingTask() { return onMissingTask; }
        public void setOnMissingTask(OnMissingTask onMissingTask) { this.onMissingTask = onMissingTask; }
        public String getPrecision() { return precision; }
        public void setPrecision(String precision) { this.precision = precision; }
        public DataSize getCacheSize() { return cacheSize; }
        public void setCacheSize(DataSize cacheSize) { this.cacheSize = cacheSize; }
        public DataSize getInMemoryMaxSize() { return inMemoryMaxSize; }
        public void setInMemoryMaxSize(DataSize inMemoryMaxSize) { this.inMemoryMaxSize = inMemoryMaxSize; }
        public String getKeyPrefix() { return keyPrefix; }
        public void setKeyPrefix(String keyPrefix) { this.keyPrefix = keyPrefix; }
    }

    /** Limits on images and videos in requests and demonstrations. */
    public static class Vision {

        /** Largest image accepted, in pixels (checked from the header, before decoding). */
        private long maxInputPixels = 50_000_000L;

        /** Most images in one request. */
        private int maxImagesPerRequest = 16;

        /** Most frames of one video. */
        private int maxVideoFrames = 64;

        /** Largest encoded image accepted in a chat message. */
        private DataSize maxImageSize = DataSize.ofMegabytes(20);

        public DataSize getMaxImageSize() { return maxImageSize; }
        public void setMaxImageSize(DataSize maxImageSize) { this.maxImageSize = maxImageSize; }

        public long getMaxInputPixels() { return maxInputPixels; }
        public void setMaxInputPixels(long maxInputPixels) { this.maxInputPixels = maxInputPixels; }
        public int getMaxImagesPerRequest() { return maxImagesPerRequest; }
        public void setMaxImagesPerRequest(int maxImagesPerRequest) { this.maxImagesPerRequest = maxImagesPerRequest; }
        public int getMaxVideoFrames() { return maxVideoFrames; }
        public void setMaxVideoFrames(int maxVideoFrames) { this.maxVideoFrames = maxVideoFrames; }
    }

    /** The store of task memories. */
    public enum StoreType {
        /** Redis through Spring Data Redis ({@code spring.data.redis.*}): shared by instances, kept across restarts. */
        REDIS,
        /** This process only: lost on restart. */
        IN_MEMORY
    }
}

package dev.emloc.sample;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

import dev.emloc.memory.CompressionReport;
import dev.emloc.memory.CompressionSettings;
import dev.emloc.memory.Modality;
import dev.emloc.memory.TaskMemoryDescriptor;
import dev.emloc.spring.ai.TaskAdapters;
import org.springframework.stereotype.Component;

/** Task memories as the API shows them: a summary per task, and the details with the compression report. */
@Component
public class TaskViews {

    /**
     * A stored task.
     *
     * @param taskId         the task id
     * @param generation     the stored version (changes on every teach)
     * @param demonstrations demonstrations it was taught with
     * @param tokensSeen     demonstration tokens that went through the model
     * @param tokensKept     tokens kept, summed over layers
     * @param layers         decoder layers
     * @param keptFraction   tokens kept over tokens seen times layers
     * @param storedBytes    bytes the store holds
     * @param precision      stored dtype
     * @param createdAt      when it was saved
     * @param expiresAt      when it expires (null: never)
     * @param model          fingerprint of the model that built it
     */
    public record TaskSummary(String taskId, String generation, int demonstrations, int tokensSeen, long tokensKept,
            int layers, double keptFraction, long storedBytes, String precision, Instant createdAt, Instant expiresAt,
            String model) {

        static TaskSummary of(TaskMemoryDescriptor d) {
            return new TaskSummary(d.key().taskId(), d.generation(), d.demonstrationCount(), d.tokensSeen(), d.tokensKept(),
                    d.numLayers(), d.keptFraction(), d.storedBytes(), d.precision().name().toLowerCase(Locale.ROOT),
                    d.createdAt(), d.expiresAt(), d.modelFingerprint());
        }
    }

    /**
     * A stored task with its compression report.
     *
     * @param task       the summary
     * @param settings   how it was compressed
     * @param report     what compression kept
     * @param jobId      the teaching job that produced this view (null outside a job)
     * @param compressed whether that job compressed anything (false: the stored memory was already up to date)
     */
    public record TaskDetails(TaskSummary task, Settings settings, Report report, String jobId, Boolean compressed) {
    }

    /** Compression settings. */
    public record Settings(String strategy, int demosPerChunk, List<Double> retentionCandidates, double jsThreshold,
            int poolKernel) {

        static Settings of(CompressionSettings s) {
            return new Settings(s.strategy().name(), s.demosPerChunk(), s.retentionCandidates(), s.jsThreshold(),
                    s.poolKernel());
        }
    }

    /**
     * What compression kept. Modalities are {@code system}, {@code image}, {@code question} and {@code answer}, in
     * that order.
     *
     * @param tokensSeen        demonstration tokens seen
     * @param seenByModality    those tokens by modality
     * @param tokensKept        tokens kept, summed over layers
     * @param keptPerLayer      tokens kept per layer, averaged over layers
     * @param keptByModality    tokens kept by modality, averaged over layers (comparable with {@code seenByModality})
     * @param layers            per layer: tokens kept, by modality (averaged over KV heads)
     * @param chunks            per chunk: its tokens and demonstrations, the fraction kept and the divergence per layer
     * @param compressionMillis time compression took, all phases
     * @param phaseMillis       time per phase (encode, teacher, importance, search, assemble)
     */
    public record Report(int tokensSeen, Map<String, Integer> seenByModality, long tokensKept, double keptPerLayer,
            Map<String, Double> keptByModality, List<Layer> layers, List<Chunk> chunks, long compressionMillis,
            Map<String, Long> phaseMillis) {

        static Report of(CompressionReport r) {
            Map<String, Integer> seen = new LinkedHashMap<>();
            Map<String, Double> kept = new LinkedHashMap<>();
            for (Modality m : Modality.values()) {
                seen.put(name(m), r.seenByModality().getOrDefault(m, 0));
                kept.put(name(m), 0.0);
            }
            List<Layer> layers = r.layers().stream().map(Layer::of).toList();
            long tokensKept = 0;
            for (Layer layer : layers) {
                tokensKept += layer.kept();
                layer.keptByModality().forEach((m, n) -> kept.merge(m, n / layers.size(), Double::sum));
            }
            List<Chunk> chunks = r.chunks().stream()
                    .map(c -> new Chunk(c.tokens(), c.demonstrations(), c.acceptedFractions(), c.js())).toList();
            Map<String, Long> phases = new LinkedHashMap<>();
            for (String phase : List.of("encode", "teacher", "importance", "search", "assemble")) {
                if (r.phaseMillis().containsKey(phase)) {
                    phases.put(phase, r.phaseMillis().get(phase));
                }
            }
            r.phaseMillis().forEach(phases::putIfAbsent);
            long millis = phases.values().stream().mapToLong(Long::longValue).sum();
            return new Report(r.tokensSeen(), seen, tokensKept, layers.isEmpty() ? 0 : tokensKept / (double) layers.size(),
                    kept, layers, chunks, millis, phases);
        }
    }

    /** Tokens kept at one layer, by modality. */
    public record Layer(int layer, int kept, Map<String, Double> keptByModality) {

        static Layer of(CompressionReport.LayerRetention l) {
            Map<String, Double> byModality = new LinkedHashMap<>();
            for (Modality m : Modality.values()) {
                byModality.put(name(m), l.keptByModality().getOrDefault(m, 0.0));
            }
            return new Layer(l.layer(), l.kept(), byModality);
        }
    }

    /** One chunk's decisions, per layer. */
    public record Chunk(int tokens, int demonstrations, List<Double> acceptedFractions, List<Double> js) {
    }

    private final TaskAdapters adapters;

    public TaskViews(TaskAdapters adapters) {
        this.adapters = adapters;
    }

    /** Every task of the namespace, sorted by id. */
    public List<TaskSummary> list() {
        return adapters.list().stream().map(TaskSummary::of).toList();
    }

    /** The task with its report; empty when it has no memory. */
    public Optional<TaskDetails> details(String taskId) {
        return details(taskId, null, null);
    }

    /** As {@link #details(String)}, for the teaching job {@code jobId} that {@code compressed} something or not. */
    Optional<TaskDetails> details(String taskId, String jobId, Boolean compressed) {
        Optional<TaskMemoryDescriptor> descriptor = adapters.describe(taskId);
        if (descriptor.isEmpty()) {
            return Optional.empty();
        }
        Optional<CompressionReport> report = adapters.report(taskId);
        return report.map(r -> new TaskDetails(TaskSummary.of(descriptor.get()), Settings.of(descriptor.get().settings()),
                Report.of(r), jobId, compressed));
    }

    private static String name(Modality modality) {
        return modality.name().toLowerCase(Locale.ROOT);
    }
}

package dev.emloc.memory;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * What compression did: tokens seen and kept, per layer and per modality, the fraction accepted and the
 * divergence measured at every layer of every chunk, and the time spent in each phase.
 *
 * @param demonstrations   demonstrations compressed so far
 * @param tokensSeen       demonstration tokens (system turn included) that went through the model
 * @param seenByModality   those tokens by modality
 * @param layers           per layer: tokens kept (the stored length) and their modalities, averaged over KV heads
 * @param chunks           per chunk: its size, and per layer the accepted fraction and JS
 * @param phaseMillis      wall time per phase: encode, teacher, importance, search, assemble
 */
public record CompressionReport(int demonstrations, int tokensSeen, Map<Modality, Integer> seenByModality,
        List<LayerRetention> layers, List<ChunkReport> chunks, Map<String, Long> phaseMillis) {

    public CompressionReport {
        seenByModality = Map.copyOf(seenByModality);
        layers = List.copyOf(layers);
        chunks = List.copyOf(chunks);
        phaseMillis = Map.copyOf(phaseMillis);
    }

    /** Tokens kept at one layer, and how many of them are of each modality (averaged over the KV heads). */
    public record LayerRetention(int layer, int kept, Map<Modality, Double> keptByModality) {
        public LayerRetention {
            keptByModality = Map.copyOf(keptByModality);
        }
    }

    /**
     * One chunk's decisions.
     *
     * @param tokens            tokens of the chunk
     * @param demonstrations    demonstrations in it
     * @param acceptedFractions per layer, the fraction of the chunk kept (1.0 when no candidate passed)
     * @param js                per layer, the divergence of the accepted choice (0 when nothing is pruned)
     */
    public record ChunkReport(int tokens, int demonstrations, List<Double> acceptedFractions, List<Double> js) {
        public ChunkReport {
            acceptedFractions = List.copyOf(acceptedFractions);
            js = List.copyOf(js);
        }
    }

    /** Total tokens kept over all layers divided by tokens seen times layers. */
    public double keptFraction() {
        if (tokensSeen == 0 || layers.isEmpty()) {
            return 0;
        }
        long kept = layers.stream().mapToLong(LayerRetention::kept).sum();
        return kept / ((double) tokensSeen * layers.size());
    }

    /** An empty report for {@code numLayers} layers. */
    public static CompressionReport empty(int numLayers) {
        List<LayerRetention> layers = new ArrayList<>();
        for (int l = 0; l < numLayers; l++) {
            layers.add(new LayerRetention(l, 0, new EnumMap<>(Modality.class)));
        }
        return new CompressionReport(0, 0, Map.of(), layers, List.of(), Map.of());
    }
}

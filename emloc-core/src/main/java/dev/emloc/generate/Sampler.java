package dev.emloc.generate;

import java.util.Arrays;
import java.util.PriorityQueue;
import java.util.SplittableRandom;

/**
 * Picks the next token from a row of logits: greedy argmax, or temperature sampling restricted by top-k
 * then top-p (the order Hugging Face applies them). DJL has no multinomial op, and one row of logits is
 * cheap to copy, so sampling runs in Java with a seeded generator.
 */
public interface Sampler {

    /** The chosen token id. */
    int sample(float[] logits);

    /** The sampler for these settings; a fixed seed makes the sequence of choices reproducible. */
    static Sampler of(GenerationSettings settings) {
        if (settings.greedy()) {
            return Sampler::argmax;
        }
        SplittableRandom random = settings.seed() == null ? new SplittableRandom() : new SplittableRandom(settings.seed());
        return logits -> sampleFiltered(logits, settings.temperature(), settings.topK(), settings.topP(), random);
    }

    /** Index of the largest logit (the first on ties). */
    static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        return best;
    }

    private static int sampleFiltered(float[] logits, double temperature, int topK, double topP, SplittableRandom random) {
        int[] candidates = topK > 0 ? topIndices(logits, Math.min(topK, logits.length)) : sortedIndices(logits);
        double max = logits[candidates[0]];
        double[] weights = new double[candidates.length];
        double total = 0;
        for (int i = 0; i < candidates.length; i++) {
            weights[i] = Math.exp((logits[candidates[i]] - max) / temperature);
            total += weights[i];
        }
        int kept = candidates.length;
        if (topP < 1) {
            double mass = 0;
            for (int i = 0; i < candidates.length; i++) {
                mass += weights[i] / total;
                if (mass >= topP) {
                    kept = i + 1;
                    break;
                }
            }
            total = 0;
            for (int i = 0; i < kept; i++) {
                total += weights[i];
            }
        }
        double target = random.nextDouble() * total;
        for (int i = 0; i < kept; i++) {
            target -= weights[i];
            if (target < 0) {
                return candidates[i];
            }
        }
        return candidates[kept - 1];
    }

    /** The k largest logits' indices, most likely first. */
    private static int[] topIndices(float[] logits, int k) {
        PriorityQueue<Integer> heap = new PriorityQueue<>(k, (a, b) -> Float.compare(logits[a], logits[b]));
        for (int i = 0; i < logits.length; i++) {
            if (heap.size() < k) {
                heap.add(i);
            } else if (logits[i] > logits[heap.peek()]) {
                heap.poll();
                heap.add(i);
            }
        }
        int[] out = new int[heap.size()];
        for (int i = out.length - 1; i >= 0; i--) {
            out[i] = heap.poll();
        }
        return out;
    }

    /** Every index, most likely first (packs logit order and index into one long per entry for a primitive sort). */
    private static int[] sortedIndices(float[] logits) {
        long[] keys = new long[logits.length];
        for (int i = 0; i < logits.length; i++) {
            int bits = Float.floatToIntBits(logits[i]);
            int ordered = bits >= 0 ? bits : bits ^ 0x7fffffff; // monotone in the float value
            keys[i] = ((long) ~ordered << 32) | i; // descending by value
        }
        Arrays.sort(keys);
        int[] out = new int[logits.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (int) keys[i];
        }
        return out;
    }
}

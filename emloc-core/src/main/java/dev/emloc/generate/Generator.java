package dev.emloc.generate;

import java.util.Arrays;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.emloc.model.ForwardRequest;
import dev.emloc.model.GradMode;
import dev.emloc.model.KvCache;
import dev.emloc.model.Logits;
import dev.emloc.model.QwenModel;
import dev.emloc.text.IncrementalDetokenizer;
import dev.emloc.text.QwenTokenizer;

/**
 * Autoregressive generation: one prefill over the prompt, then one token per step through the KV cache.
 * Every step runs in its own NDManager, so native memory stays flat over long generations.
 */
public final class Generator {

    private final QwenModel model;
    private final QwenTokenizer tokenizer;

    public Generator(QwenModel model, QwenTokenizer tokenizer) {
        this.model = model;
        this.tokenizer = tokenizer;
    }

    /** Generates from {@code promptIds} with a fresh cache. */
    public Generation generate(long[] promptIds, GenerationSettings settings) {
        return generate(GenerationRequest.builder(promptIds, settings).build());
    }

    public Generation generate(GenerationRequest request) {
        GradMode.disableOnThisThread();
        try (NDManager manager = model.newRequestManager();
                KvCache ownCache = request.cache() == null ? model.newCache(manager) : null) {
            KvCache cache = request.cache() != null ? request.cache() : ownCache;
            GenerationSettings settings = request.settings();
            Sampler sampler = Sampler.of(settings);
            StopStrings stops = new StopStrings(settings.stopStrings());
            IncrementalDetokenizer detokenizer = new IncrementalDetokenizer(tokenizer, true);
            long[] generated = new long[settings.maxNewTokens()];
            int count = 0;
            float[] logits = request.promptEmbeddings() == null ? step(manager, cache, request.promptIds())
                    : prefill(manager, cache, request.promptEmbeddings(), request.promptPositions());
            FinishReason reason = FinishReason.LENGTH;
            while (count < settings.maxNewTokens()) {
                if (request.cancelled().getAsBoolean()) {
                    reason = FinishReason.CANCELLED;
                    break;
                }
                long token = sampler.sample(logits);
                if (settings.stopTokenIds().contains(token)) {
                    reason = FinishReason.STOP;
                    break;
                }
                generated[count++] = token;
                String released = stops.accept(detokenizer.accept(token));
                request.listener().onToken(token, released);
                if (stops.stopped()) {
                    reason = FinishReason.STOP;
                    break;
                }
                if (count < settings.maxNewTokens()) {
                    logits = step(manager, cache, new long[] {token});
                }
            }
            if (!stops.stopped()) {
                String rest = stops.accept(detokenizer.flush()) + stops.finish();
                if (!rest.isEmpty()) {
                    request.listener().onToken(-1, rest);
                }
            }
            return new Generation(Arrays.copyOf(generated, count), stops.text(), reason, request.promptIds().length);
        }
    }

    /** Feeds prepared embeddings with explicit positions through the model; returns the last position's logits. */
    private float[] prefill(NDManager requestManager, KvCache cache, NDArray embeddings, NDArray positions) {
        try (NDManager step = requestManager.newSubManager()) {
            return model.forward(ForwardRequest.embeddings(embeddings).positionIds(positions).cache(cache)
                    .logits(Logits.last()).outputManager(step).build()).logits().toFloatArray();
        }
    }

    /** Feeds tokens through the model and returns the last position's logits. */
    private float[] step(NDManager requestManager, KvCache cache, long[] tokens) {
        try (NDManager step = requestManager.newSubManager()) {
            NDArray ids = step.create(tokens, new Shape(1, tokens.length));
            return model.forward(ForwardRequest.tokens(ids).cache(cache).logits(Logits.last()).build())
                    .logits().toFloatArray();
        }
    }
}

package dev.emloc.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;

/**
 * The Qwen2 / Qwen2-VL language model: embeddings, decoder layers, final norm and LM head, held on one
 * device in one dtype.
 *
 * <p>One instance is shared by all requests; it is immutable after loading. Each forward runs inside
 * its own {@link NDScope}, so only the arrays it returns survive, owned by the request's manager.
 */
public final class QwenModel implements AutoCloseable {

    private final ModelConfig config;
    private final NDManager manager;
    private final DataType dtype;
    private final String fingerprint;
    private final Map<String, NDArray> parameters;
    private final NDArray embedTokens; // (V, hidden)
    private final DecoderLayer[] layers;
    private final RmsNorm finalNorm;
    private final NDArray lmHead;      // (V, hidden), the embedding when tied
    private final RotaryEmbedding rotary;

    private QwenModel(ModelConfig config, NDManager manager, DataType dtype, String fingerprint, WeightSource source) {
        this.config = config;
        this.manager = manager;
        this.dtype = dtype;
        this.fingerprint = fingerprint;
        Map<String, NDArray> loaded = new LinkedHashMap<>();
        long hidden = config.hiddenSize();
        long q = (long) config.numHeads() * config.headDim();
        long kv = config.kvDim();
        long inter = config.intermediateSize();
        this.embedTokens = take(loaded, source, WeightNames.embedTokens(), new Shape(config.vocabSize(), hidden));
        this.layers = new DecoderLayer[config.numLayers()];
        for (int i = 0; i < layers.length; i++) {
            Attention attention = new Attention(config,
                    take(loaded, source, WeightNames.layer(i, "self_attn.q_proj.weight"), new Shape(q, hidden)),
                    take(loaded, source, WeightNames.layer(i, "self_attn.q_proj.bias"), new Shape(q)),
                    take(loaded, source, WeightNames.layer(i, "self_attn.k_proj.weight"), new Shape(kv, hidden)),
                    take(loaded, source, WeightNames.layer(i, "self_attn.k_proj.bias"), new Shape(kv)),
                    take(loaded, source, WeightNames.layer(i, "self_attn.v_proj.weight"), new Shape(kv, hidden)),
                    take(loaded, source, WeightNames.layer(i, "self_attn.v_proj.bias"), new Shape(kv)),
                    take(loaded, source, WeightNames.layer(i, "self_attn.o_proj.weight"), new Shape(hidden, q)));
            Mlp mlp = new Mlp(
                    take(loaded, source, WeightNames.layer(i, "mlp.gate_proj.weight"), new Shape(inter, hidden)),
                    take(loaded, source, WeightNames.layer(i, "mlp.up_proj.weight"), new Shape(inter, hidden)),
                    take(loaded, source, WeightNames.layer(i, "mlp.down_proj.weight"), new Shape(hidden, inter)));
            layers[i] = new DecoderLayer(
                    new RmsNorm(take(loaded, source, WeightNames.layer(i, "input_layernorm.weight"), new Shape(hidden)),
                            config.rmsNormEps()),
                    attention,
                    new RmsNorm(take(loaded, source, WeightNames.layer(i, "post_attention_layernorm.weight"), new Shape(hidden)),
                            config.rmsNormEps()),
                    mlp);
        }
        this.finalNorm = new RmsNorm(take(loaded, source, WeightNames.finalNorm(), new Shape(hidden)), config.rmsNormEps());
        this.lmHead = config.tieWordEmbeddings() ? embedTokens
                : take(loaded, source, WeightNames.lmHead(), new Shape(config.vocabSize(), hidden));
        this.parameters = Collections.unmodifiableMap(loaded);
        this.rotary = new RotaryEmbedding(config);
    }

    private NDArray take(Map<String, NDArray> loaded, WeightSource source, String name, Shape shape) {
        NDArray array = source.load(name, shape);
        if (!array.getShape().equals(shape)) {
            throw new CheckpointException("Tensor '" + name + "' has shape " + array.getShape() + " but the configuration needs "
                    + shape);
        }
        if (array.getDataType() != dtype) {
            NDArray original = array;
            array = original.toType(dtype, false);
            original.close(); // keep one copy of each weight, in the model's dtype
        }
        array.attach(manager);
        NDScope.unregister(array);
        loaded.put(name, array);
        return array;
    }

    /**
     * Loads the language model of a checkpoint onto the device and dtype of {@code options}.
     * The checkpoint may be closed afterwards.
     */
    public static QwenModel load(Checkpoint checkpoint, ModelOptions options) {
        NDManager manager = NDManager.newBaseManager(options.device());
        try {
            return new QwenModel(checkpoint.config(), manager, options.dtype(), checkpoint.fingerprint(),
                    (name, shape) -> checkpoint.load(manager, name, options.dtype(), shape));
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /**
     * Builds a model from weights supplied in memory (e.g. freshly initialised for training). The weights
     * are attached to {@code manager}, which the model closes.
     */
    public static QwenModel fromWeights(ModelConfig config, NDManager manager, DataType dtype, String fingerprint,
            WeightSource source) {
        return new QwenModel(config, manager, dtype, fingerprint, source);
    }

    public ModelConfig config() {
        return config;
    }

    /** Stable hash of the checkpoint this model came from; task memories record it. */
    public String fingerprint() {
        return fingerprint;
    }

    public Device device() {
        return manager.getDevice();
    }

    public DataType dtype() {
        return dtype;
    }

    /** Every weight by its Hugging Face name (tied LM head not repeated), for training and inspection. */
    public Map<String, NDArray> parameters() {
        return parameters;
    }

    /** A new manager for one request, on the model's device; close it when the request ends. */
    public NDManager newRequestManager() {
        return manager.newSubManager();
    }

    /** An empty KV cache on the model's device. */
    public KvCache newCache(NDManager requestManager) {
        return KvCache.empty(requestManager, config.numLayers());
    }

    /** Token embeddings {@code (B, T, hidden)} of ids {@code (B, T)}, owned by the ids' manager. */
    public NDArray embed(NDArray inputIds) {
        NDArray ids = inputIds.toType(DataType.INT64, false);
        NDArray embedded = embedTokens.get(new NDIndex("{}", ids));
        embedded.attach(inputIds.getManager());
        return embedded;
    }

    /** Runs the forward described by {@code request}. */
    public ForwardResult forward(ForwardRequest request) {
        if (!request.training()) {
            GradMode.disableOnThisThread();
        }
        NDManager output = request.outputManager();
        int start = request.startLayer();
        if (start < 0 || start >= layers.length) {
            throw new IllegalArgumentException("Start layer " + start + " is outside 0.." + (layers.length - 1));
        }
        KvCache cache = request.cache();
        if (cache != null && cache.numLayers() != layers.length) {
            throw new IllegalArgumentException("Cache has " + cache.numLayers() + " layers but the model has " + layers.length);
        }
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDArray x = input(request);
            Shape shape = x.getShape();
            if (shape.dimension() != 3 || shape.get(2) != config.hiddenSize()) {
                throw new IllegalArgumentException("Hidden states must have shape (B, T, " + config.hiddenSize() + "), got " + shape);
            }
            long batch = shape.get(0);
            int tokens = (int) shape.get(1);
            NDArray positions = positionIds(request, output, batch, tokens);
            NDArray[] cosSin = rotary.cosSin(positions, x.getDataType());
            NDArray visibleBefore = keyVisibleBefore(request, batch);

            List<NDArray> recorded = request.recordHiddenStates() ? new ArrayList<>(Collections.nCopies(layers.length, null)) : null;
            Map<Integer, NDArray> probed = new HashMap<>();
            for (int l = start; l < layers.length; l++) {
                if (recorded != null) {
                    recorded.set(l, keep(x, output));
                }
                try (NDScope layerScope = new NDScope()) {
                    layerScope.suppressNotUsedWarning();
                    Attention.Output out = layers[l].forward(x, cosSin[0], cosSin[1], cache, l,
                            request.appendToCache(), request.probe(), visibleBefore == null ? null : visibleBefore.get(l));
                    NDScope.unregister(out.output());
                    if (out.probabilities() != null) {
                        probed.put(l, keep(out.probabilities(), output));
                    }
                    x = out.output();
                }
                NDScope.register(x); // back under the forward's scope: closed at its end unless returned
            }
            NDArray logits = logits(x, request.logits(), tokens);
            int next = (int) positions.max().getLong() + 1;
            if (cache != null && request.appendToCache()) {
                cache.setPositionOffset(next);
            }
            return new ForwardResult(
                    logits == null ? null : keep(logits, output),
                    recorded == null ? null : Collections.unmodifiableList(recorded),
                    keep(x, output),
                    Collections.unmodifiableMap(probed),
                    next);
        }
    }

    /** The request's key visibility {@code (L, B, S)} as int32, checked against this model and batch; or null. */
    private NDArray keyVisibleBefore(ForwardRequest request, long batch) {
        NDArray visible = request.keyVisibleBefore();
        if (visible == null) {
            return null;
        }
        Shape shape = visible.getShape();
        if (shape.dimension() != 3 || shape.get(0) != layers.length || shape.get(1) != batch) {
            throw new IllegalArgumentException("Key visibility must have shape (" + layers.length + " layers, " + batch
                    + " rows, keys), got " + shape);
        }
        if (visible.getDataType() != DataType.INT32 && visible.getDataType() != DataType.INT64) {
            throw new IllegalArgumentException("Key visibility must be int32 or int64 key positions, got " + visible.getDataType());
        }
        return visible.toType(DataType.INT32, false);
    }

    private NDArray input(ForwardRequest request) {
        if (request.startLayer() > 0 || request.startHiddenStates() != null) {
            return request.startHiddenStates().toType(dtype, false);
        }
        if (request.inputEmbeddings() != null) {
            return request.inputEmbeddings().toType(dtype, false);
        }
        NDArray ids = request.inputIds();
        if (ids.getShape().dimension() != 2) {
            throw new IllegalArgumentException("Token ids must have shape (B, T), got " + ids.getShape());
        }
        return embed(ids);
    }

    private NDArray positionIds(ForwardRequest request, NDManager output, long batch, int tokens) {
        NDArray given = request.positionIds();
        if (given != null) {
            Shape expected = new Shape(3, batch, tokens);
            if (!given.getShape().equals(expected)) {
                throw new IllegalArgumentException("Position ids must have shape " + expected + ", got " + given.getShape());
            }
            return given;
        }
        int offset = request.cache() == null ? 0 : request.cache().positionOffset();
        return output.arange(offset, offset + tokens, 1, DataType.INT64, device())
                .reshape(1, 1, tokens).broadcast(3, batch, tokens);
    }

    private NDArray logits(NDArray hidden, Logits selection, int tokens) {
        if (selection.isNone()) {
            return null;
        }
        int[] rows = selection.rowsFor(tokens);
        NDArray chosen = hidden;
        int[] batchIndex = selection.batchIndex();
        if (batchIndex != null) {
            long batch = hidden.getShape().get(0);
            long[] flat = new long[rows.length];
            for (int i = 0; i < rows.length; i++) {
                if (batchIndex[i] < 0 || batchIndex[i] >= batch) {
                    throw new IllegalArgumentException("Logits pair batch row " + batchIndex[i] + " is outside the batch of " + batch);
                }
                flat[i] = (long) batchIndex[i] * tokens + rows[i];
            }
            NDArray index = OwnedArrays.longs(hidden.getManager(), flat, new Shape(flat.length), device()); // autograd keeps it
            chosen = hidden.reshape(batch * tokens, config.hiddenSize()).get(new NDIndex("{}", index)).expandDims(0);
        } else if (rows != null) {
            NDArray index = OwnedArrays.longs(hidden.getManager(), Arrays.stream(rows).asLongStream().toArray(),
                    new Shape(rows.length), device());
            chosen = hidden.get(new NDIndex(":, {}", index));
        }
        return Linear.linear(finalNorm.forward(chosen), lmHead).singletonOrThrow().toType(DataType.FLOAT32, false);
    }

    /** Keeps a result alive past the forward's scope, owned by {@code output}. */
    private static NDArray keep(NDArray array, NDManager output) {
        NDScope.unregister(array);
        if (array.getManager() != output) {
            array.attach(output);
        }
        return array;
    }

    @Override
    public void close() {
        manager.close();
    }

    @Override
    public String toString() {
        return "QwenModel[" + config.modelType() + ", layers=" + config.numLayers() + ", hidden=" + config.hiddenSize()
                + ", device=" + device() + ", dtype=" + dtype + "]";
    }

    /**
     * Native arrays currently held under the model's manager: the weights plus whatever live requests
     * hold. Equal before and after a request when nothing leaks.
     */
    public int liveArrayCount() {
        return ((ai.djl.ndarray.BaseNDManager) manager).getManagedArrays().size();
    }

    /** Number of parameters, counting a tied LM head once. */
    public long parameterCount() {
        return parameters.values().stream().mapToLong(a -> a.getShape().size()).sum();
    }
}

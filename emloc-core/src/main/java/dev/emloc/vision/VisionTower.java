package dev.emloc.vision;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import ai.djl.Device;
import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.emloc.model.Checkpoint;
import dev.emloc.model.CheckpointException;
import dev.emloc.model.GradMode;
import dev.emloc.model.ModelOptions;
import dev.emloc.model.WeightNames;
import dev.emloc.model.WeightSource;

/**
 * The Qwen2-VL vision tower: patch embedding, {@code depth} transformer blocks with 2-D rotary positions, and the
 * merger that folds each {@code M x M} window of patches into one language-model token.
 *
 * <p>Input is the image processor's {@code pixel_values}: one row of {@code C*T*P*P} values per patch, patches in
 * merge-window order (see {@link VisionRotaryEmbedding}), images and videos one after another as listed by their
 * {@code {t, h, w}} grids. Attention stays within one temporal slice of one grid ({@code transformers}' {@code
 * cu_seqlens}), so several images encoded together give exactly what each gives alone.
 *
 * <p>One instance serves all requests and is immutable after loading. {@link #encode} runs inside its own
 * {@link NDScope} (and one per block), so only its result survives, owned by the input's manager. LayerNorm weights are
 * held in float32 and normalisation runs in float32; rotary embedding and softmax too.
 */
public final class VisionTower implements AutoCloseable {

    private final VisionConfig config;
    private final NDManager manager;
    private final DataType dtype;
    private final Map<String, NDArray> parameters;
    private final PatchEmbed patchEmbed;
    private final VisionRotaryEmbedding rotary;
    private final VisionBlock[] blocks;
    private final PatchMerger merger;

    private VisionTower(VisionConfig config, NDManager manager, DataType dtype, WeightSource source) {
        this.config = config;
        this.manager = manager;
        this.dtype = dtype;
        Map<String, NDArray> loaded = new LinkedHashMap<>();
        Map<String, Shape> shapes = WeightNames.visionShapes(config);
        NDArray kernel = take(loaded, source, shapes, WeightNames.visionPatchEmbed()); // (E, C, T, P, P)
        this.patchEmbed = new PatchEmbed(kernel, config.embedDim(), config.patchInputDim());
        this.blocks = new VisionBlock[config.depth()];
        for (int i = 0; i < blocks.length; i++) {
            int block = i;
            Function<String, NDArray> weight =
                    suffix -> take(loaded, source, shapes, WeightNames.visionBlock(block, suffix));
            blocks[i] = new VisionBlock(
                    new LayerNorm(weight.apply("norm1.weight"), weight.apply("norm1.bias")),
                    new VisionAttention(config, weight.apply("attn.qkv.weight"), weight.apply("attn.qkv.bias"),
                            weight.apply("attn.proj.weight"), weight.apply("attn.proj.bias")),
                    new LayerNorm(weight.apply("norm2.weight"), weight.apply("norm2.bias")),
                    new VisionMlp(weight.apply("mlp.fc1.weight"), weight.apply("mlp.fc1.bias"),
                            weight.apply("mlp.fc2.weight"), weight.apply("mlp.fc2.bias")));
        }
        Function<String, NDArray> merge =
                suffix -> take(loaded, source, shapes, WeightNames.visionMerger(suffix));
        this.merger = new PatchMerger(config, new LayerNorm(merge.apply("ln_q.weight"), merge.apply("ln_q.bias")),
                merge.apply("mlp.0.weight"), merge.apply("mlp.0.bias"), merge.apply("mlp.2.weight"), merge.apply("mlp.2.bias"));
        this.rotary = new VisionRotaryEmbedding(config);
        this.parameters = Collections.unmodifiableMap(loaded);
    }

    private NDArray take(Map<String, NDArray> loaded, WeightSource source, Map<String, Shape> shapes, String name) {
        Shape shape = shapes.get(name);
        NDArray array = source.load(name, shape);
        if (!array.getShape().equals(shape)) {
            throw new CheckpointException("Tensor '" + name + "' has shape " + array.getShape()
                    + " but the vision_config needs " + shape);
        }
        DataType wanted = heldInFloat32(name) ? DataType.FLOAT32 : dtype;
        if (array.getDataType() != wanted) {
            NDArray converted = array.toType(wanted, false);
            array.close(); // the tower owns what a source hands it: do not keep both copies
            array = converted;
        }
        array.attach(manager);
        NDScope.unregister(array);
        loaded.put(name, array);
        return array;
    }

    /** LayerNorm scales and shifts, which stay float32 whatever the model dtype. */
    static boolean heldInFloat32(String name) {
        return name.contains(".norm1.") || name.contains(".norm2.") || name.contains(".ln_q.");
    }

    /**
     * Loads the vision tower of a checkpoint onto the device and dtype of {@code options}. The checkpoint may be closed
     * afterwards.
     *
     * @param config the checkpoint's {@code vision_config} ({@link VisionConfig#read})
     */
    public static VisionTower load(Checkpoint checkpoint, VisionConfig config, ModelOptions options) {
        NDManager manager = NDManager.newBaseManager(options.device());
        try {
            return new VisionTower(config, manager, options.dtype(), (name, shape) ->
                    checkpoint.load(manager, name, heldInFloat32(name) ? DataType.FLOAT32 : options.dtype(), shape));
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /**
     * Builds a tower from weights supplied in memory (e.g. random, for benchmarks). The tower takes ownership of every
     * array the source returns: it is attached to {@code manager}, which the tower closes, or closed at once when it had
     * to be converted to the tower's dtype. The manager's device is the tower's.
     *
     * <p>A Qwen2-VL-2B-shaped tower ({@link VisionConfig#qwen2Vl2BShape()}, 665M parameters) builds in about 10 s on two
     * CPU cores from {@code (name, shape) -> manager.randomNormal(0f, 0.02f, shape, DataType.FLOAT32)}.
     *
     * @param dtype {@link DataType#FLOAT32} or {@link DataType#FLOAT16}
     */
    public static VisionTower fromWeights(VisionConfig config, NDManager manager, DataType dtype, WeightSource source) {
        if (dtype != DataType.FLOAT32 && dtype != DataType.FLOAT16) {
            throw new IllegalArgumentException("Unsupported vision dtype " + dtype + "; use float32 or float16");
        }
        return new VisionTower(config, manager, dtype, source);
    }

    public VisionConfig config() {
        return config;
    }

    public Device device() {
        return manager.getDevice();
    }

    public DataType dtype() {
        return dtype;
    }

    /** Every weight by its canonical Hugging Face name ({@code visual.}...). */
    public Map<String, NDArray> parameters() {
        return parameters;
    }

    /** Number of parameters. */
    public long parameterCount() {
        return parameters.values().stream().mapToLong(a -> a.getShape().size()).sum();
    }

    /** A new manager for one request, on the tower's device; close it when the request ends. */
    public NDManager newRequestManager() {
        return manager.newSubManager();
    }

    /** Language-model tokens that one image or video of grid {@code {t, h, w}} becomes: {@code t*h*w / (M*M)}. */
    public int outputTokens(int[] thw) {
        GridThw grid = GridThw.of(List.of(thw), config.spatialMergeSize()).get(0);
        return grid.patches() / config.tokensPerMergedToken();
    }

    /**
     * Encodes the patches of one or more images or videos.
     *
     * @param pixelValues {@code (N, C*T*P*P)} patch rows (any float dtype, converted to the tower's), grids one after
     *                    another, each in merge-window order
     * @param gridThw     {@code {t, h, w}} of each image or video, in the order of the rows; {@code sum(t*h*w) = N}
     * @return {@code (N / (M*M), hidden_size)} in the tower's dtype, on its device, owned by {@code pixelValues}'
     *         manager; the rows of each grid follow each other in input order
     */
    public NDArray encode(NDArray pixelValues, List<int[]> gridThw) {
        return encode(pixelValues, gridThw, false);
    }

    /**
     * As {@link #encode(NDArray, List)}; with {@code training} true autograd stays on, for use inside a
     * {@code GradientCollector} with trainable weights (the demo model's training), as
     * {@code ForwardRequest.Builder#training()} does for the language model.
     */
    public NDArray encode(NDArray pixelValues, List<int[]> gridThw, boolean training) {
        if (!training) {
            GradMode.disableOnThisThread();
        }
        List<GridThw> grids = GridThw.of(gridThw, config.spatialMergeSize());
        checkInput(pixelValues.getShape(), grids);
        NDManager output = pixelValues.getManager();
        int[] segments = GridThw.segmentBoundaries(grids);
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDArray patches = pixelValues.toDevice(device(), false).toType(dtype, false);
            NDArray x = patchEmbed.forward(patches);                               // (N, E)
            NDArray[] cosSin = rotary.cosSin(output, device(), grids);             // (N, D) float32 each
            for (VisionBlock block : blocks) {
                NDArray next;
                try (NDScope blockScope = new NDScope()) {
                    blockScope.suppressNotUsedWarning();
                    next = block.forward(x, cosSin[0], cosSin[1], segments);       // (N, E)
                    NDScope.unregister(next);
                }
                NDScope.register(next);
                NDScope.unregister(x);
                x.close(); // the previous block's output: no need to hold every block's output until the end
                x = next;
            }
            NDArray merged = merger.forward(x);                                    // (N/(M*M), hidden)
            NDScope.unregister(merged);
            if (merged.getManager() != output) {
                merged.attach(output);
            }
            return merged;
        }
    }

    private void checkInput(Shape shape, List<GridThw> grids) {
        long patches = grids.stream().mapToLong(GridThw::patches).sum();
        if (shape.dimension() != 2 || shape.get(1) != config.patchInputDim()) {
            throw new IllegalArgumentException("pixelValues must have shape (patches, " + config.patchInputDim()
                    + ") = (patches, channels " + config.inChannels() + " x temporal " + config.temporalPatchSize() + " x "
                    + config.patchSize() + " x " + config.patchSize() + "), got " + shape);
        }
        if (shape.get(0) != patches) {
            throw new IllegalArgumentException("pixelValues has " + shape.get(0) + " patch rows but the grids "
                    + describe(grids) + " hold " + patches + " (t*h*w summed); pass the grids the image processor returned"
                    + " with these pixel values");
        }
    }

    private static String describe(List<GridThw> grids) {
        StringBuilder text = new StringBuilder("[");
        for (GridThw grid : grids) {
            text.append(text.length() > 1 ? ", " : "").append('{').append(grid.t()).append(", ").append(grid.h()).append(", ")
                    .append(grid.w()).append('}');
        }
        return text.append(']').toString();
    }

    /**
     * Native arrays currently held under the tower's manager: the weights plus whatever live requests hold. Equal
     * before and after a request when nothing leaks.
     */
    public int liveArrayCount() {
        return ((BaseNDManager) manager).getManagedArrays().size();
    }

    @Override
    public void close() {
        manager.close();
    }

    @Override
    public String toString() {
        return "VisionTower[depth=" + config.depth() + ", embed=" + config.embedDim() + ", heads=" + config.numHeads()
                + ", hidden=" + config.hiddenSize() + ", device=" + device() + ", dtype=" + dtype + "]";
    }
}

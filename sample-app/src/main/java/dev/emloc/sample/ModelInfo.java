package dev.emloc.sample;

import java.nio.file.Path;

import dev.emloc.autoconfigure.EmlocProperties;
import dev.emloc.memory.TaskMemoryStore;
import dev.emloc.model.ModelConfig;
import dev.emloc.spring.ai.EmlocChatModel;
import dev.emloc.spring.ai.TaskAdapters;
import dev.emloc.vision.VisionLanguageModel;
import org.springframework.core.env.Environment;

/**
 * What the sample runs on, for its startup log and {@code GET /api/info}.
 *
 * @param modelPath        the checkpoint directory
 * @param demoModel        whether it is the demo model found by {@link SampleEnvironment}
 * @param modelName        the name responses carry
 * @param fingerprint      the checkpoint's fingerprint
 * @param modelType        {@code qwen2_vl} or {@code qwen2}
 * @param layers           decoder layers
 * @param vision           whether the model takes images
 * @param device           where it runs
 * @param dtype            its data type
 * @param store            the store's endpoint ({@code in-memory}, {@code redis://host:port})
 * @param namespace        the namespace of the tasks
 * @param maxImageBytes    largest image a request may carry
 */
public record ModelInfo(String modelPath, boolean demoModel, String modelName, String fingerprint, String modelType,
        int layers, boolean vision, String device, String dtype, String store, String namespace, long maxImageBytes) {

    static ModelInfo of(VisionLanguageModel model, EmlocChatModel chatModel, TaskAdapters adapters, TaskMemoryStore store,
            EmlocProperties properties, Environment environment) {
        ModelConfig config = model.language().config();
        Path path = properties.getModelPath();
        return new ModelInfo(path == null ? null : path.toString(),
                environment.getProperty(SampleEnvironment.DEMO_MODEL, Boolean.class, false), chatModel.modelName(),
                model.language().fingerprint(), config.modelType(), config.numLayers(), model.vision().isPresent(),
                model.language().device().toString(), model.language().dtype().toString(), store.endpoint(),
                adapters.namespace(), properties.getVision().getMaxImageSize().toBytes());
    }

    /** One line for the log. */
    String describe() {
        return (demoModel ? "the demo model" : "model") + " " + modelPath + " (" + modelType + ", " + layers + " layers, "
                + (vision ? "images" : "text only") + ", " + device + " " + dtype + ", fingerprint " + fingerprint
                + "); task memories in " + ("in-memory".equals(store) ? "this process only (in-memory store: lost on"
                + " restart; point spring.data.redis.* at a Redis to keep them)" : store) + ", namespace '" + namespace + "'";
    }
}

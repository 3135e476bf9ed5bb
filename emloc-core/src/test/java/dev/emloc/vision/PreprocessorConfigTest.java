package dev.emloc.vision;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import dev.emloc.model.CheckpointException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.json.JsonMapper;

class PreprocessorConfigTest {

    /** The published preprocessor_config.json of Qwen2-VL-7B-Instruct. */
    private static final String QWEN2_VL_INSTRUCT = """
            {
              "min_pixels": 3136,
              "max_pixels": 12845056,
              "patch_size": 14,
              "temporal_patch_size": 2,
              "merge_size": 2,
              "image_mean": [0.48145466, 0.4578275, 0.40821073],
              "image_std": [0.26862954, 0.26130258, 0.27577711],
              "image_processor_type": "Qwen2VLImageProcessor",
              "processor_class": "Qwen2VLProcessor"
            }
            """;

    private static PreprocessorConfig parse(String json) {
        return PreprocessorConfig.fromJson(JsonMapper.builder().build().readTree(json));
    }

    @Test
    void readsThePublishedInstructConfig(@TempDir Path dir) throws Exception {
        Path file = dir.resolve(PreprocessorConfig.FILE_NAME);
        Files.writeString(file, QWEN2_VL_INSTRUCT);
        PreprocessorConfig config = PreprocessorConfig.read(file);
        assertThat(config.minPixels()).isEqualTo(3136);
        assertThat(config.maxPixels()).isEqualTo(12_845_056);
        assertThat(config.patchSize()).isEqualTo(14);
        assertThat(config.temporalPatchSize()).isEqualTo(2);
        assertThat(config.mergeSize()).isEqualTo(2);
        assertThat(config.imageMean()).containsExactly(0.48145466, 0.4578275, 0.40821073);
        assertThat(config.imageStd()).containsExactly(0.26862954, 0.26130258, 0.27577711);
        assertThat(config.rescaleFactor()).isEqualTo(1.0 / 255);
        assertThat(config.doResize()).isTrue();
        assertThat(config.doRescale()).isTrue();
        assertThat(config.doNormalize()).isTrue();
        assertThat(config.doConvertRgb()).isTrue();
        assertThat(config.factor()).isEqualTo(28);
        assertThat(config.patchDim()).isEqualTo(1176);
    }

    @Test
    void defaultsAreTheImageProcessorClassDefaults() {
        PreprocessorConfig defaults = PreprocessorConfig.qwen2VlDefaults();
        assertThat(defaults.minPixels()).isEqualTo(3136);
        assertThat(defaults.maxPixels()).isEqualTo(1_003_520);
        assertThat(parse("{}")).isEqualTo(defaults);
    }

    @Test
    void readsTheSizeLayoutOfNewerFilesWithMinAndMaxPixelsWinning() {
        PreprocessorConfig sized = parse("""
                {"size": {"shortest_edge": 200704, "longest_edge": 401408}, "rescale_factor": 0.00392156862745098,
                 "do_convert_rgb": true, "resample": 3}
                """);
        assertThat(sized.minPixels()).isEqualTo(200_704);
        assertThat(sized.maxPixels()).isEqualTo(401_408);
        assertThat(sized.rescaleFactor()).isEqualTo(1.0 / 255);
        PreprocessorConfig both = parse("""
                {"size": {"shortest_edge": 200704, "longest_edge": 401408}, "min_pixels": 3136, "max_pixels": 12845056}
                """);
        assertThat(both.minPixels()).isEqualTo(3136);
        assertThat(both.maxPixels()).isEqualTo(12_845_056);
    }

    @Test
    void acceptsOneNumberForAllChannels() {
        PreprocessorConfig config = parse("{\"image_mean\": 0.5, \"image_std\": 0.25}");
        assertThat(config.imageMean()).containsExactly(0.5, 0.5, 0.5);
        assertThat(config.imageStd()).containsExactly(0.25, 0.25, 0.25);
    }

    @Test
    void toJsonRoundTrips(@TempDir Path dir) throws Exception {
        PreprocessorConfig custom = PreprocessorConfig.qwen2VlDefaults().mutate()
                .minPixels(784).maxPixels(200_704).imageMean(List.of(0.5, 0.25, 0.125)).doNormalize(false).build();
        Path file = dir.resolve(PreprocessorConfig.FILE_NAME);
        Files.writeString(file, custom.toJson());
        assertThat(PreprocessorConfig.read(file)).isEqualTo(custom);
        assertThat(custom.toJson()).contains("\"image_processor_type\" : \"Qwen2VLImageProcessor\"")
                .contains("\"shortest_edge\" : 784");
    }

    @Test
    void aMissingFileSaysWhatToDo(@TempDir Path dir) {
        Path missing = dir.resolve(PreprocessorConfig.FILE_NAME);
        assertThatThrownBy(() -> PreprocessorConfig.read(missing))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining(missing + " does not exist")
                .hasMessageContaining("PreprocessorConfig.qwen2VlDefaults().toJson()");
    }

    @Test
    void invalidValuesNameTheKey(@TempDir Path dir) throws Exception {
        assertThatThrownBy(() -> parse("{\"patch_size\": 0}"))
                .isInstanceOf(CheckpointException.class).hasMessage("patch_size must be positive in preprocessor_config.json, got 0");
        assertThatThrownBy(() -> parse("{\"min_pixels\": 5000, \"max_pixels\": 4000}"))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("min_pixels (5000) must not exceed max_pixels (4000)");
        assertThatThrownBy(() -> parse("{\"image_mean\": [0.5, 0.5]}"))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("image_mean must have 3 values");
        assertThatThrownBy(() -> parse("{\"image_std\": [0.5, 0, 0.5]}"))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("image_std must be positive");
        assertThatThrownBy(() -> parse("{\"resample\": 2}"))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("only bicubic (3");
        assertThatThrownBy(() -> parse("{\"max_pixels\": \"lots\"}"))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("max_pixels in preprocessor_config.json must be an integer");
        assertThatThrownBy(() -> parse("{\"do_resize\": \"yes\"}"))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("do_resize in preprocessor_config.json must be true or false");
        Path broken = dir.resolve(PreprocessorConfig.FILE_NAME);
        Files.writeString(broken, "{\"min_pixels\": ");
        assertThatThrownBy(() -> PreprocessorConfig.read(broken))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("is not valid JSON");
    }
}

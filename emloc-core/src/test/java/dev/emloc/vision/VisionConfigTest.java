package dev.emloc.vision;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import ai.djl.ndarray.types.Shape;
import dev.emloc.model.CheckpointException;
import dev.emloc.model.WeightNames;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

class VisionConfigTest {

    private static final JsonMapper JSON = JsonMapper.builder().build();

    @TempDir
    Path tmp;

    private static JsonNode tree(String json) {
        return JSON.readTree(json);
    }

    @Test
    void readsTheVisionConfigOfQwen2Vl2B() throws IOException {
        // As in Qwen/Qwen2-VL-2B-Instruct's config.json: in_chans (not in_channels), no hidden_act
        Path config = Files.writeString(tmp.resolve("config.json"), """
                {"model_type": "qwen2_vl", "hidden_size": 1536,
                 "vision_config": {"depth": 32, "embed_dim": 1280, "mlp_ratio": 4, "num_heads": 16, "in_chans": 3,
                                   "hidden_size": 1536, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2}}
                """);
        VisionConfig vision = VisionConfig.read(config).orElseThrow();
        assertThat(vision).isEqualTo(VisionConfig.qwen2Vl2BShape());
        assertThat(vision.headDim()).isEqualTo(80);
        assertThat(vision.mlpHiddenDim()).isEqualTo(5120);
        assertThat(vision.patchInputDim()).isEqualTo(1176);
        assertThat(vision.mergedDim()).isEqualTo(5120);
        assertThat(vision.hiddenAct()).isEqualTo("quick_gelu");
    }

    @Test
    void missingKeysTakeTheTransformersDefaultsAndTextModelsHaveNone() {
        VisionConfig defaults = VisionConfig.fromJson(tree("{\"vision_config\": {}}")).orElseThrow();
        assertThat(defaults).isEqualTo(new VisionConfig(32, 1280, 16, 4, 3, 3584, 14, 2, 2, "quick_gelu"));
        assertThat(VisionConfig.fromJson(tree("{\"model_type\": \"qwen2\"}"))).isEmpty();
        assertThat(VisionConfig.fromJson(tree("{\"vision_config\": null}"))).isEmpty();
        assertThat(VisionConfig.fromJson(tree("{\"vision_config\": {\"in_channels\": 1, \"in_chans\": 3}}")).orElseThrow()
                .inChannels()).isEqualTo(1);
    }

    @Test
    void roundTripsThroughItsJson() {
        VisionConfig tiny = VisionFixtures.tinyConfig(2);
        assertThat(VisionConfig.fromJson(tree("{\"vision_config\": " + tiny.toJson() + "}"))).contains(tiny);
        assertThat(tiny.toMap()).containsEntry("mlp_ratio", 2).containsEntry("in_channels", 3).containsEntry("embed_dim", 32);
        VisionConfig fractional = new VisionConfig(1, 32, 4, 2.5, 3, 48, 14, 2, 2, "quick_gelu");
        assertThat(fractional.mlpHiddenDim()).isEqualTo(80);
        assertThat(VisionConfig.fromJson(tree("{\"vision_config\": " + fractional.toJson() + "}"))).contains(fractional);
    }

    @Test
    void invalidValuesAreRefusedWithTheKeyAndValue() {
        assertThatThrownBy(() -> new VisionConfig(0, 32, 4, 2, 3, 48, 14, 2, 2, "quick_gelu"))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("vision_config.depth").hasMessageContaining("0");
        assertThatThrownBy(() -> new VisionConfig(1, 30, 4, 2, 3, 48, 14, 2, 2, "quick_gelu"))
                .hasMessageContaining("embed_dim (30)").hasMessageContaining("num_heads (4)");
        assertThatThrownBy(() -> new VisionConfig(1, 24, 4, 2, 3, 48, 14, 2, 2, "quick_gelu"))
                .hasMessageContaining("= 6 must be a multiple of 4");
        assertThatThrownBy(() -> new VisionConfig(1, 32, 4, 2, 3, 48, 14, 2, 2, "gelu"))
                .hasMessageContaining("hidden_act 'gelu'").hasMessageContaining("quick_gelu");
        assertThatThrownBy(() -> new VisionConfig(1, 32, 4, Double.NaN, 3, 48, 14, 2, 2, "quick_gelu"))
                .hasMessageContaining("mlp_ratio");
        assertThatThrownBy(() -> VisionConfig.fromJson(tree("{\"vision_config\": {\"depth\": \"deep\"}}")))
                .hasMessageContaining("vision_config.depth must be an integer").hasMessageContaining("deep");
        assertThatThrownBy(() -> VisionConfig.fromJson(tree("{\"vision_config\": [1]}"))).hasMessageContaining("must be an object");
        assertThatThrownBy(() -> VisionConfig.fromJson(tree(
                "{\"vision_config\": {\"depth\": 32, \"out_hidden_size\": 2048, \"fullatt_block_indexes\": [7]}}")))
                .hasMessageContaining("Qwen2.5-VL");
    }

    @Test
    void weightNamesFollowTheTransformersLayout() {
        assertThat(WeightNames.visionPatchEmbed()).isEqualTo("visual.patch_embed.proj.weight");
        assertThat(WeightNames.visionBlock(3, "attn.qkv.weight")).isEqualTo("visual.blocks.3.attn.qkv.weight");
        assertThat(WeightNames.visionMerger("mlp.0.bias")).isEqualTo("visual.merger.mlp.0.bias");
        assertThatThrownBy(() -> WeightNames.visionBlock(-1, "norm1.weight")).hasMessageContaining("-1");

        Map<String, Shape> tiny = WeightNames.visionShapes(VisionFixtures.tinyConfig(2));
        assertThat(tiny).hasSize(1 + 2 * WeightNames.VISION_BLOCK_SUFFIXES.size() + WeightNames.VISION_MERGER_SUFFIXES.size());
        for (String suffix : WeightNames.VISION_BLOCK_SUFFIXES) {
            assertThat(tiny).containsKey(WeightNames.visionBlock(1, suffix));
        }
        for (String suffix : WeightNames.VISION_MERGER_SUFFIXES) {
            assertThat(tiny).containsKey(WeightNames.visionMerger(suffix));
        }
        assertThat(tiny.get("visual.blocks.0.attn.qkv.weight")).isEqualTo(new Shape(96, 32));
        assertThat(tiny.get("visual.blocks.0.mlp.fc1.weight")).isEqualTo(new Shape(64, 32));
        assertThat(tiny.get("visual.merger.mlp.0.weight")).isEqualTo(new Shape(128, 128));
        assertThat(tiny.get("visual.merger.mlp.2.weight")).isEqualTo(new Shape(48, 128));

        long twoB = WeightNames.visionShapes(VisionConfig.qwen2Vl2BShape()).values().stream().mapToLong(Shape::size).sum();
        assertThat(twoB).as("Qwen2-VL-2B vision tower parameters").isEqualTo(665_271_296L);
        VisionConfig sevenB = VisionConfig.fromJson(tree("{\"vision_config\": {}}")).orElseThrow();
        long seven = WeightNames.visionShapes(sevenB).values().stream().mapToLong(Shape::size).sum();
        assertThat(seven).as("the paper's 675M vision encoder (7B: merger output 3584)").isEqualTo(675_759_104L);
    }

    @Test
    void unreadableFilesAreReported() throws IOException {
        assertThatThrownBy(() -> VisionConfig.read(tmp.resolve("absent.json"))).hasMessageContaining("does not exist");
        Path broken = Files.writeString(tmp.resolve("config.json"), "{\"vision_config\": ");
        assertThatThrownBy(() -> VisionConfig.read(broken)).hasMessageContaining("is not valid JSON");
    }
}

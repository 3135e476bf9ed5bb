package dev.emloc.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.json.JsonMapper;

class ModelConfigTest {

    /** The published config.json of Qwen2-VL-7B-Instruct (flat layout of transformers 4.45). */
    private static final String QWEN2_VL_7B = """
            {"architectures": ["Qwen2VLForConditionalGeneration"], "attention_dropout": 0.0,
             "bos_token_id": 151643, "eos_token_id": 151645, "vision_start_token_id": 151652,
             "vision_end_token_id": 151653, "vision_token_id": 151654, "image_token_id": 151655,
             "video_token_id": 151656, "hidden_act": "silu", "hidden_size": 3584, "initializer_range": 0.02,
             "intermediate_size": 18944, "max_position_embeddings": 32768, "max_window_layers": 28,
             "model_type": "qwen2_vl", "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4,
             "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": false,
             "torch_dtype": "bfloat16", "transformers_version": "4.41.2", "use_cache": true, "use_sliding_window": false,
             "vision_config": {"depth": 32, "embed_dim": 1280, "mlp_ratio": 4, "num_heads": 16, "in_chans": 3,
               "hidden_size": 3584, "patch_size": 14, "spatial_merge_size": 2, "spatial_patch_size": 14,
               "temporal_patch_size": 2},
             "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}, "vocab_size": 152064}
            """;

    @Test
    void readsTheFlatQwen2VlLayout(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("config.json");
        Files.writeString(file, QWEN2_VL_7B);
        ModelConfig config = ModelConfig.read(file);
        assertThat(config.modelType()).isEqualTo("qwen2_vl");
        assertThat(config.headDim()).isEqualTo(128);
        assertThat(config.groupSize()).isEqualTo(7);
        assertThat(config.kvDim()).isEqualTo(512);
        assertThat(config.mropeSection()).containsExactly(16, 24, 24);
        assertThat(config.ropeTheta()).isEqualTo(1_000_000.0);
        assertThat(config.imageTokenId()).isEqualTo(151655);
        assertThat(config.visionStartTokenId()).isEqualTo(151652);
        assertThat(config.eosTokenId()).isEqualTo(151645);
        assertThat(config.tieWordEmbeddings()).isFalse();
        assertThat(config.vocabSize()).isEqualTo(152064);
    }

    @Test
    void readsTheNestedTextConfigLayoutOfNewerTransformers() {
        String nested = """
                {"model_type": "qwen2_vl", "image_token_id": 151655, "video_token_id": 151656,
                 "vision_start_token_id": 151652, "tie_word_embeddings": true,
                 "text_config": {"hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
                   "num_attention_heads": 12, "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "vocab_size": 151936,
                   "rope_theta": 1000000.0, "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
                   "eos_token_id": 151645}}
                """;
        ModelConfig config = ModelConfig.fromJson(JsonMapper.builder().build().readTree(nested));
        assertThat(config.hiddenSize()).isEqualTo(1536);
        assertThat(config.headDim()).isEqualTo(128);
        assertThat(config.numKvHeads()).isEqualTo(2);
        assertThat(config.tieWordEmbeddings()).isTrue();
        assertThat(config.imageTokenId()).isEqualTo(151655);
        assertThat(config.eosTokenId()).isEqualTo(151645);
    }

    @Test
    void aPlainQwen2TextModelUsesOneDimensionalRope() {
        ModelConfig config = ModelConfig.fromJson(JsonMapper.builder().build().readTree("""
                {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                 "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936, "eos_token_id": [151645, 151643]}
                """));
        assertThat(config.mropeSection()).containsExactly(32, 0, 0);
        assertThat(config.isVisionLanguage()).isFalse();
        assertThat(config.imageTokenId()).isEqualTo(-1);
        assertThat(config.eosTokenId()).isEqualTo(151645);
    }

    @Test
    void writtenConfigReadsBackEqual() {
        ModelConfig config = ModelConfig.qwen2HalfBillionShape();
        assertThat(ModelConfig.fromJson(JsonMapper.builder().build().readTree(config.toJson()))).isEqualTo(config);
        assertThat(config.mropeSection()).containsExactly(8, 12, 12);
    }

    @Test
    void inconsistentConfigurationsAreRefusedWithTheValueAtFault() {
        assertThatThrownBy(() -> ModelConfig.builder().modelType("llama").build())
                .isInstanceOf(CheckpointException.class).hasMessageContaining("'llama'").hasMessageContaining("qwen2_vl");
        assertThatThrownBy(() -> ModelConfig.builder().numHeads(6).numKvHeads(4).hiddenSize(48).build())
                .hasMessageContaining("multiple of num_key_value_heads");
        assertThatThrownBy(() -> ModelConfig.builder().mropeSection(List.of(4, 4, 4)).build())
                .hasMessageContaining("[4, 4, 4]").hasMessageContaining("head_dim / 2 = 8");
        assertThatThrownBy(() -> ModelConfig.fromJson(JsonMapper.builder().build().readTree("{\"model_type\": \"qwen2\"}")))
                .hasMessageContaining("'hidden_size'");
    }

    @Test
    void aMissingOrBrokenConfigFileIsNamed(@TempDir Path dir) throws Exception {
        assertThatThrownBy(() -> ModelConfig.read(dir.resolve("config.json")))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("Missing config.json");
        Path broken = dir.resolve("broken.json");
        Files.writeString(broken, "{not json");
        assertThatThrownBy(() -> ModelConfig.read(broken)).hasMessageContaining("not valid JSON");
    }
}

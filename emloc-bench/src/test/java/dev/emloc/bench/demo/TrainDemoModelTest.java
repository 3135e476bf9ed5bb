package dev.emloc.bench.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import ai.djl.ndarray.NDArray;
import ai.djl.training.optimizer.Adam;
import dev.emloc.model.ModelOptions;
import dev.emloc.vision.VisionLanguageModel;
import dev.emloc.vision.VisionLimits;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainDemoModelTest {

    @TempDir
    Path dir;

    @Test
    void aFewStepsOnAFixedBatchReduceTheLossThroughTheVisionTowerToo() {
        DemoModel.writeInitial(dir.resolve("init"), 3, false);
        try (VisionLanguageModel model = VisionLanguageModel.load(dir.resolve("init"), ModelOptions.cpu(), VisionLimits.defaults())) {
            Map<String, NDArray> weights = TrainDemoModel.trainableWeights(model);
            float[] patchKernel = weights.get("visual.patch_embed.proj.weight").toFloatArray();
            SplittableRandom random = new SplittableRandom(9);
            List<List<IclEpisodes.Item>> sequences = new ArrayList<>();
            for (int b = 0; b < 2; b++) {
                sequences.add(IclEpisodes.draw(random, 3, 6, 0, false).demos());
            }
            EpisodeBatch batch = EpisodeBatch.of(model, sequences, false);
            Adam adam = TrainDemoModel.adam(3e-3f, 1, 20);
            double first = TrainDemoModel.step(model, weights, adam, batch, 1f)[0];
            double last = first;
            for (int i = 0; i < 7; i++) {
                last = TrainDemoModel.step(model, weights, adam, batch, 1f)[0];
            }
            assertThat(last).isLessThan(first * 0.8);
            float[] after = weights.get("visual.patch_embed.proj.weight").toFloatArray();
            assertThat(after).isNotEqualTo(patchKernel);

            DemoModel.save(model, dir.resolve("init"), dir.resolve("saved"));
            try (VisionLanguageModel saved = VisionLanguageModel.load(dir.resolve("saved"), ModelOptions.cpu(),
                    VisionLimits.defaults())) {
                assertThat(saved.vision().orElseThrow().parameters().get("visual.patch_embed.proj.weight").toFloatArray())
                        .containsExactly(after);
            }
        }
    }
}

package dev.emloc.vision;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import org.junit.jupiter.api.Test;

class ImageProcessorTest {

    /** No resize, rescale or normalisation: samples pass through as floats, so positions can be read back. */
    private static final PreprocessorConfig PASS_THROUGH = PreprocessorConfig.builder()
            .doResize(false).doRescale(false).doNormalize(false).build();

    /** R = row, G = column, B = a constant that tells frames apart. */
    private static RgbImage coordinates(int width, int height, int blue) {
        byte[] rgb = new byte[width * height * 3];
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                int i = (y * width + x) * 3;
                rgb[i] = (byte) y;
                rgb[i + 1] = (byte) x;
                rgb[i + 2] = (byte) blue;
            }
        }
        return new RgbImage(width, height, rgb);
    }

    @Test
    void patchesFollowTheReferenceTranspose() {
        // 84 wide, 56 high: grid (1, 4, 6), merge blocks of 2x2 patches: 2 block rows, 3 block columns
        ProcessedVision vision = new ImageProcessor(PASS_THROUGH, VisionLimits.defaults()).processImage(coordinates(84, 56, 7));
        assertThat(vision.gridT()).isEqualTo(1);
        assertThat(vision.gridH()).isEqualTo(4);
        assertThat(vision.gridW()).isEqualTo(6);
        assertThat(vision.patchCount()).isEqualTo(24);
        assertThat(vision.patchDim()).isEqualTo(3 * 2 * 14 * 14);
        assertThat(vision.mergedTokenCount()).isEqualTo(6);

        // Hand-picked: column c*392 + tp*196 + py*14 + px; patch order block row, block column, inner row, inner column
        assertThat(vision.value(0, 0)).isEqualTo(0f);              // R at (y 0, x 0)
        assertThat(vision.value(0, 14 * 3 + 5)).isEqualTo(3f);     // R at py 3: y = 3
        assertThat(vision.value(0, 392 + 5)).isEqualTo(5f);        // G at px 5: x = 5
        assertThat(vision.value(0, 784)).isEqualTo(7f);            // B
        assertThat(vision.value(1, 392)).isEqualTo(14f);           // patch 1 = inner column 1: x starts at 14
        assertThat(vision.value(2, 0)).isEqualTo(14f);             // patch 2 = inner row 1: y starts at 14
        assertThat(vision.value(2, 392)).isEqualTo(0f);            //   and x at 0
        assertThat(vision.value(4, 392)).isEqualTo(28f);           // patch 4 = block column 1: x starts at 28
        assertThat(vision.value(12, 0)).isEqualTo(28f);            // patch 12 = block row 1: y starts at 28
        assertThat(vision.value(23, 195)).isEqualTo(55f);          // last patch, R at py 13: y = 55
        assertThat(vision.value(23, 392 + 195)).isEqualTo(83f);    //   G at px 13: x = 83

        // Every element: patch p -> (block row, block column, inner row, inner column), column -> (c, tp, py, px)
        for (int p = 0; p < vision.patchCount(); p++) {
            int innerCol = p % 2;
            int innerRow = p / 2 % 2;
            int blockCol = p / 4 % 3;
            int blockRow = p / 12;
            for (int column = 0; column < vision.patchDim(); column++) {
                int px = column % 14;
                int py = column / 14 % 14;
                int channel = column / 392;
                int y = (blockRow * 2 + innerRow) * 14 + py;
                int x = (blockCol * 2 + innerCol) * 14 + px;
                float expected = channel == 0 ? y : channel == 1 ? x : 7;
                assertThat(vision.value(p, column)).as("patch %d column %d", p, column).isEqualTo(expected);
            }
        }
    }

    @Test
    void anImageIsRepeatedToFillTheTemporalPatch() {
        ProcessedVision vision = new ImageProcessor(PASS_THROUGH, VisionLimits.defaults()).processImage(coordinates(56, 28, 9));
        for (int p = 0; p < vision.patchCount(); p++) {
            for (int c = 0; c < 3; c++) {
                for (int i = 0; i < 196; i++) {
                    assertThat(vision.value(p, c * 392 + 196 + i)).isEqualTo(vision.value(p, c * 392 + i));
                }
            }
        }
    }

    @Test
    void threeFramesMakeTwoTemporalSlicesWithTheLastFrameRepeated() {
        List<RgbImage> frames = List.of(coordinates(28, 28, 10), coordinates(28, 28, 20), coordinates(28, 28, 30));
        ProcessedVision vision = new ImageProcessor(PASS_THROUGH, VisionLimits.defaults()).processVideo(frames);
        assertThat(vision.gridT()).isEqualTo(2);
        assertThat(vision.patchCount()).isEqualTo(2 * 2 * 2);
        assertThat(vision.mergedTokenCount()).isEqualTo(2);
        // blue (channel 2, columns 784..1175): slice 0 holds frames 0 and 1, slice 1 frame 2 twice
        for (int p = 0; p < 4; p++) {
            assertThat(vision.value(p, 784)).isEqualTo(10f);
            assertThat(vision.value(p, 784 + 196)).isEqualTo(20f);
            assertThat(vision.value(p + 4, 784)).isEqualTo(30f);
            assertThat(vision.value(p + 4, 784 + 196)).isEqualTo(30f);
        }
        assertThat(vision.value(7, 392 + 195)).isEqualTo(27f); // last patch, G at px 13: x = 27
    }

    @Test
    void videoFramesAreAllResizedToTheFirstFramesTarget() {
        ImageProcessor processor = ImageProcessor.qwen2VlDefaults();
        // 60x50 -> smart_resize (56, 56); the 120x100 second frame is resized to 56x56 too
        ProcessedVision vision = processor.processVideo(List.of(BicubicResamplerTest.pattern(60, 50),
                BicubicResamplerTest.pattern(120, 100)));
        assertThat(new int[] {vision.gridT(), vision.gridH(), vision.gridW()}).containsExactly(1, 4, 4);
    }

    @Test
    void matchesPillowAndNumpyFollowingTransformersStepsBitForBit() throws Exception {
        // Reference: Pillow 9.4 resize (56, 56) BICUBIC of the 60x50 pattern, then numpy as in transformers:
        // (x.astype(float64) * (1/255)).astype(float32), (x - mean_f32) / std_f32, the (0,3,6,4,7,2,1,5,8) transpose.
        ProcessedVision vision = ImageProcessor.qwen2VlDefaults().processImage(BicubicResamplerTest.pattern(60, 50));
        assertThat(new int[] {vision.gridT(), vision.gridH(), vision.gridW()}).containsExactly(1, 4, 4);
        assertThat(vision.pixelValues()).hasSize(16 * 1176);
        // resized pixel (0, 0) is (0, 53, 106): R = (0 - 0.48145466) / 0.26862954 in float32
        assertThat(vision.value(0, 0)).isEqualTo(-1.7922625541687012f);
        assertThat(vision.value(0, 196)).isEqualTo(-1.7922625541687012f); // its temporal copy
        assertThat(vision.value(0, 1)).isEqualTo(-1.2375223636627197f);   // R of pixel (0, 1) = 38
        assertThat(vision.value(0, 392)).isEqualTo(-0.9566853642463684f); // G of pixel (0, 0) = 53
        assertThat(vision.value(0, 1175)).isEqualTo(1.9894764423370361f);
        assertThat(vision.value(5, 17)).isEqualTo(-0.1718371957540512f);
        assertThat(vision.value(15, 1175)).isEqualTo(0.5816898941993713f);
        assertThat(sha256(vision.pixelValues())).isEqualTo("dad797282cd0970c2ab2f3b9ec4d899124ce508125a065ec0e2401964d47d660");
    }

    @Test
    void rescaleAndNormaliseUseNumpysFloatSteps() {
        // one 28x28 image of a single colour, no resize: every R value is the same table entry
        PreprocessorConfig config = PreprocessorConfig.builder().doResize(false).build();
        ImageProcessor processor = new ImageProcessor(config, VisionLimits.defaults());
        float[] r255 = processor.processImage(RgbImage.filled(28, 28, 255, 128, 1)).pixelValues();
        // float32(255 * (1/255)) = 1.0; (1 - 0.48145466f) / 0.26862954f = 1.9303361 (numpy gives 1.9303361177444458)
        assertThat(r255[0]).isEqualTo(1.9303361177444458f).isEqualTo((1f - 0.48145466f) / 0.26862954f);
        assertThat(r255[392]).isEqualTo(0.16889731585979462f);  // G = 128
        assertThat(r255[784]).isEqualTo(-1.465999722480774f);   // B = 1
    }

    @Test
    void countsTokensForAVgaPhoto() {
        ImageProcessor processor = ImageProcessor.qwen2VlDefaults();
        // 640x480 -> 644 x 476 -> grid 34 x 46 = 1564 patches -> 391 tokens after the 2x2 merge
        assertThat(processor.targetSize(480, 640)).isEqualTo(new ImageSize(476, 644));
        ProcessedVision vision = processor.processImage(BicubicResamplerTest.pattern(640, 480));
        assertThat(vision.patchCount()).isEqualTo(1564);
        assertThat(vision.mergedTokenCount()).isEqualTo(391);
        assertThat(vision.patchDim()).isEqualTo(1176);
    }

    @Test
    void isSafeToShareBetweenThreads() throws Exception {
        ImageProcessor processor = ImageProcessor.qwen2VlDefaults();
        RgbImage image = BicubicResamplerTest.pattern(300, 200);
        ProcessedVision expected = processor.processImage(image);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<ProcessedVision>> results = pool.invokeAll(Collections.nCopies(6, () -> processor.processImage(image)));
            for (Future<ProcessedVision> result : results) {
                assertThat(result.get()).isEqualTo(expected);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void withoutResizeTheSidesMustBeMultiplesOf28() {
        ImageProcessor processor = new ImageProcessor(PASS_THROUGH, VisionLimits.defaults());
        assertThatThrownBy(() -> processor.processImage(coordinates(60, 28, 0)))
                .isInstanceOf(ImageInputException.class)
                .hasMessageContaining("60x28")
                .hasMessageContaining("multiples of 28");
        assertThatThrownBy(() -> processor.processVideo(List.of(coordinates(28, 28, 0), coordinates(56, 28, 0))))
                .isInstanceOf(ImageInputException.class)
                .hasMessageContaining("Video frame 1 is 56x28 but the first frame is 28x28");
    }

    @Test
    void refusesEmptyAndOverlongVideos() {
        ImageProcessor processor = new ImageProcessor(PASS_THROUGH, VisionLimits.builder().maxVideoFrames(4).build());
        assertThatThrownBy(() -> processor.processVideo(List.of()))
                .isInstanceOf(ImageInputException.class)
                .hasMessageContaining("at least one frame");
        assertThatThrownBy(() -> processor.processVideo(Collections.nCopies(5, coordinates(28, 28, 0))))
                .isInstanceOf(ImageInputException.class)
                .hasMessage("Too many video frames: 5, at most 4 are allowed; sample fewer frames or raise maxVideoFrames");
        assertThat(processor.processVideo(Collections.nCopies(4, coordinates(28, 28, 0))).gridT()).isEqualTo(2);
    }

    @Test
    void refusesImagesTooSmallToResize() {
        assertThatThrownBy(() -> ImageProcessor.qwen2VlDefaults().processImage(RgbImage.filled(20, 100, 0, 0, 0)))
                .isInstanceOf(ImageInputException.class)
                .hasMessageContaining("20x100 pixels is too small");
    }

    private static String sha256(float[] values) throws Exception {
        ByteBuffer bytes = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        bytes.asFloatBuffer().put(values);
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes.array()));
    }
}

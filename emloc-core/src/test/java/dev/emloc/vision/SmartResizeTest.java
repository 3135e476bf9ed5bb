package dev.emloc.vision;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** Expected sizes are worked out by hand below (and agree with transformers' smart_resize). */
class SmartResizeTest {

    private static final int MIN = 56 * 56;          // 3136
    private static final int MAX = 28 * 28 * 1280;   // 1003520

    private static ImageSize resize(int height, int width) {
        return SmartResize.resize(height, width, 28, MIN, MAX);
    }

    @Test
    void roundsEachSideToTheNearestMultipleOf28WhenThePixelCountFits() {
        // 480/28 = 17.14 -> 17 -> 476; 640/28 = 22.86 -> 23 -> 644; 476*644 = 306544 is within [3136, 1003520]
        assertThat(resize(480, 640)).isEqualTo(new ImageSize(476, 644));
        // already multiples of 28: 448*448 = 200704
        assertThat(resize(448, 448)).isEqualTo(new ImageSize(448, 448));
        // 55/28 = 1.96 -> 2 -> 56; 56*56 = 3136 = min, not below it
        assertThat(resize(55, 56)).isEqualTo(new ImageSize(56, 56));
    }

    @Test
    void roundsHalvesToEvenLikePython() {
        // 42/28 = 1.5 -> round-half-even 2 -> 56 (56*56 = 3136 = min: exactly at the boundary, kept)
        assertThat(resize(42, 42)).isEqualTo(new ImageSize(56, 56));
        // 70/28 = 2.5 -> 2 (not 3) -> 56; Math.round would give 84
        assertThat(resize(70, 70)).isEqualTo(new ImageSize(56, 56));
        // 98/28 = 3.5 -> 4 -> 112
        assertThat(resize(98, 98)).isEqualTo(new ImageSize(112, 112));
        // 70 x 98: 56 x 112 = 6272
        assertThat(resize(70, 98)).isEqualTo(new ImageSize(56, 112));
    }

    @Test
    void keepsASizeExactlyAtMaxPixelsAndShrinksOneJustAbove() {
        // 896*1120 = 32*28 * 40*28 = 1003520 = max: not above, kept
        assertThat(resize(896, 1120)).isEqualTo(new ImageSize(896, 1120));
        // 924*1120 = 1034880 > max: beta = sqrt(1034880/1003520) = sqrt(1.03125) = 1.01550;
        // 924/beta/28 = 32.50 -> floor 32 -> 896; 1120/beta/28 = 39.39 -> 39 -> 1092
        assertThat(resize(924, 1120)).isEqualTo(new ImageSize(896, 1092));
    }

    @Test
    void shrinksLargePhotosBelowMaxPixels() {
        // 3024x4032 (12 MP) rounds to itself, 12192768 > max: beta = sqrt(12192768/1003520) = 3.48569;
        // 3024/beta/28 = 30.98 -> 30 -> 840; 4032/beta/28 = 41.31 -> 41 -> 1148; 840*1148 = 964320 <= max
        assertThat(resize(3024, 4032)).isEqualTo(new ImageSize(840, 1148));
        assertThat(resize(4032, 3024)).isEqualTo(new ImageSize(1148, 840));
        // with the published Qwen2-VL-Instruct max_pixels (16384*28*28 = 12845056) the same photo fits as it is
        assertThat(SmartResize.resize(3024, 4032, 28, MIN, 12_845_056)).isEqualTo(new ImageSize(3024, 4032));
        // 1080x1920: 1092*1932 > max; beta = sqrt(2073600/1003520) = 1.43747; 1080/beta/28 = 26.83 -> 728;
        // 1920/beta/28 = 47.70 -> 1316
        assertThat(resize(1080, 1920)).isEqualTo(new ImageSize(728, 1316));
    }

    @Test
    void followsDoubleArithmeticWhereExactArithmeticWouldDiffer() {
        // 1150x920 = 1058000; beta = sqrt(1058000/1003520) = 1.0267857142857144 (exactly 115/112 in real numbers,
        // so 1150/beta = 1120 and 920/beta = 896 exactly). In doubles 1150/beta/28 = 39.99999999999999 and
        // 920/beta/28 = 31.999999999999996, which Python floors to 39 and 31: 1092 x 868, not 1120 x 896.
        assertThat(resize(1150, 920)).isEqualTo(new ImageSize(1092, 868));
        // 1000x20000: beta = sqrt(2e7/1003520) = 4.464285714285714 (125/28); 1000/beta/28 = 8.0 exactly -> 224;
        // 20000/beta/28 = 160.0 -> 4480
        assertThat(resize(1000, 20000)).isEqualTo(new ImageSize(224, 4480));
    }

    @Test
    void scalesTinyImagesUpToMinPixels() {
        // 28x28 -> 784 < 3136: beta = sqrt(3136/784) = 2; ceil(28*2/28) = 2 -> 56
        assertThat(resize(28, 28)).isEqualTo(new ImageSize(56, 56));
        // 29x90 -> 28 x 84 = 2352 < 3136: beta = sqrt(3136/2610) = 1.09614; ceil(29*beta/28 = 1.135) = 2 -> 56;
        // ceil(90*beta/28 = 3.523) = 4 -> 112
        assertThat(resize(29, 90)).isEqualTo(new ImageSize(56, 112));
        // 30x100 -> 28 x 112 = 3136 = min exactly: kept, although 28 rows is below 56
        assertThat(resize(30, 100)).isEqualTo(new ImageSize(28, 112));
    }

    @Test
    void keepsPanoramasUpToAnAspectRatioOf200() {
        // 100/28 = 3.57 -> 4 -> 112; 4000/28 = 142.86 -> 143 -> 4004; 112*4004 = 448448
        assertThat(resize(100, 4000)).isEqualTo(new ImageSize(112, 4004));
        // ratio exactly 200 is accepted
        assertThat(resize(28, 5600)).isEqualTo(new ImageSize(28, 5600));
    }

    @Test
    void refusesImagesMoreElongatedThan200() {
        assertThatThrownBy(() -> resize(28, 5628))
                .isInstanceOf(ImageInputException.class)
                .hasMessageContaining("5628x28")
                .hasMessageContaining("aspect ratio 201.0 exceeds 200");
    }

    @Test
    void refusesSidesShorterThanTheFactor() {
        assertThatThrownBy(() -> resize(27, 100))
                .isInstanceOf(ImageInputException.class)
                .hasMessageContaining("100x27")
                .hasMessageContaining("at least 28 pixels");
    }

    @Test
    void refusesAMaxPixelsThatLeavesNoPatchRow() {
        // 28 x 5600 at max 10000: beta = sqrt(156800/10000) = 3.96; 28/beta/28 = 0.25 -> 0 rows
        assertThatThrownBy(() -> SmartResize.resize(28, 5600, 28, 784, 10_000))
                .isInstanceOf(ImageInputException.class)
                .hasMessageContaining("max_pixels 10000");
    }

    @Test
    void roundHalfEvenMatchesPythonRound() {
        assertThat(SmartResize.roundHalfEven(0.5)).isEqualTo(0);
        assertThat(SmartResize.roundHalfEven(1.5)).isEqualTo(2);
        assertThat(SmartResize.roundHalfEven(2.5)).isEqualTo(2);
        assertThat(SmartResize.roundHalfEven(2.5000000001)).isEqualTo(3);
    }
}

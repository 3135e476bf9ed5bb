package dev.emloc.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;

import org.junit.jupiter.api.Test;

class MultimodalPositionsTest {

    private static final long IMG = 900;
    private static final long VID = 901;

    /**
     * "text, image, text, image, text":
     * <pre>
     * tokens   a  b  [image 1: grid (1, 4, 6) -> 1 x 2 x 3 merged]  c  d  [image 2: grid (1, 2, 2) -> 1 x 1 x 1]  e
     * index    0  1   2  3  4  5  6  7                                8  9   10                                  11
     * t        0  1   2  2  2  2  2  2                                5  6   7                                   8
     * h        0  1   2  2  2  3  3  3                                5  6   7                                   8
     * w        0  1   2  3  4  2  3  4                                5  6   7                                   8
     * </pre>
     * Image 1 starts at 2 and reaches max(2+0, 2+1, 2+2) = 4, so "c" continues at 5; the offset is 9.
     */
    @Test
    void textImageTextImageTextFollowsQwen2VlRopeIndex() {
        long[] tokens = {1, 2, IMG, IMG, IMG, IMG, IMG, IMG, 3, 4, IMG, 5};
        MultimodalPositions p = MultimodalPositions.compute(tokens, IMG, VID, List.of(new int[] {1, 4, 6}, new int[] {1, 2, 2}), 2, 0);
        assertThat(p.positions()[0]).containsExactly(0, 1, 2, 2, 2, 2, 2, 2, 5, 6, 7, 8);
        assertThat(p.positions()[1]).containsExactly(0, 1, 2, 2, 2, 3, 3, 3, 5, 6, 7, 8);
        assertThat(p.positions()[2]).containsExactly(0, 1, 2, 3, 4, 2, 3, 4, 5, 6, 7, 8);
        assertThat(p.nextOffset()).isEqualTo(9);
    }

    /** A video of grid (2, 2, 4) -> 2 x 1 x 2 merged tokens, after an offset of 100 (a task memory). */
    @Test
    void aVideoAdvancesTheTemporalAxisAndEverythingStartsAtTheOffset() {
        long[] tokens = {7, VID, VID, VID, VID, 8};
        MultimodalPositions p = MultimodalPositions.compute(tokens, IMG, VID, List.of(new int[] {2, 2, 4}), 2, 100);
        assertThat(p.positions()[0]).containsExactly(100, 101, 101, 102, 102, 103);
        assertThat(p.positions()[1]).containsExactly(100, 101, 101, 101, 101, 103);
        assertThat(p.positions()[2]).containsExactly(100, 101, 102, 101, 102, 103);
        assertThat(p.nextOffset()).isEqualTo(104);
    }

    @Test
    void textOnlyPositionsCountUpOnAllAxes() {
        MultimodalPositions p = MultimodalPositions.text(3, 5);
        assertThat(p.positions()[1]).containsExactly(5, 6, 7);
        assertThat(p.nextOffset()).isEqualTo(8);
        assertThat(MultimodalPositions.compute(new long[] {1, 2, 3}, IMG, VID, List.of(), 2, 5).positions())
                .isDeepEqualTo(p.positions());
    }

    @Test
    void runsThatDoNotMatchTheirGridsAreRefused() {
        assertThatThrownBy(() -> MultimodalPositions.compute(new long[] {1, IMG, IMG, 2}, IMG, VID, List.of(new int[] {1, 4, 4}), 2, 0))
                .hasMessageContaining("needs 4 consecutive pad tokens");
        assertThatThrownBy(() -> MultimodalPositions.compute(new long[] {1, IMG, 2}, IMG, VID, List.of(), 2, 0))
                .hasMessageContaining("more image/video runs");
        assertThatThrownBy(() -> MultimodalPositions.compute(new long[] {1, 2}, IMG, VID, List.of(new int[] {1, 2, 2}), 2, 0))
                .hasMessageContaining("1 grids were given but the sequence has 0");
    }
}

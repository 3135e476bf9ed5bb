package dev.emloc.model;

import java.util.List;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Qwen2-VL's multimodal rotary position ids of one sequence.
 *
 * <p>Text tokens count up by one on all three components (temporal, height, width). The merged tokens
 * of an image or video take their grid indices {@code (t, h, w)} added to the position at which they
 * start, so a 2-D picture spreads over two axes instead of a long line; the text after it continues from
 * the largest position used plus one. The offset after the sequence (largest position + 1) is where a
 * following query starts, which is why a task memory records it.
 *
 * @param positions  {@code [3][T]}: temporal, height and width position of every token
 * @param nextOffset largest position + 1
 */
public record MultimodalPositions(long[][] positions, int nextOffset) {

    public MultimodalPositions {
        if (positions.length != 3) {
            throw new IllegalArgumentException("Positions need 3 components, got " + positions.length);
        }
    }

    /**
     * Computes the positions of {@code tokens}.
     *
     * @param tokens     the sequence, each image or video a run of its pad tokens
     * @param imagePadId id of {@code <|image_pad|>}
     * @param videoPadId id of {@code <|video_pad|>}
     * @param grids      patch grids {@code {t, h, w}} of the images and videos in order of appearance
     * @param mergeSize  spatial merge size (2): a run holds {@code t * h/merge * w/merge} tokens
     * @param offset     position of the first token (0, or a task memory's offset)
     */
    public static MultimodalPositions compute(long[] tokens, long imagePadId, long videoPadId, List<int[]> grids,
            int mergeSize, int offset) {
        long[][] positions = new long[3][tokens.length];
        long next = offset;
        int vision = 0;
        int i = 0;
        while (i < tokens.length) {
            long id = tokens[i];
            if (id != imagePadId && id != videoPadId) {
                positions[0][i] = positions[1][i] = positions[2][i] = next++;
                i++;
                continue;
            }
            if (vision >= grids.size()) {
                throw new IllegalArgumentException("The sequence has more image/video runs than the " + grids.size()
                        + " grids given");
            }
            int[] grid = grids.get(vision++);
            int t = grid[0];
            int h = grid[1] / mergeSize;
            int w = grid[2] / mergeSize;
            int run = t * h * w;
            if (i + run > tokens.length || !allEqual(tokens, i, run, id)) {
                throw new IllegalArgumentException("Image/video " + (vision - 1) + " with grid (" + grid[0] + ", " + grid[1]
                        + ", " + grid[2] + ") needs " + run + " consecutive pad tokens at index " + i);
            }
            long base = next;
            long max = base;
            for (int ti = 0; ti < t; ti++) {
                for (int hi = 0; hi < h; hi++) {
                    for (int wi = 0; wi < w; wi++) {
                        positions[0][i] = base + ti;
                        positions[1][i] = base + hi;
                        positions[2][i] = base + wi;
                        max = Math.max(max, Math.max(base + ti, Math.max(base + hi, base + wi)));
                        i++;
                    }
                }
            }
            next = max + 1;
        }
        if (vision != grids.size()) {
            throw new IllegalArgumentException(grids.size() + " grids were given but the sequence has " + vision
                    + " image/video runs");
        }
        return new MultimodalPositions(positions, Math.toIntExact(next));
    }

    /** Positions of plain text starting at {@code offset}. */
    public static MultimodalPositions text(int length, int offset) {
        long[][] positions = new long[3][length];
        for (int i = 0; i < length; i++) {
            positions[0][i] = positions[1][i] = positions[2][i] = offset + i;
        }
        return new MultimodalPositions(positions, offset + length);
    }

    private static boolean allEqual(long[] tokens, int from, int count, long id) {
        for (int k = from; k < from + count; k++) {
            if (tokens[k] != id) {
                return false;
            }
        }
        return from + count == tokens.length || tokens[from + count] != id;
    }

    /** Number of tokens. */
    public int length() {
        return positions[0].length;
    }

    /** The ids as a {@code (3, 1, T)} int64 array for {@link ForwardRequest.Builder#positionIds}. */
    public NDArray toArray(NDManager manager) {
        int length = length();
        long[] flat = new long[3 * length];
        for (int c = 0; c < 3; c++) {
            System.arraycopy(positions[c], 0, flat, c * length, length);
        }
        return manager.create(flat, new Shape(3, 1, length));
    }
}

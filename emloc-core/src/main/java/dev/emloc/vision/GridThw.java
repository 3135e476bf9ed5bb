package dev.emloc.vision;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The patch grid of one image or video: {@code t} temporal patches (an image has 1), {@code h} rows and {@code w}
 * columns of patches. {@code h} and {@code w} are multiples of the merge size, so the grid tiles into merge windows.
 */
record GridThw(int t, int h, int w) {

    /** Patches in the grid, {@code t * h * w}. */
    int patches() {
        return t * h * w;
    }

    /** Patches in one temporal slice, {@code h * w}: the length of one attention segment. */
    int patchesPerFrame() {
        return h * w;
    }

    /** Checks {@code {t, h, w}} triples against a tower's merge size. */
    static List<GridThw> of(List<int[]> grids, int mergeSize) {
        if (grids == null || grids.isEmpty()) {
            throw new IllegalArgumentException("gridThw must name at least one image or video as {t, h, w}");
        }
        List<GridThw> checked = new ArrayList<>(grids.size());
        for (int i = 0; i < grids.size(); i++) {
            int[] thw = grids.get(i);
            if (thw == null || thw.length != 3) {
                throw new IllegalArgumentException("gridThw[" + i + "] must be {t, h, w}, got "
                        + (thw == null ? "null" : Arrays.toString(thw)));
            }
            if (thw[0] <= 0 || thw[1] <= 0 || thw[2] <= 0) {
                throw new IllegalArgumentException("gridThw[" + i + "] = " + Arrays.toString(thw) + " must be positive");
            }
            if (thw[1] % mergeSize != 0 || thw[2] % mergeSize != 0) {
                throw new IllegalArgumentException("gridThw[" + i + "] = " + Arrays.toString(thw) + ": h and w must be multiples"
                        + " of spatial_merge_size " + mergeSize + " (the image processor resizes images so that they are)");
            }
            if ((long) thw[0] * thw[1] * thw[2] > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("gridThw[" + i + "] = " + Arrays.toString(thw) + " has too many patches");
            }
            checked.add(new GridThw(thw[0], thw[1], thw[2]));
        }
        return List.copyOf(checked);
    }

    /**
     * Boundaries of the attention segments, as {@code transformers}' {@code cu_seqlens}: one segment per temporal slice of
     * every grid (not one per image or video), {@code [0, h*w, 2*h*w, ...]}, ending at the total patch count.
     */
    static int[] segmentBoundaries(List<GridThw> grids) {
        int segments = grids.stream().mapToInt(GridThw::t).sum();
        int[] bounds = new int[segments + 1];
        int s = 0;
        for (GridThw grid : grids) {
            for (int frame = 0; frame < grid.t(); frame++) {
                bounds[s + 1] = bounds[s] + grid.patchesPerFrame();
                s++;
            }
        }
        return bounds;
    }
}

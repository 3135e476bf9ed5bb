package dev.emloc.vision;

import java.util.Arrays;
import java.util.Objects;

/**
 * One image or video ready for the vision tower: Hugging Face's {@code pixel_values} and {@code image_grid_thw}
 * (or {@code video_grid_thw}) for it.
 *
 * <p>Row {@code p} of {@code pixelValues} is patch {@code p} in the tower's order: temporal slice, then merge
 * blocks in raster order, then the {@code mergeSize x mergeSize} patches inside a block in raster order. Its
 * {@link #patchDim()} columns are {@code (channel, frame within the slice, row, column)} row-major.
 *
 * <p>The array is not copied; treat it as read-only. Equality compares the values.
 *
 * @param pixelValues normalised samples // (gridT * gridH * gridW, 3 * temporalPatchSize * patchSize^2)
 * @param gridT       temporal slices: frames / temporal_patch_size, rounded up
 * @param gridH       patch rows (resized height / patch_size)
 * @param gridW       patch columns (resized width / patch_size)
 * @param mergeSize   side of the square of patches merged into one language-model token
 */
public record ProcessedVision(float[] pixelValues, int gridT, int gridH, int gridW, int mergeSize) {

    public ProcessedVision {
        Objects.requireNonNull(pixelValues, "pixelValues");
        if (gridT <= 0 || gridH <= 0 || gridW <= 0 || mergeSize <= 0) {
            throw new IllegalArgumentException("grid (" + gridT + ", " + gridH + ", " + gridW + ") and mergeSize " + mergeSize
                    + " must be positive");
        }
        if (gridH % mergeSize != 0 || gridW % mergeSize != 0) {
            throw new IllegalArgumentException("grid height " + gridH + " and width " + gridW + " must be multiples of mergeSize "
                    + mergeSize);
        }
        long patches = (long) gridT * gridH * gridW;
        if (pixelValues.length == 0 || pixelValues.length % patches != 0) {
            throw new IllegalArgumentException("pixelValues has " + pixelValues.length + " values, not a positive multiple of the "
                    + patches + " patches of grid (" + gridT + ", " + gridH + ", " + gridW + ")");
        }
    }

    /** Patches fed to the vision tower: {@code gridT * gridH * gridW}. */
    public int patchCount() {
        return gridT * gridH * gridW;
    }

    /** Values per patch (1176 for Qwen2-VL). */
    public int patchDim() {
        return pixelValues.length / patchCount();
    }

    /** Tokens the image takes in the prompt after the merger: {@code patchCount / mergeSize^2}. */
    public int mergedTokenCount() {
        return patchCount() / (mergeSize * mergeSize);
    }

    /** The value at {@code (patch, column)}. */
    public float value(int patch, int column) {
        Objects.checkIndex(patch, patchCount());
        Objects.checkIndex(column, patchDim());
        return pixelValues[patch * patchDim() + column];
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof ProcessedVision that && gridT == that.gridT && gridH == that.gridH && gridW == that.gridW
                && mergeSize == that.mergeSize && Arrays.equals(pixelValues, that.pixelValues);
    }

    @Override
    public int hashCode() {
        return Objects.hash(gridT, gridH, gridW, mergeSize) * 31 + Arrays.hashCode(pixelValues);
    }

    @Override
    public String toString() {
        return "ProcessedVision[grid=(" + gridT + ", " + gridH + ", " + gridW + "), patchDim=" + patchDim() + ", mergeSize="
                + mergeSize + "]";
    }
}

package dev.emloc.vision;

/**
 * Limits on what one request may send, checked before any large allocation.
 *
 * @param maxInputPixels      most pixels ({@code width * height}) an encoded image may declare; checked from the
 *                            file header before the raster is decoded, so a decompression bomb is refused without
 *                            allocating. Each decoded pixel costs about 6 bytes while it is converted
 * @param maxImagesPerRequest most images in one request
 * @param maxVideoFrames      most frames in one video
 */
public record VisionLimits(long maxInputPixels, int maxImagesPerRequest, int maxVideoFrames) {

    /** 50 megapixels: a 48 MP phone photo (8064x6048) passes; about 300 MB while it is decoded and converted. */
    public static final long DEFAULT_MAX_INPUT_PIXELS = 50_000_000L;
    /** Images in one request by default. */
    public static final int DEFAULT_MAX_IMAGES_PER_REQUEST = 16;
    /** Frames in one video by default. */
    public static final int DEFAULT_MAX_VIDEO_FRAMES = 64;

    public VisionLimits {
        if (maxInputPixels <= 0) {
            throw new IllegalArgumentException("maxInputPixels must be positive, got " + maxInputPixels);
        }
        if (maxImagesPerRequest <= 0) {
            throw new IllegalArgumentException("maxImagesPerRequest must be positive, got " + maxImagesPerRequest);
        }
        if (maxVideoFrames <= 0) {
            throw new IllegalArgumentException("maxVideoFrames must be positive, got " + maxVideoFrames);
        }
    }

    /** 50 MP per image, 16 images per request, 64 frames per video. */
    public static VisionLimits defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder starting from these limits. */
    public Builder mutate() {
        return new Builder().maxInputPixels(maxInputPixels).maxImagesPerRequest(maxImagesPerRequest)
                .maxVideoFrames(maxVideoFrames);
    }

    /** Refuses more than {@link #maxImagesPerRequest} images. */
    public void checkImageCount(int images) {
        if (images > maxImagesPerRequest) {
            throw new ImageInputException("Too many images in one request: " + images + ", at most " + maxImagesPerRequest
                    + " are allowed; send fewer images or raise maxImagesPerRequest");
        }
    }

    /** Refuses an empty video or one of more than {@link #maxVideoFrames} frames. */
    public void checkVideoFrames(int frames) {
        if (frames == 0) {
            throw new ImageInputException("A video needs at least one frame, got none");
        }
        if (frames > maxVideoFrames) {
            throw new ImageInputException("Too many video frames: " + frames + ", at most " + maxVideoFrames
                    + " are allowed; sample fewer frames or raise maxVideoFrames");
        }
    }

    /** Refuses an image that declares more than {@link #maxInputPixels} pixels. */
    public void checkInputPixels(String format, int width, int height) {
        long pixels = (long) width * height;
        if (pixels > maxInputPixels) {
            throw new ImageInputException("Image too large: the " + format + " declares " + width + "x" + height + " = "
                    + pixels + " pixels, more than the limit of " + maxInputPixels
                    + "; downscale it before sending or raise maxInputPixels");
        }
    }

    /** Builder for {@link VisionLimits}, starting from the defaults. */
    public static final class Builder {
        private long maxInputPixels = DEFAULT_MAX_INPUT_PIXELS;
        private int maxImagesPerRequest = DEFAULT_MAX_IMAGES_PER_REQUEST;
        private int maxVideoFrames = DEFAULT_MAX_VIDEO_FRAMES;

        private Builder() {
        }

        public Builder maxInputPixels(long v) { maxInputPixels = v; return this; }
        public Builder maxImagesPerRequest(int v) { maxImagesPerRequest = v; return this; }
        public Builder maxVideoFrames(int v) { maxVideoFrames = v; return this; }

        public VisionLimits build() {
            return new VisionLimits(maxInputPixels, maxImagesPerRequest, maxVideoFrames);
        }
    }
}

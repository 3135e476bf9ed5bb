/**
 * Image and video preprocessing for Qwen2-VL, numerically the same as Hugging Face's (slow, PIL-based)
 * {@code Qwen2VLImageProcessor}: bytes are decoded to RGB ({@link dev.emloc.vision.ImageDecoder}), sized with
 * {@link dev.emloc.vision.SmartResize}, resampled with Pillow's bicubic filter
 * ({@link dev.emloc.vision.BicubicResampler}), rescaled, normalised and cut into flattened patches
 * ({@link dev.emloc.vision.ImageProcessor}), ready for the vision tower.
 */
package dev.emloc.vision;

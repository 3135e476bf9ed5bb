package dev.emloc.model;

import java.util.Locale;
import java.util.Objects;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.types.DataType;

/**
 * Where the model runs and in which dtype its weights and activations are held.
 *
 * @param device {@code cpu}, {@code gpu} or {@code gpu:N}
 * @param dtype  {@link DataType#FLOAT32} or {@link DataType#FLOAT16} (float16 is meant for GPUs)
 */
public record ModelOptions(Device device, DataType dtype) {

    public ModelOptions {
        Objects.requireNonNull(device, "device");
        if (dtype != DataType.FLOAT32 && dtype != DataType.FLOAT16) {
            throw new IllegalArgumentException("Unsupported model dtype " + dtype + "; use float32 or float16");
        }
    }

    /** float32 on the CPU. */
    public static ModelOptions cpu() {
        return new ModelOptions(Device.cpu(), DataType.FLOAT32);
    }

    /**
     * Parses user settings.
     *
     * @param device {@code auto} (the first GPU the engine sees, else the CPU), {@code cpu}, {@code gpu} or {@code gpu:N}
     * @param dtype  {@code float32} or {@code float16}
     */
    public static ModelOptions parse(String device, String dtype) {
        return new ModelOptions(parseDevice(device), parseDtype(dtype));
    }

    static Device parseDevice(String text) {
        String value = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
        Device device;
        if (value.equals("auto")) {
            device = Engine.getInstance().getGpuCount() > 0 ? Device.gpu() : Device.cpu();
        } else if (value.equals("cpu")) {
            device = Device.cpu();
        } else if (value.equals("gpu") || value.equals("cuda")) {
            device = Device.gpu();
        } else if (value.matches("(gpu|cuda):\\d+")) {
            device = Device.gpu(Integer.parseInt(value.substring(value.indexOf(':') + 1)));
        } else {
            throw new IllegalArgumentException("Unknown device '" + text + "'; use auto, cpu, gpu or gpu:N");
        }
        if (device.isGpu()) {
            int available = Engine.getInstance().getGpuCount();
            if (device.getDeviceId() >= available) {
                throw new IllegalArgumentException("Device '" + text + "' asked for, but the PyTorch engine sees " + available
                        + " GPU(s). If this machine has a GPU, build without the CPU-only libtorch (-P!cpu-native, see docs/gpu.md);"
                        + " otherwise use device cpu");
            }
        }
        return device;
    }

    static DataType parseDtype(String text) {
        String value = text == null ? "" : text.trim().toLowerCase(Locale.ROOT);
        return switch (value) {
            case "float32", "fp32", "f32" -> DataType.FLOAT32;
            case "float16", "fp16", "f16", "half" -> DataType.FLOAT16;
            default -> throw new IllegalArgumentException("Unknown dtype '" + text + "'; use float32 or float16"
                    + " (bfloat16 weights are converted on load)");
        };
    }
}

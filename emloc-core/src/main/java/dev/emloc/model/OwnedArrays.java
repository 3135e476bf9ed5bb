package dev.emloc.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Arrays from Java values whose memory belongs to libtorch, for every place where autograd may keep them.
 *
 * <p>On the CPU DJL does not copy Java values into an array: {@code NDManager.create(long[])} and
 * {@code create(Number)} wrap a direct buffer that only the Java array object keeps alive. The scalar forms of the
 * arithmetic ({@code x.mul(2f)}, {@code x.div(n)}) even create such a scalar and close it before returning. Autograd,
 * though, keeps the operands it needs for the backward pass (the scalar of {@code x * s}, the index of a row
 * selection) by libtorch reference, which does not keep a Java buffer alive. Once the array is closed and a garbage
 * collection ran, the backward pass read freed memory: rare non-finite or wrong gradients, or an index out of range,
 * depending on what the memory held by then. Inference is not affected (nothing is kept after an operation returns).
 *
 * <p>So every array built from Java values that can enter a differentiated computation is made here, in memory of its
 * own, and the forward passes multiply by {@link #scalar} arrays instead of Java numbers where autograd may be on.
 */
public final class OwnedArrays {

    private OwnedArrays() {
    }

    /** {@code values} as an int64 array of {@code shape} on {@code device}, in memory of its own. */
    public static NDArray longs(NDManager manager, long[] values, Shape shape, Device device) {
        return owned(manager.create(values, shape), device);
    }

    /**
     * {@code value} as a 0-dimensional float32 array made by libtorch in {@code like}'s manager (on its device):
     * {@code x.mul(scalar(x, s))} instead of {@code x.mul(s)}. It is the array DJL itself makes for {@code x.mul(s)}
     * (a 0-dimensional float32, which takes {@code x}'s type in the operation), so results are unchanged.
     */
    public static NDArray scalar(NDArray like, float value) {
        return like.getManager().full(new Shape(), value, DataType.FLOAT32);
    }

    private static NDArray owned(NDArray created, Device device) {
        NDArray result = created;
        if (!created.getDevice().isGpu()) {
            // a copy: toDevice(cpu, true) would not do, it returns a view of the same Java-owned memory
            result = created.duplicate();
            created.close();
        }
        if (result.getDevice().equals(device)) {
            return result;
        }
        NDArray moved = result.toDevice(device, false); // across devices: a copy in that device's memory
        result.close();
        return moved;
    }
}

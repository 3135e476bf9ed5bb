package dev.emloc.model;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Makes a use of freed Java-owned memory visible: a garbage collection frees every unreachable direct buffer, then
 * freshly allocated buffers (very likely in the same memory) are filled with {@code 0x7f} bytes, which read back as
 * huge floats or indices. See {@link OwnedArrays} for why a forward pass must not leave autograd such memory.
 */
public final class FreedMemory {

    private FreedMemory() {
    }

    /** Collects, then overwrites what the collection freed; returns how many junk bytes were written. */
    public static long overwrite() throws InterruptedException {
        System.gc();
        Thread.sleep(50); // direct buffers are freed by their cleaners, just after the collection
        List<ByteBuffer> junk = new ArrayList<>();
        long written = 0;
        for (int i = 0; i < 300; i++) {
            ByteBuffer buffer = ByteBuffer.allocateDirect(4 << (i % 12));
            while (buffer.hasRemaining()) {
                buffer.put((byte) 0x7f);
            }
            junk.add(buffer);
            written += buffer.capacity();
        }
        return written;
    }
}

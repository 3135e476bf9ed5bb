package dev.emloc.model;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;

/**
 * PyTorch's grad mode is per thread, and DJL switches it off only on the thread that started the
 * engine. Every inference entry point calls {@link #disableOnThisThread()} so a worker thread never
 * records an autograd graph (and its memory) by accident.
 */
public final class GradMode {

    private GradMode() {
    }

    /** Switches autograd recording off for the calling thread. */
    public static void disableOnThisThread() {
        if ("PyTorch".equals(Engine.getInstance().getEngineName()) && JniUtils.isGradMode()) {
            JniUtils.setGradMode(false);
        }
    }

    /** Whether the calling thread records autograd graphs. */
    public static boolean isEnabledOnThisThread() {
        return "PyTorch".equals(Engine.getInstance().getEngineName()) && JniUtils.isGradMode();
    }
}

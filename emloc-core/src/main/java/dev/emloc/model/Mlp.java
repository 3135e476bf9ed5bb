package dev.emloc.model;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;

/** SwiGLU feed-forward: {@code down(silu(gate(x)) * up(x))}. */
final class Mlp {

    private final NDArray gate; // (inter, hidden)
    private final NDArray up;   // (inter, hidden)
    private final NDArray down; // (hidden, inter)

    Mlp(NDArray gate, NDArray up, NDArray down) {
        this.gate = gate;
        this.up = up;
        this.down = down;
    }

    NDArray forward(NDArray x) {
        NDArray g = Linear.linear(x, gate).singletonOrThrow(); // (B, T, inter)
        NDArray u = Linear.linear(x, up).singletonOrThrow();
        NDArray activated = g.mul(Activation.sigmoid(g)).mul(u); // silu(g) * u
        return Linear.linear(activated, down).singletonOrThrow(); // (B, T, hidden)
    }
}

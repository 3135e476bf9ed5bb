package dev.emloc.compress;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;

/**
 * Jensen-Shannon divergence in nats: {@code JS(p, q) = KL(p||m)/2 + KL(q||m)/2}, {@code m = (p + q)/2}.
 * Written as {@code p log(p/m)} so that identical distributions give exactly 0, and zero
 * probabilities contribute 0.
 */
final class JensenShannon {

    private static final float TINY = 1e-30f;

    private JensenShannon() {
    }

    /**
     * Divergence per distribution along the last axis.
     *
     * @param logP log-probabilities {@code (..., V)}
     * @param logQ log-probabilities of the same shape
     * @return {@code (...)} float32
     */
    static NDArray divergence(NDArray logP, NDArray logQ) {
        // The vocabulary-wide temporaries are freed here; only the small result survives, owned by logP's manager.
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            NDArray p = logP.toType(DataType.FLOAT32, false).exp();
            NDArray q = logQ.toType(DataType.FLOAT32, false).exp();
            NDArray m = p.add(q).div(2).maximum(TINY);
            NDArray klP = p.mul(p.div(m).maximum(TINY).log()).sum(new int[] {-1});
            NDArray klQ = q.mul(q.div(m).maximum(TINY).log()).sum(new int[] {-1});
            NDArray result = klP.add(klQ).div(2);
            NDScope.unregister(result);
            return result;
        }
    }
}

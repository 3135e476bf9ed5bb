package dev.emloc.vision;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import ai.djl.ndarray.types.Shape;
import dev.emloc.model.WeightNames;

/**
 * The Qwen2-VL vision tower in plain Java doubles, written from the definitions of {@code transformers}'
 * {@code Qwen2VisionTransformerPretrainedModel} one operation at a time (Conv3d, {@code rot_pos_emb} with its
 * reshape/permute, {@code cu_seqlens}, LayerNorm, attention per segment, quick GELU, the merger's erf GELU), to check
 * the DJL implementation against.
 */
final class VisionReference {

    private final VisionConfig config;
    private final long seed;
    private final boolean mergeWindowOrder;

    /**
     * @param mergeWindowOrder true for {@code transformers}' positions; false gives each patch its raster (row-major)
     *                         position instead, a deliberately wrong variant that shows the comparison would notice
     */
    VisionReference(VisionConfig config, long seed, boolean mergeWindowOrder) {
        this.config = config;
        this.seed = seed;
        this.mergeWindowOrder = mergeWindowOrder;
    }

    private double[] w(String name) {
        Map<String, Shape> shapes = WeightNames.visionShapes(config);
        float[] values = VisionFixtures.weight(seed, name, shapes.get(name));
        double[] out = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[i];
        }
        return out;
    }

    /** Merged embeddings {@code [N / (M*M)][hidden]}. */
    double[][] encode(float[] pixels, List<int[]> grids) {
        int n = VisionFixtures.patches(grids);
        double[][] x = patchEmbed(pixels, n);
        int[][] positions = positions(grids);
        int[] cuSeqlens = cuSeqlens(grids);
        for (int b = 0; b < config.depth(); b++) {
            x = block(x, b, positions, cuSeqlens);
        }
        return merger(x);
    }

    /** {@code Conv3d(C -> E, kernel = stride = (T, P, P), bias=False)} over each patch viewed as {@code (C, T, P, P)}. */
    double[][] patchEmbed(float[] pixels, int n) {
        int c = config.inChannels(), t = config.temporalPatchSize(), p = config.patchSize(), e = config.embedDim();
        double[] kernel = w(WeightNames.visionPatchEmbed()); // (E, C, T, P, P)
        double[][] out = new double[n][e];
        for (int patch = 0; patch < n; patch++) {
            for (int oc = 0; oc < e; oc++) {
                double sum = 0;
                for (int ic = 0; ic < c; ic++) {
                    for (int dt = 0; dt < t; dt++) {
                        for (int dy = 0; dy < p; dy++) {
                            for (int dx = 0; dx < p; dx++) {
                                double input = pixels[patch * c * t * p * p + ((ic * t + dt) * p + dy) * p + dx];
                                double weight = kernel[(((oc * c + ic) * t + dt) * p + dy) * p + dx];
                                sum += input * weight;
                            }
                        }
                    }
                }
                out[patch][oc] = sum;
            }
        }
        return out;
    }

    /**
     * {@code rot_pos_emb}'s (h, w) ids: {@code arange(h)} expanded over w, reshaped to {@code (h/M, M, w/M, M)}, permuted
     * {@code (0, 2, 1, 3)} and flattened (likewise for w), stacked and repeated t times.
     */
    int[][] positions(List<int[]> grids) {
        int m = config.spatialMergeSize();
        List<int[]> ids = new ArrayList<>();
        for (int[] grid : grids) {
            int t = grid[0], h = grid[1], wd = grid[2];
            int[] hpos = new int[h * wd];
            int[] wpos = new int[h * wd];
            for (int r = 0; r < h; r++) {
                for (int col = 0; col < wd; col++) {
                    hpos[r * wd + col] = r;
                    wpos[r * wd + col] = col;
                }
            }
            if (mergeWindowOrder) {
                hpos = permute0213(hpos, h / m, m, wd / m, m);
                wpos = permute0213(wpos, h / m, m, wd / m, m);
            }
            for (int frame = 0; frame < t; frame++) {
                for (int i = 0; i < hpos.length; i++) {
                    ids.add(new int[] {hpos[i], wpos[i]});
                }
            }
        }
        return ids.toArray(new int[0][]);
    }

    /** A row-major array viewed as {@code (d0, d1, d2, d3)}, permuted to {@code (d0, d2, d1, d3)} and flattened. */
    private static int[] permute0213(int[] source, int d0, int d1, int d2, int d3) {
        int[] out = new int[source.length];
        int k = 0;
        for (int a0 = 0; a0 < d0; a0++) {
            for (int a2 = 0; a2 < d2; a2++) {
                for (int a1 = 0; a1 < d1; a1++) {
                    for (int a3 = 0; a3 < d3; a3++) {
                        out[k++] = source[((a0 * d1 + a1) * d2 + a2) * d3 + a3];
                    }
                }
            }
        }
        return out;
    }

    /** {@code pad(repeat_interleave(h * w, t).cumsum(), (1, 0))}. */
    static int[] cuSeqlens(List<int[]> grids) {
        List<Integer> lengths = new ArrayList<>();
        for (int[] grid : grids) {
            for (int frame = 0; frame < grid[0]; frame++) {
                lengths.add(grid[1] * grid[2]);
            }
        }
        int[] cu = new int[lengths.size() + 1];
        for (int i = 0; i < lengths.size(); i++) {
            cu[i + 1] = cu[i] + lengths.get(i);
        }
        return cu;
    }

    private double[][] block(double[][] x, int b, int[][] positions, int[] cuSeqlens) {
        double[][] attended = attention(layerNorm(x, w(WeightNames.visionBlock(b, "norm1.weight")),
                w(WeightNames.visionBlock(b, "norm1.bias"))), b, positions, cuSeqlens);
        double[][] h = add(x, attended);
        double[][] normed = layerNorm(h, w(WeightNames.visionBlock(b, "norm2.weight")), w(WeightNames.visionBlock(b, "norm2.bias")));
        double[][] inner = linear(normed, w(WeightNames.visionBlock(b, "mlp.fc1.weight")), w(WeightNames.visionBlock(b, "mlp.fc1.bias")));
        for (double[] row : inner) {
            for (int i = 0; i < row.length; i++) {
                row[i] = row[i] / (1 + Math.exp(-1.702 * row[i])); // quick_gelu: x * sigmoid(1.702 x)
            }
        }
        return add(h, linear(inner, w(WeightNames.visionBlock(b, "mlp.fc2.weight")), w(WeightNames.visionBlock(b, "mlp.fc2.bias"))));
    }

    private double[][] attention(double[][] x, int b, int[][] positions, int[] cuSeqlens) {
        int n = x.length, e = config.embedDim(), heads = config.numHeads(), d = config.headDim();
        double[][] qkv = linear(x, w(WeightNames.visionBlock(b, "attn.qkv.weight")), w(WeightNames.visionBlock(b, "attn.qkv.bias")));
        // reshape(N, 3, H, D): q = qkv[:, 0, h, :], k = qkv[:, 1, h, :], v = qkv[:, 2, h, :]
        double[][][] q = new double[heads][n][];
        double[][][] k = new double[heads][n][];
        double[][][] v = new double[heads][n][d];
        for (int t = 0; t < n; t++) {
            double[] angles = rotaryAngles(positions[t]);
            for (int h = 0; h < heads; h++) {
                double[] qh = new double[d];
                double[] kh = new double[d];
                for (int i = 0; i < d; i++) {
                    qh[i] = qkv[t][h * d + i];
                    kh[i] = qkv[t][e + h * d + i];
                    v[h][t][i] = qkv[t][2 * e + h * d + i];
                }
                q[h][t] = rotate(qh, angles);
                k[h][t] = rotate(kh, angles);
            }
        }
        double[][] out = new double[n][e];
        double scaling = 1 / Math.sqrt(d);
        for (int s = 0; s + 1 < cuSeqlens.length; s++) {
            for (int h = 0; h < heads; h++) {
                for (int i = cuSeqlens[s]; i < cuSeqlens[s + 1]; i++) {
                    double[] scores = new double[cuSeqlens[s + 1] - cuSeqlens[s]];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = cuSeqlens[s]; j < cuSeqlens[s + 1]; j++) {
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += q[h][i][c] * k[h][j][c];
                        }
                        scores[j - cuSeqlens[s]] = dot * scaling;
                        max = Math.max(max, dot * scaling);
                    }
                    double total = 0;
                    for (int j = 0; j < scores.length; j++) {
                        scores[j] = Math.exp(scores[j] - max);
                        total += scores[j];
                    }
                    for (int j = 0; j < scores.length; j++) {
                        for (int c = 0; c < d; c++) {
                            out[i][h * d + c] += scores[j] / total * v[h][cuSeqlens[s] + j][c];
                        }
                    }
                }
            }
        }
        return linear(out, w(WeightNames.visionBlock(b, "attn.proj.weight")), w(WeightNames.visionBlock(b, "attn.proj.bias")));
    }

    /**
     * {@code VisionRotaryEmbedding(D/2)}: {@code inv_freq = 1 / 10000^(arange(0, D/2, 2) / (D/2))}; a patch's angles are
     * {@code cat(h * inv_freq, w * inv_freq)}, then {@code emb = cat(angles, angles)}.
     */
    private double[] rotaryAngles(int[] position) {
        int dim = config.headDim() / 2;
        List<Double> inv = new ArrayList<>();
        for (int i = 0; i < dim; i += 2) {
            inv.add(1.0 / Math.pow(10000.0, (double) i / dim));
        }
        double[] angles = new double[config.headDim()];
        int quarter = inv.size();
        for (int j = 0; j < quarter; j++) {
            angles[j] = position[0] * inv.get(j);
            angles[quarter + j] = position[1] * inv.get(j);
        }
        System.arraycopy(angles, 0, angles, dim, dim);
        return angles;
    }

    /** {@code x * cos + rotate_half(x) * sin}, {@code rotate_half([x1, x2]) = [-x2, x1]}. */
    private static double[] rotate(double[] x, double[] angles) {
        int half = x.length / 2;
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double rotated = i < half ? -x[i + half] : x[i - half];
            out[i] = x[i] * Math.cos(angles[i]) + rotated * Math.sin(angles[i]);
        }
        return out;
    }

    private double[][] merger(double[][] x) {
        int window = config.spatialMergeSize() * config.spatialMergeSize();
        int e = config.embedDim();
        double[][] normed = layerNorm(x, w(WeightNames.visionMerger("ln_q.weight")), w(WeightNames.visionMerger("ln_q.bias")));
        double[][] grouped = new double[x.length / window][window * e]; // view(-1, E * M * M)
        for (int r = 0; r < x.length; r++) {
            System.arraycopy(normed[r], 0, grouped[r / window], (r % window) * e, e);
        }
        double[][] hidden = linear(grouped, w(WeightNames.visionMerger("mlp.0.weight")), w(WeightNames.visionMerger("mlp.0.bias")));
        for (double[] row : hidden) {
            for (int i = 0; i < row.length; i++) {
                row[i] = 0.5 * row[i] * (1 + erf(row[i] / Math.sqrt(2))); // nn.GELU(): exact
            }
        }
        return linear(hidden, w(WeightNames.visionMerger("mlp.2.weight")), w(WeightNames.visionMerger("mlp.2.bias")));
    }

    private static double[][] layerNorm(double[][] x, double[] weight, double[] bias) {
        double[][] out = new double[x.length][];
        for (int r = 0; r < x.length; r++) {
            double mean = 0;
            for (double value : x[r]) {
                mean += value;
            }
            mean /= x[r].length;
            double variance = 0;
            for (double value : x[r]) {
                variance += (value - mean) * (value - mean);
            }
            variance /= x[r].length;
            out[r] = new double[x[r].length];
            for (int i = 0; i < x[r].length; i++) {
                out[r][i] = (x[r][i] - mean) / Math.sqrt(variance + 1e-6) * weight[i] + bias[i];
            }
        }
        return out;
    }

    /** {@code x W^T + b} with {@code W} of shape {@code (out, in)}. */
    private static double[][] linear(double[][] x, double[] weight, double[] bias) {
        int outputs = bias.length;
        int inputs = weight.length / outputs;
        double[][] out = new double[x.length][outputs];
        for (int r = 0; r < x.length; r++) {
            for (int o = 0; o < outputs; o++) {
                double sum = bias[o];
                for (int i = 0; i < inputs; i++) {
                    sum += x[r][i] * weight[o * inputs + i];
                }
                out[r][o] = sum;
            }
        }
        return out;
    }

    private static double[][] add(double[][] a, double[][] b) {
        double[][] out = new double[a.length][a[0].length];
        for (int r = 0; r < a.length; r++) {
            for (int i = 0; i < a[r].length; i++) {
                out[r][i] = a[r][i] + b[r][i];
            }
        }
        return out;
    }

    /**
     * The error function: its Maclaurin series below |x| = 3 (cancellation costs at most e^9 ulps there, ~1e-12), the
     * asymptotic series of erfc above (its first neglected term is below 1e-3 of erfc(3) = 2.2e-5).
     */
    static double erf(double x) {
        double a = Math.abs(x);
        if (a < 3) {
            double sum = 0;
            double term = x; // (-1)^n x^(2n+1) / n!
            for (int n = 0; n < 80; n++) {
                sum += term / (2 * n + 1);
                term *= -x * x / (n + 1);
            }
            return 2 / Math.sqrt(Math.PI) * sum;
        }
        double series = 0;
        double term = 1; // (-1)^n (2n-1)!! / (2x^2)^n
        for (int n = 0; n < 6; n++) {
            series += term;
            term *= -(2 * n + 1) / (2 * a * a);
        }
        double erfc = Math.exp(-a * a) / (a * Math.sqrt(Math.PI)) * series;
        return Math.signum(x) * (1 - erfc);
    }
}

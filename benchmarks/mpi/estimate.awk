# estimate.awk — the speed-up model of benchmarks/results/mpi_scaling.md, from measured per-item and
# per-step costs (one core per rank) and two networks. Run: awk -f estimate.awk
#
# Points (sample, likelihood): T(K) = start(K) + N c / (K E(K)) + (C/K) t_chunk, E(K) the dynamic
#   schedule's efficiency from balance.awk, C = N/b chunks, t_chunk = 2 alpha + b d 8 B / bw + 125 µs
#   (half the longest poll interval of rank 0's service thread).
# Training step: T(K) = g(B/K) + a + d + r(K): shard gradient g of B/K rows, Adam/EMA update a and
#   batch draw d (every rank repeats them), reduction r:
#   ordered: chain of pieces s = clamp(P/K, 4096, 65536) floats, n = ceil(P/s) pieces,
#            (n + K − 2) (alpha + 4 s / bw + s t_add), then a broadcast 1.5 · 4P/bw + log2(K) alpha;
#   allreduce (ring): 2 (K−1)/K · 4P/bw + 2 (K−1) alpha + (K−1)/K · P t_add.
function ceil(x) { return x == int(x) ? x : int(x) + 1 }
function log2(x) { return log(x) / log(2) }
function clamp(x, lo, hi) { return x < lo ? lo : x > hi ? hi : x }
function r_ordered(P, K, alpha, bw,   s, n) {
    if (K == 1) return 0;
    s = clamp(int(P / K), 4096, 65536); n = ceil(P / s);
    return (n + K - 2) * (alpha + 4 * s / bw + s * t_add) + 1.5 * 4 * P / bw + log2(K) * alpha;
}
function r_ring(P, K, alpha, bw) {
    if (K == 1) return 0;
    return 2 * (K - 1) / K * 4 * P / bw + 2 * (K - 1) * alpha + (K - 1) / K * P * t_add;
}
BEGIN {
    t_add = 0.7e-9;                               # s per float added (bench_train_parts)
    net[1] = "10 GbE"; alpha[1] = 25e-6; bw[1] = 1.1e9;
    net[2] = "InfiniBand"; alpha[2] = 2e-6; bw[2] = 11e9;
    split("8 64 512", Ks, " ");
    # ---- training: parts in seconds at 1, 8, 64, 512 ranks (shards of B/K rows), bench_train_parts
    name[1] = "gmm2d MLP 256x3, B = 512"; P[1] = 628034; a[1] = 2.9e-3; d[1] = 0.3e-3;
    g[1, 1] = 26.7e-3; g[1, 8] = 3.67e-3; g[1, 64] = 0.785e-3; g[1, 512] = 0.208e-3;
    name[2] = "Fashion-MNIST MLP 512x3, B = 128"; P[2] = 3237200; a[2] = 21.3e-3; d[2] = 2.2e-3;
    g[2, 1] = 30.7e-3; g[2, 8] = 7.5e-3; g[2, 64] = 5.1e-3; g[2, 512] = -1;
    for (m = 1; m <= 2; m++) {
        T1 = g[m, 1] + a[m] + d[m];
        printf "train %s: P = %d floats (%.2f MB), one rank %.1f ms/step, no-communication ceiling %.1fx\n",
            name[m], P[m], 4 * P[m] / 1e6, 1e3 * T1, T1 / (a[m] + d[m]);
        for (j = 1; j <= 3; j++) {
            K = Ks[j];
            if (g[m, K] < 0) { printf "  K = %3d: batch smaller than K\n", K; continue }
            line = sprintf("  K = %3d: shard %6.2f ms", K, 1e3 * g[m, K]);
            for (i = 1; i <= 2; i++) {
                ro = r_ordered(P[m], K, alpha[i], bw[i]); rr = r_ring(P[m], K, alpha[i], bw[i]);
                line = line sprintf(" | %s: reduce %5.1f ms (ring %5.1f), speed-up %.2f (ring %.2f)", net[i],
                    1e3 * ro, 1e3 * rr, T1 / (g[m, K] + a[m] + d[m] + ro), T1 / (g[m, K] + a[m] + d[m] + rr));
            }
            print line;
        }
    }
    # ---- points: N items of c seconds in chunks of b, d doubles per row; E from balance.awk
    split("gmm2d.sgm ODE samples|gmm2d.sgm likelihoods|Fashion-MNIST MLP PC@100 samples", what, "|");
    N[1] = 100000; c[1] = 0.0139; b[1] = 32; dd[1] = 2;   E[1, 8] = 0.999; E[1, 64] = 0.993; E[1, 512] = 0.875;
    N[2] = 10000;  c[2] = 0.0620; b[2] = 2;  dd[2] = 3;   E[2, 8] = 0.999; E[2, 64] = 0.995; E[2, 512] = 0.954;
    N[3] = 50000;  c[3] = 0.0350; b[3] = 8;  dd[3] = 784; E[3, 8] = 1.0;   E[3, 64] = 0.997; E[3, 512] = 0.976;
    start[8] = 1; start[64] = 2; start[512] = 5;   # s: launch, MPI_Init, model/data loading
    for (m = 1; m <= 3; m++) {
        T1 = N[m] * c[m];
        printf "%d %s (%.1f ms each, chunks of %d): one rank %.0f s\n", N[m], what[m], 1e3 * c[m], b[m], T1;
        for (j = 1; j <= 3; j++) {
            K = Ks[j]; C = ceil(N[m] / b[m]);
            line = sprintf("  K = %3d: %6.1f chunks per rank, balance %.3f", K, C / K, E[m, K]);
            for (i = 1; i <= 2; i++) {
                tc = 2 * alpha[i] + b[m] * dd[m] * 8 / bw[i] + 125e-6;
                T = start[K] + T1 / (K * E[m, K]) + C / K * tc;
                line = line sprintf(" | %s: %.1f s, speed-up %.0f (%.0f%%)", net[i], T, T1 / T, 100 * T1 / T / K);
            }
            print line;
        }
    }
}

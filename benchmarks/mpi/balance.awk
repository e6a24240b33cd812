# balance.awk — load balance of N items in chunks of b over K ranks, from measured per-item costs
# (one number per line of the input, e.g. seconds or NFE per sample). Chunk costs are sums of b
# items drawn with replacement from the measured ones (a bootstrap; srand(seed)). Prints, for each
# K in Ks, the efficiency (ideal time / makespan) of three schedules:
#   static blocks   rank r takes chunks [r·C/K, (r+1)·C/K)
#   static cyclic   rank r takes chunks r, r + K, r + 2K, ...
#   dynamic         the next chunk goes to the first rank that is free (what apps/dist.c does)
# sorted=1 puts the chunks in increasing cost (inputs ordered by difficulty: the worst case for
# static blocks).
# Usage: awk -v N=100000 -v b=32 -v Ks="8 64 512" -v seed=1 [-v sorted=1] -f balance.awk costs.txt
{ cost[n++] = $1; total += $1 }
END {
    srand(seed);
    C = int((N + b - 1) / b);
    for (c = 0; c < C; c++) {
        s = 0;
        items = (c < C - 1 || N % b == 0) ? b : N % b;
        for (i = 0; i < items; i++)
            s += cost[int(rand() * n)];
        chunk[c] = s;
        all += s;
    }
    if (sorted) # insertion sort of the C chunk costs
        for (c = 1; c < C; c++) {
            v = chunk[c];
            for (i = c - 1; i >= 0 && chunk[i] > v; i--)
                chunk[i + 1] = chunk[i];
            chunk[i + 1] = v;
        }
    printf "per item: mean %.4g, cv %.3f (%d measured); %d chunks of %d%s\n", total / n, cv(), n, C, b,
        sorted ? ", in increasing cost" : "";
    k_count = split(Ks, list, " ");
    for (j = 1; j <= k_count; j++) {
        K = list[j];
        for (r = 0; r < K; r++) blk[r] = cyc[r] = dyn[r] = 0;
        for (c = 0; c < C; c++) {
            blk[int(c * K / C)] += chunk[c];
            cyc[c % K] += chunk[c];
            best = 0;
            for (r = 1; r < K; r++) if (dyn[r] < dyn[best]) best = r;
            dyn[best] += chunk[c];
        }
        mb = mc = md = 0;
        for (r = 0; r < K; r++) { mb = max(mb, blk[r]); mc = max(mc, cyc[r]); md = max(md, dyn[r]) }
        ideal = all / K;
        printf "K = %4d: %6.1f chunks per rank; efficiency static blocks %.3f, static cyclic %.3f, dynamic %.3f\n",
            K, C / K, ideal / mb, ideal / mc, ideal / md;
    }
}
function max(a, b) { return a > b ? a : b }
function cv(   i, m, q) { m = total / n; for (i = 0; i < n; i++) q += (cost[i] - m) ^ 2; return sqrt(q / n) / m }

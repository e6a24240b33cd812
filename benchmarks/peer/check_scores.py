#!/usr/bin/python3
"""check_scores — do the C network and the peer give the same scores and VJPs for the same inputs?

For each .sgm file given, draws inputs (t log-uniform in [1e-3, 1] plus the ends, x ~ N(0, 2² I),
Rademacher v), asks `peer_cbench scores` for s(x, t) and vᵀ∂s/∂x from the C library (EMA weights),
computes the same with sgm_peer (score by get_score_fn, VJP by torch.autograd.grad), and compares
row by row: err = max_j |a_j − b_j| / max(max_j |a_j|, tiny). Exits 1 if any row exceeds the
tolerance, 0 otherwise; prints one line per model.

Tolerance 2e-4 (≈ 1700 float32 ulps), from the error budget of two float32 evaluations that differ
in summation order: the Fourier argument 2π·W·τ reaches |W|·2π ≈ 300 rad (VE: ×4.6), whose float32
rounding alone moves sin/cos by up to ~3e-5 (1.5e-4 for VE); dot products of length K = 1024 in
different orders differ by ~√K·ε ≈ 4e-6 relative per layer over ~8 layers; the score's 1/std(t)
and the VJP's backward pass add no cancellation beyond that. A mismatch of layout or weights (a
transposed matrix, raw instead of EMA weights, a wrong time input) gives errors of order 1.

  check_scores.py --cbench build/benchmarks/peer/peer_cbench MODEL.sgm [MODEL.sgm ...]
"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgm_peer  # noqa: E402

TOLERANCE = 2e-4


def write_f64(path, a):
    a = np.ascontiguousarray(a, dtype="<f8")
    with open(path, "wb") as f:
        f.write(struct.pack("<QQ", a.shape[0], a.shape[1]))
        f.write(a.tobytes())


def read_f64(path):
    with open(path, "rb") as f:
        rows, cols = struct.unpack("<QQ", f.read(16))
        return np.frombuffer(f.read(), dtype="<f8").reshape(rows, cols)


def peer_scores(path, t, x, v):
    model, cfg, _ = sgm_peer.load_model(path)
    sde = sgm_peer.make_sde(cfg)
    score_fn = sgm_peer.get_score_fn(sde, model)
    tt = torch.from_numpy(t.astype(np.float32))
    xx = torch.from_numpy(x.astype(np.float32)).requires_grad_(True)
    vv = torch.from_numpy(v.astype(np.float32))
    s = score_fn(xx, tt)
    (g,) = torch.autograd.grad(torch.sum(s * vv), xx)
    return s.detach().numpy().astype(np.float64), g.numpy().astype(np.float64)


def row_errors(a, b):
    scale = np.maximum(np.max(np.abs(a), axis=1), 1e-30)
    return np.max(np.abs(a - b), axis=1) / scale


def check(cbench, path, rows, seed, threads):
    model, cfg, _ = sgm_peer.load_model(path)
    D = cfg["channels"] * cfg["height"] * cfg["width"]
    rng = np.random.default_rng(seed)
    t = np.exp(rng.uniform(np.log(1e-3), 0.0, rows))
    t[0], t[1] = 1e-3, 1.0
    x = rng.normal(0.0, 2.0, (rows, D))
    v = rng.integers(0, 2, (rows, D)) * 2.0 - 1.0
    with tempfile.TemporaryDirectory() as tmp:
        fin, fout = os.path.join(tmp, "in.f64"), os.path.join(tmp, "out.f64")
        write_f64(fin, np.concatenate([t[:, None], x, v], axis=1))
        subprocess.run([cbench, "scores", "--model", path, "--in", fin, "--out", fout,
                        "--threads", str(threads)], check=True)
        out = read_f64(fout)
    s_c, g_c = out[:, :D], out[:, D:]
    s_p, g_p = peer_scores(path, t, x, v)
    e_s, e_g = row_errors(s_c, s_p), row_errors(g_c, g_p)
    ok = e_s.max() <= TOLERANCE and e_g.max() <= TOLERANCE
    print(f"{'ok  ' if ok else 'FAIL'} {os.path.basename(path)}: {sgm_peer.SDE_NAMES[cfg['sde']]} D={D} "
          f"H={cfg['hidden']} blocks={cfg['n_blocks']} layer_norm={cfg['layer_norm']}: {rows} rows, "
          f"max relative error score {e_s.max():.2e}, vjp {e_g.max():.2e} (tolerance {TOLERANCE:.0e})")
    return ok, float(e_s.max()), float(e_g.max())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cbench", required=True)
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--csv", help="append one row per model to this CSV")
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    all_ok = True
    results = []
    for k, path in enumerate(a.models):
        ok, es, eg = check(a.cbench, path, a.rows, a.seed + k, a.threads)
        all_ok &= ok
        results.append((os.path.basename(path), es, eg, ok))
    if a.csv:
        with open(a.csv, "w") as f:
            f.write("model,max_rel_err_score,max_rel_err_vjp,tolerance,ok\n")
            for name, es, eg, ok in results:
                f.write(f"{name},{es:.3e},{eg:.3e},{TOLERANCE:.0e},{int(ok)}\n")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())

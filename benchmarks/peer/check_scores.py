#!/usr/bin/python3
"""check_scores — do the C network and the peer give the same scores and VJPs for the same inputs?

For each .sgm file (or `scoresde train` checkpoint) given, draws inputs, asks `peer_cbench scores`
for s(x, t) and vᵀ∂s/∂x from the C library (EMA weights), computes the same with sgm_peer (score by
get_score_fn, VJP by torch.autograd.grad), and compares row by row:
err = max_j |a_j − b_j| / max(max_j |a_j|, tiny). Exits 1 if any row exceeds the tolerance, 0
otherwise; prints one line per model.

Inputs. MLP: --rows rows, t log-uniform in [1e-3, 1] plus the ends, x ~ N(0, 2² I), Rademacher v.
U-Net: --unet-images Fashion-MNIST test images (from --images, the IDX directory; N(0, 1) pixels
in model space if it is missing), each at every t of UNET_TIMES, perturbed as the SDE perturbs
data, x = m(t)·x0 + s(t)·z with x0 = data_scale·(k + u) + data_shift; Rademacher v.

MLP tolerance 2e-4 (≈ 1700 float32 ulps), from the error budget of two float32 evaluations that differ
in summation order: the Fourier argument 2π·W·τ reaches |W|·2π ≈ 300 rad (VE: ×4.6), whose float32
rounding alone moves sin/cos by up to ~3e-5 (1.5e-4 for VE); dot products of length K = 1024 in
different orders differ by ~√K·ε ≈ 4e-6 relative per layer over ~8 layers; the score's 1/std(t)
and the VJP's backward pass add no cancellation beyond that. A mismatch of layout or weights (a
transposed matrix, raw instead of EMA weights, a wrong time input) gives errors of order 1.

U-Net tolerance 3e-5. Both sides form the Fourier argument in float64, so the features agree to an
ulp; what is left is float32 rounding in a different order — convolutions of reduction length
9·C_in ≤ 864, GroupNorm statistics (float64 in C, float32 in torch), SiLU's expf — which the
network's conditioning amplifies near the data: r(x, t) recovers the noise z from x = m x0 + s z,
so ∂r/∂x grows like 1/s(t) (s(1e-3) ≈ 0.01 for VP). Measured on the base-32 3-level checkpoint
(step 11550, 4 seeds of 8 images): against a float64 evaluation of the same weights, the C side's
own error at t = 1e-3 is up to 8.6e-6 and the peer's 5.5e-6, and C − peer reaches 0.8–1.0e-5
there; at t ≥ 0.01 it stays ≤ 3.5e-6, at t ≥ 0.1 ≤ 7e-7. The tolerance is twice the sum of the
two sides' float32 errors at t = 1e-3 (≈ 1.5e-5). Mistakes it catches,
measured: GroupNorm with 4 groups instead of 8, 1.1; two blocks' time-shift columns swapped, 0.67;
bilinear instead of nearest upsampling, 0.19; raw weights instead of EMA, 0.24; GroupNorm eps 1e-6
instead of 1e-5, 7e-5. The line printed also gives the maximum over t ≥ 0.01.

  check_scores.py --cbench build/benchmarks/peer/peer_cbench MODEL.sgm [MODEL.sgm ...]
"""
import argparse
import gzip
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgm_peer  # noqa: E402

TOLERANCE = 2e-4          # MLP
TOLERANCE_UNET = 3e-5     # U-Net (see the docstring)
UNET_TIMES = (1e-3, 1e-2, 0.1, 0.3, 0.6, 1.0)


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


def read_idx_images(directory, count, rng):
    """count Fashion-MNIST test images (uint8, (count, 784)) chosen by rng, or None if the file is missing."""
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            raw = (gzip.open if name.endswith(".gz") else open)(path, "rb").read()
            n, h, w = struct.unpack_from(">III", raw, 4)
            pixels = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, h * w)
            return pixels[rng.choice(n, count, replace=False)]
    return None


def unet_inputs(cfg, sde, images_dir, count, rng):
    """(t, x, v, source): each image at every t of UNET_TIMES, perturbed as the SDE perturbs data."""
    D = cfg["channels"] * cfg["height"] * cfg["width"]
    pixels = read_idx_images(images_dir, count, rng) if D == 784 else None
    if pixels is not None:
        x0 = cfg["data_scale"] * (pixels + rng.uniform(0.0, 1.0, pixels.shape)) + cfg["data_shift"]
        source = f"{count} Fashion-MNIST test images"
    else:
        x0 = rng.normal(0.0, 1.0, (count, D))
        source = f"{count} N(0, 1) images"
    t = np.repeat(np.array(UNET_TIMES), count)
    x0 = np.tile(x0, (len(UNET_TIMES), 1))
    mean, std = sde.marginal_prob(torch.from_numpy(x0), torch.from_numpy(t))
    x = mean.double().numpy() + std.double().numpy()[:, None] * rng.normal(0.0, 1.0, x0.shape)
    v = rng.integers(0, 2, x.shape) * 2.0 - 1.0
    return t, x, v, source + f" × {len(UNET_TIMES)} times"


def row_errors(a, b):
    scale = np.maximum(np.max(np.abs(a), axis=1), 1e-30)
    return np.max(np.abs(a - b), axis=1) / scale


def check(cbench, path, rows, seed, threads, images_dir, unet_images):
    model, cfg, _ = sgm_peer.load_model(path)
    D = cfg["channels"] * cfg["height"] * cfg["width"]
    rng = np.random.default_rng(seed)
    unet = cfg["arch"] == 2
    if unet:
        t, x, v, source = unet_inputs(cfg, sgm_peer.make_sde(cfg), images_dir, unet_images, rng)
        rows, tolerance = len(t), TOLERANCE_UNET
    else:
        t = np.exp(rng.uniform(np.log(1e-3), 0.0, rows))
        t[0], t[1] = 1e-3, 1.0
        x = rng.normal(0.0, 2.0, (rows, D))
        v = rng.integers(0, 2, (rows, D)) * 2.0 - 1.0
        tolerance = TOLERANCE
    with tempfile.TemporaryDirectory() as tmp:
        fin, fout = os.path.join(tmp, "in.f64"), os.path.join(tmp, "out.f64")
        write_f64(fin, np.concatenate([t[:, None], x, v], axis=1))
        subprocess.run([cbench, "scores", "--model", path, "--in", fin, "--out", fout,
                        "--threads", str(threads)], check=True)
        out = read_f64(fout)
    s_c, g_c = out[:, :D], out[:, D:]
    s_p, g_p = peer_scores(path, t, x, v)
    e_s, e_g = row_errors(s_c, s_p), row_errors(g_c, g_p)
    ok = e_s.max() <= tolerance and e_g.max() <= tolerance
    if unet:
        later = t >= 0.01
        net = (f"unet base={cfg['base_channels']} levels={cfg['n_levels']} groups={cfg['n_groups']}: {rows} rows "
               f"({source}; at t >= 0.01: score {e_s[later].max():.2e}, vjp {e_g[later].max():.2e})")
    else:
        net = f"H={cfg['hidden']} blocks={cfg['n_blocks']} layer_norm={cfg['layer_norm']}: {rows} rows"
    print(f"{'ok  ' if ok else 'FAIL'} {os.path.basename(path)}: {sgm_peer.SDE_NAMES[cfg['sde']]} D={D} {net}, "
          f"max relative error score {e_s.max():.2e}, vjp {e_g.max():.2e} (tolerance {tolerance:.0e})")
    return ok, float(e_s.max()), float(e_g.max()), tolerance


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cbench", required=True)
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", default="/usr/share/datasets/fashion-mnist",
                    help="Fashion-MNIST IDX directory (U-Net inputs)")
    ap.add_argument("--unet-images", type=int, default=8, help="images per U-Net model (each at every t)")
    ap.add_argument("--csv", help="append one row per model to this CSV")
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    all_ok = True
    results = []
    for k, path in enumerate(a.models):
        ok, es, eg, tol = check(a.cbench, path, a.rows, a.seed + k, a.threads, a.images, a.unet_images)
        all_ok &= ok
        results.append((os.path.basename(path), es, eg, tol, ok))
    if a.csv:
        with open(a.csv, "w") as f:
            f.write("model,max_rel_err_score,max_rel_err_vjp,tolerance,ok\n")
            for name, es, eg, tol, ok in results:
                f.write(f"{name},{es:.3e},{eg:.3e},{tol:.0e},{int(ok)}\n")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""peer_bench — the peer side of the peer benchmark: times sgm_peer's samplers, likelihood, network
and training steps, printing the same key=value lines as peer_cbench (run_peer.py runs both).

  peer_bench.py net        --model M --batches 1,64,256,1024 --seconds S [--csv OUT] [--name NAME]
                           [--modes forward,forward+vjp,train_step] [--train-batches B1,B2]
  peer_bench.py pc         --model M --num N --batch B --predictor P --corrector C [--N steps]
  peer_bench.py ode        --model M (--in Z.f64 | --num N) --batch B [--rtol R --atol A] [--out X.f64]
                           (--num: N latents drawn from the prior inside the timed job, torch seed
                           --seed, as the official sampler draws them)
  peer_bench.py encode     --model M --in X.f64 --batch B [--rtol R --atol A] [--out Z.f64]
  peer_bench.py likelihood --model M --in X.f64 --batch B [--rtol R --atol A] [--out L.f64]
                           [--divergence rademacher|gaussian|exact] (exact: not official, for the
                           bits/dim agreement check only)
  common: --threads T (torch.set_num_threads; default 2) --seed S --repeat R (fastest of R runs)
          --median (net: the median of the 5 timing rounds, as bench_unet, not the fastest)
          --malloc-heap (opt-in: glibc keeps freed memory in its heap, see below)

Network time: every call of the score function, and of the Hutchinson divergence (forward +
autograd backward), is timed; calls nested inside a timed call count once. FLOPs are counted as
peer_cbench and bench_scorenet count them (2 per multiply–add of the matrix products).
The samplers run the official way: the whole batch of a round in one tensor (rounds of --batch
when --num is larger, as the official run_sampling loops over rounds).
`encode` has no official counterpart (the official code reads a point's latent off likelihood_fn, which
integrates the divergence beside it): it is the ODE sampler's probability-flow ODE, solve_ivp(RK45) on
the flattened batch from eps = 1e-3 up to T, no denoising — what `scoresde encode` integrates.

Any model the peer loads works here, the MLP or the U-Net (`--arch unet`; sgm_peer.ScoreUNet). `net`
on a U-Net times, at --batches (default 64,256 for a U-Net, 1,64,256,1024 for an MLP):
  forward       the score s(x, t) = −r/s(t) (VP, sub-VP) or r/σ(t) (VE), under torch.no_grad
  forward+vjp   the score and vᵀ∂s/∂x for a random cotangent v (torch.autograd.grad), as the
                likelihood's Hutchinson divergence needs
  train_step    one official training step (sgm_peer.Trainer: DSM loss, backward, clip_grad_norm_,
                Adam, EMA update), at --train-batches (default: --batches)
  forward+backward  (not in the default --modes) r's forward and backward with parameter gradients
                against a fixed cotangent, nothing else: what bench_unet's "train step" times
with FLOPs as benchmarks/scorenet_unet/bench_unet counts them: the forward's convolutions and dense
layers (sgm_peer.unet_forward_flops = snet_unet.c's forward_flops), 2× that for forward+vjp, 3× for
the training step. Rows print and land in --csv exactly as the MLP's, with `hidden` = the U-Net's
base channels and `blocks` = its levels. bench_unet names its rows "forward", "forward+VJP" and
"train step" (forward + backward with parameter gradients, no loss, optimizer or EMA: the peer's
forward+backward; the peer's train_step corresponds to bench_scorenet's train_step, which includes
Adam and the EMA).

--malloc-heap sets glibc's M_MMAP_THRESHOLD and M_TRIM_THRESHOLD to 1 GiB (mallopt), as
MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_ would: by default every activation above glibc's
dynamic threshold is a fresh mmap, and its first touch page-faults, on each call. On the U-Net at
batch 64 (base 8, 1 thread) that made the no_grad forward 2–3× slower than the same forward with
autograd on (whose tensors are freed in another order), and every U-Net row spend ~30% of its time
in the kernel; with the flag both forwards took the same ~19 ms. Off by default: the official stack runs on the
default allocator (PyTorch's CPU tuning guides suggest jemalloc or tcmalloc instead).
"""
import argparse
import math
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
from scipy import integrate

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sgm_peer  # noqa: E402


def write_f64(path, a):
    a = np.ascontiguousarray(a, dtype="<f8")
    with open(path, "wb") as f:
        f.write(struct.pack("<QQ", a.shape[0], a.shape[1]))
        f.write(a.tobytes())


def read_f64(path):
    with open(path, "rb") as f:
        rows, cols = struct.unpack("<QQ", f.read(16))
        return np.frombuffer(f.read(), dtype="<f8").reshape(rows, cols).copy()


# ---- FLOPs (as snet_mlp.c's forward_flops and bench_scorenet) ------------------------------------

def dims(cfg):
    return cfg["channels"] * cfg["height"] * cfg["width"], cfg["hidden"], cfg["n_fourier"], cfg["n_blocks"]


def is_unet(cfg):
    return cfg["arch"] == 2


def forward_flops(cfg, B):
    if is_unet(cfg):
        return sgm_peer.unet_forward_flops(cfg, B)
    D, H, Fn, nb = dims(cfg)
    macs = H * 2 * Fn + nb * H * H + H * D + nb * 2 * H * H + D * H
    return 2.0 * macs * B


def vjp_flops(cfg, B):
    if is_unet(cfg):  # as bench_unet: the input-gradient GEMMs mirror the forward's
        return 2.0 * forward_flops(cfg, B)
    D, H, _, nb = dims(cfg)
    return forward_flops(cfg, B) + 2.0 * B * (D * H + nb * 2.0 * H * H + H * D)


# ---- timing of the network calls -------------------------------------------------------------------

class NetTimer:
    def __init__(self, cfg):
        self.cfg, self.seconds, self.calls, self.flop, self.depth = cfg, 0.0, 0, 0.0, 0

    def wrap(self, fn, flops):
        def timed(x, t, *rest):
            self.depth += 1
            t0 = time.perf_counter()
            try:
                return fn(x, t, *rest)
            finally:
                self.depth -= 1
                if self.depth == 0:
                    self.seconds += time.perf_counter() - t0
                    self.calls += 1
                    self.flop += flops(self.cfg, x.shape[0])
        return timed


def install_timer(cfg):
    timer = NetTimer(cfg)
    orig_score, orig_div, orig_exact = sgm_peer.get_score_fn, sgm_peer.get_div_fn, sgm_peer.exact_div_fn
    sgm_peer.get_score_fn = lambda sde, model: timer.wrap(orig_score(sde, model), forward_flops)
    sgm_peer.get_div_fn = lambda fn: timer.wrap(orig_div(fn), vjp_flops)
    sgm_peer.exact_div_fn = lambda fn: timer.wrap(orig_exact(fn), lambda cfg, B: forward_flops(cfg, B) + (
        vjp_flops(cfg, B) - forward_flops(cfg, B)) * dims(cfg)[0])
    return timer


def maxrss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def best_of(repeat, timer, fn):
    """Runs fn() repeat times; returns (fastest wall time, fn's result of that run, timer counts of that run)."""
    best = None
    for _ in range(repeat):
        timer.seconds, timer.calls, timer.flop = 0.0, 0, 0.0
        t0 = time.perf_counter()
        result = fn()
        wall = time.perf_counter() - t0
        if best is None or wall < best[0]:
            best = (wall, result, (timer.seconds, timer.calls, timer.flop))
    timer.seconds, timer.calls, timer.flop = best[2]
    return best[0], best[1]


def report(what, wall, timer, nfe, extra=""):
    print(f"bench={what} wall_s={wall:.6f} net_s={timer.seconds:.6f} net_calls={timer.calls} nfe={nfe} "
          f"net_gflop={timer.flop * 1e-9:.6f} maxrss_kb={maxrss_kb()}{extra}", flush=True)


# ---- commands ----------------------------------------------------------------------------------------

def cmd_pc(a):
    model, cfg, _ = sgm_peer.load_model(a.model)
    sde = sgm_peer.make_sde(cfg, N=a.N or 1000)
    timer = install_timer(cfg)
    D = dims(cfg)[0]
    def sample():
        torch.manual_seed(a.seed)
        out, nfe = [], 0
        for first in range(0, a.num, a.batch):
            n = min(a.batch, a.num - first)
            x, nfe = sgm_peer.pc_sampler(sde, model, (n, D), predictor=a.predictor, corrector=a.corrector)
            if a.out:
                out.append(x.numpy())
        return out, nfe

    wall, (out, nfe) = best_of(a.repeat, timer, sample)
    report("pc", wall, timer, nfe)
    if a.out:
        write_f64(a.out, np.concatenate(out))


def cmd_ode(a):
    model, cfg, _ = sgm_peer.load_model(a.model)
    sde = sgm_peer.make_sde(cfg)
    timer = install_timer(cfg)
    z = read_f64(a.input) if a.input else None  # None: --num latents from the prior, drawn by ode_sampler
    num, D = (z.shape[0] if z is not None else a.num), dims(cfg)[0]

    def sample():
        torch.manual_seed(a.seed)
        out, nfes, steps, rejected = [], [], 0, 0
        for first in range(0, num, a.batch):
            n = min(a.batch, num - first)
            zz = torch.from_numpy(z[first:first + n]).float() if z is not None else None
            st = {}
            x, nfe = sgm_peer.ode_sampler(sde, model, (n, D), z=zz, rtol=a.rtol, atol=a.atol, stats=st)
            out.append(x.numpy())
            nfes.append(nfe)
            steps, rejected = steps + st["steps"], rejected + st["rejected"]
        return out, nfes, steps, rejected

    wall, (out, nfes, steps, rejected) = best_of(a.repeat, timer, sample)
    # NFE: the integrator's count (+1 for the denoising step, as the C side counts it)
    report("ode", wall, timer, max(nfes) + 1,
           f" nfe_mean={np.mean(nfes) + 1:.2f} steps={steps} rejected={rejected}")
    if a.out:
        write_f64(a.out, np.concatenate(out))


def encode(sde, model, x, rtol=1e-5, atol=1e-5, eps=1e-3, stats=None):
    """Latents at T of x (B, D) at eps: ode_sampler's probability-flow ODE integrated forward. Returns (z, nfe)."""
    score_fn = sgm_peer.get_score_fn(sde, model)
    rsde = sde.reverse(score_fn, probability_flow=True)
    shape = tuple(x.shape)
    with torch.no_grad():
        def ode_func(t, y):
            xx = torch.from_numpy(y.reshape(shape)).type(torch.float32)
            return rsde.sde(xx, torch.ones(shape[0]) * t)[0].detach().cpu().numpy().reshape((-1,))

        solution = integrate.solve_ivp(ode_func, (eps, sde.T), x.detach().cpu().numpy().reshape((-1,)),
                                       rtol=rtol, atol=atol, method="RK45")
    sgm_peer._solve_stats(solution, stats)
    return solution.y[:, -1].reshape(shape), solution.nfev


def cmd_encode(a):
    model, cfg, _ = sgm_peer.load_model(a.model)
    sde = sgm_peer.make_sde(cfg)
    timer = install_timer(cfg)
    x = read_f64(a.input)

    def run():
        out, nfes, steps, rejected = [], [], 0, 0
        for first in range(0, x.shape[0], a.batch):
            st = {}
            z, nfe = encode(sde, model, torch.from_numpy(x[first:first + a.batch]).float(), a.rtol, a.atol, stats=st)
            out.append(z)
            nfes.append(nfe)
            steps, rejected = steps + st["steps"], rejected + st["rejected"]
        return out, nfes, steps, rejected

    wall, (out, nfes, steps, rejected) = best_of(a.repeat, timer, run)
    report("encode", wall, timer, max(nfes), f" nfe_mean={np.mean(nfes):.2f} steps={steps} rejected={rejected}")
    if a.out:
        write_f64(a.out, np.concatenate(out))


def cmd_likelihood(a):
    model, cfg, _ = sgm_peer.load_model(a.model)
    sde = sgm_peer.make_sde(cfg)
    timer = install_timer(cfg)
    x = read_f64(a.input)
    offset = 0.0
    if cfg["quantized"]:
        offset = float(np.log2(256.0 / (256.0 * cfg["data_scale"])))  # 7 for [-1, 1]
    kind = {"rademacher": "Rademacher", "gaussian": "Gaussian", "exact": "Exact"}[a.divergence]

    def evaluate():
        gen = torch.Generator().manual_seed(a.seed)  # the same probes in every repeat
        bpds, nfes, steps, rejected = [], [], 0, 0
        for first in range(0, x.shape[0], a.batch):
            data = torch.from_numpy(x[first:first + a.batch]).float()
            st = {}
            bpd, _, nfe = sgm_peer.likelihood(sde, model, data, hutchinson_type=kind, rtol=a.rtol, atol=a.atol,
                                              bpd_offset=offset, generator=gen, stats=st)
            bpds.append(bpd.numpy())
            nfes += [nfe] * data.shape[0]
            steps, rejected = steps + st["steps"], rejected + st["rejected"]
        return bpds, nfes, steps, rejected

    wall, (bpds, nfes, steps, rejected) = best_of(a.repeat, timer, evaluate)
    bpd = np.concatenate(bpds)
    report("likelihood", wall, timer, max(nfes),
           f" nfe_mean={np.mean(nfes):.2f} bpd={bpd.mean():.6f} steps={steps} rejected={rejected}")
    if a.out:
        D = dims(cfg)[0]
        logp = -(bpd - offset) * D * np.log(2)
        write_f64(a.out, np.stack([logp, bpd, np.array(nfes, dtype=float)], axis=1))


def best_time(fn, budget, median=False):
    """Best time per call over 5 rounds of >= budget/5 seconds each, after one warm-up call (as
    bench_scorenet); median=True: the median round instead (as bench_unet's median of its calls)."""
    fn()
    per_call = []
    for _ in range(5):
        reps, t0 = 0, time.perf_counter()
        while True:
            fn()
            reps += 1
            t = time.perf_counter() - t0
            if t >= budget / 5:
                break
        per_call.append(t / reps)
    return float(np.median(per_call)) if median else min(per_call)


def cmd_net(a):
    model, cfg, _ = sgm_peer.load_model(a.model)
    sde = sgm_peer.make_sde(cfg)
    score_fn = sgm_peer.get_score_fn(sde, model)
    D, H, _, nb = dims(cfg)
    if is_unet(cfg):  # the table's width and depth columns: base channels and levels
        H, nb = cfg["base_channels"], cfg["n_levels"]
    rows = []
    modes = a.modes.split(",")
    batches = [int(b) for b in (a.batches or ("64,256" if is_unet(cfg) else "1,64,256,1024")).split(",")]
    train_batches = [int(b) for b in a.train_batches.split(",")] if a.train_batches else batches
    for B in sorted(set(batches) | (set(train_batches) if "train_step" in modes else set())):
        g = torch.Generator().manual_seed(B)
        x = torch.rand(B, D, generator=g) * 2 - 1
        v = torch.rand(B, D, generator=g) * 2 - 1
        t = 0.01 + 0.98 * torch.arange(B, dtype=torch.float32) / B

        def forward():
            with torch.no_grad():
                score_fn(x, t)

        def forward_vjp():
            xx = x.detach().requires_grad_(True)
            s = score_fn(xx, t)
            torch.autograd.grad(torch.sum(s * v), xx)

        train_model, _, _ = sgm_peer.load_model(a.model)
        trainer = sgm_peer.Trainer(sde, train_model, warmup=0) if "train_step" in modes else None
        data = torch.randn(B, D, generator=g)

        def train_step():
            trainer.train_step(data)

        tau = t if not isinstance(sde, sgm_peer.VESDE) else (
            math.log(sde.sigma_min) + t.double() * math.log(sde.sigma_max / sde.sigma_min)).float()

        def forward_backward():
            train_model.zero_grad(set_to_none=False)
            torch.autograd.backward(train_model(x, tau), v)

        table = {"forward": (forward, forward_flops(cfg, B)), "forward+vjp": (forward_vjp, vjp_flops(cfg, B)),
                 "train_step": (train_step, 3.0 * forward_flops(cfg, B)),
                 "forward+backward": (forward_backward, 3.0 * forward_flops(cfg, B))}
        for mode in modes:
            if B not in (train_batches if mode == "train_step" else batches):
                continue
            fn, flop = table[mode]
            tm = best_time(fn, a.seconds, a.median)
            rows.append((a.name, D, H, nb, B, mode, a.threads, B / tm, flop / tm * 1e-9))
            print(f"{a.name:10s} {B:5d} {H:6d} {mode:12s} {B / tm:12.0f} {flop / tm * 1e-9:9.2f}", flush=True)
    if a.csv:
        new = not os.path.exists(a.csv)
        with open(a.csv, "a") as f:
            if new:
                f.write("model,dim,hidden,blocks,batch,mode,threads,samples_per_s,gflops\n")
            for r in rows:
                f.write("%s,%d,%d,%d,%d,%s,%d,%.1f,%.3f\n" % r)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["net", "pc", "ode", "encode", "likelihood"])
    ap.add_argument("--model", required=True)
    ap.add_argument("--in", dest="input")
    ap.add_argument("--out")
    ap.add_argument("--num", type=int, default=256)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--N", type=int, default=0)
    ap.add_argument("--predictor", default="reverse_diffusion")
    ap.add_argument("--corrector", default="langevin")
    ap.add_argument("--rtol", type=float, default=1e-5)
    ap.add_argument("--atol", type=float, default=1e-5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="run the sampling this many times, report the fastest")
    ap.add_argument("--batches", help="net: batches (default 1,64,256,1024; U-Net 64,256)")
    ap.add_argument("--train-batches", help="net: batches of train_step (default: --batches)")
    ap.add_argument("--modes", default="forward,forward+vjp,train_step",
                    help="net: any of forward, forward+vjp, train_step, forward+backward")
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--divergence", default="rademacher", choices=["rademacher", "gaussian", "exact"])
    ap.add_argument("--csv")
    ap.add_argument("--name", default="model")
    ap.add_argument("--median", action="store_true",
                    help="net: the median of the 5 timing rounds (as bench_unet) instead of the fastest")
    ap.add_argument("--malloc-heap", action="store_true",
                    help="keep freed memory in glibc's heap (no per-tensor mmap and page faults)")
    a = ap.parse_args()
    if a.malloc_heap:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        if not (libc.mallopt(M_MMAP_THRESHOLD, 1 << 30) and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)):
            sys.exit("peer_bench: mallopt refused the thresholds (--malloc-heap)")
    torch.set_num_threads(a.threads)
    {"net": cmd_net, "pc": cmd_pc, "ode": cmd_ode, "encode": cmd_encode,
     "likelihood": cmd_likelihood}[a.command](a)


if __name__ == "__main__":
    main()

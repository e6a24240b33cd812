#!/usr/bin/python3
"""run_peer — scoresde beside the official algorithms' stack (PyTorch + scipy), in one run.

Runs every comparison of issue 6 with both sides on 2 threads, alternating C and peer runs so that
the machine's load falls on both, and writes to --results (default benchmarks/results/):
  peer_check.csv            score/VJP agreement of the C network and the peer (the run stops on a
                            mismatch)
  peer_network.csv          forward, forward+VJP and training-step throughput, batch 1..1024, 2-D and
                            784-d MLPs (C: bench_scorenet's CSV, same run), with the sgemm peak
  peer_pc.csv               PC sampler, 1000 steps (reverse diffusion + Langevin; Euler–Maruyama)
  peer_ode.csv              probability-flow ODE sampler on shared latents: NFE, steps, wall time and
                            error against a tight reference, rtol = atol in 1e-3..1e-6 (work–precision)
  peer_ode_control.csv      the same solves with ARKODE called directly under its default and under
                            scipy-like step-size control (where the NFE difference comes from)
  peer_likelihood.csv       likelihood of a test batch: bits/dim (Rademacher probes; exact trace for
                            the agreement check), NFE, wall time
  peer_training.csv         training steps per second, same batch and architecture
  peer_scaling_samples.csv  time and max RSS against the number of samples (C: the scoresde CLI)
  peer_scaling_dim.csv      time and max RSS against the data dimension (hidden 256 MLPs)
  peer_omp_policy.csv       the peer with OpenMP's default (spinning) wait policy, for reference
  peer_unet.csv             U-Net (base 32, 3 levels, Fashion-MNIST shape) forward, forward+VJP and training
                            step (forward + backward with parameter gradients; the peer's full train_step
                            beside it), batch 64 and 256 (C: bench_unet; peer: --malloc-heap)
  peer_fmnist.csv           the shipped Fashion-MNIST U-Net (models/fashion_mnist.sgm) end to end: the CLI's
                            `sample --sampler ode` (default and --joint), `decode`, `encode`, `likelihood`
                            (default and --joint) and `sample --sampler pc` as whole scoresde processes beside
                            the peer's same job (in-process, and its process time); NFE, agreement; decode and
                            encode at equal accuracy: both sides' RMS error against a reference (C at rtol = atol
                            = 1e-8, cached in WORK), C again at a tighter tolerance where its error is the larger,
                            and its time at the peer's error interpolated between its two runs
  peer_unet_detected.csv,   with --detected-kernel, when OPENBLAS_CORETYPE forces a kernel: the same two
  peer_fmnist_detected.csv  sections run again without the variable (C and peer), on the kernel OpenBLAS detects
  peer_profile.csv          perf profile by shared object of one PC run on each side (if perf works)
  peer_report.md            the ratio table, goals, machine, versions, date
  peer_throughput.png, peer_work_precision.png, peer_scaling.png

  run_peer.py --build BUILD_DIR [--results DIR] [--work DIR] [--model-2d FILE.sgm] [--quick] [--report-only]
              [--model-unet FILE] [--unet-rounds N] [--fmnist-rounds N] [--fmnist-pc-samples N]
              [--detected-kernel] [--only SECTION[,SECTION]]

--only runs some sections (e.g. `--only unet --quick`, about half a minute; `--only fmnist`) and writes their CSVs; when
WORK/state.pickle holds an earlier complete run, the report is rewritten with those sections replaced.

Both sides run with OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = 2 (torch.set_num_threads(2),
--threads 2) and OMP_WAIT_POLICY=passive: with the default policy, torch's OpenMP threads spin
while OpenBLAS' own pthreads want the same two cores, which on a loaded machine made the peer up
to 20× slower (peer_omp_policy.csv keeps one measurement of it); the ratios are taken against the
peer at its best.
"""
import argparse
import contextlib
import csv
import datetime
import glob
import gzip
import hashlib
import os
import pickle
import platform
import re
import shutil
import struct
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import sgm_peer  # noqa: E402

PY = "/usr/bin/python3"
THREADS = 2


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def loadavg():
    try:
        return float(open("/proc/loadavg").read().split()[0])
    except OSError:
        return float("nan")


def child_env(wait_policy="passive"):
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(THREADS), OPENBLAS_NUM_THREADS=str(THREADS), MKL_NUM_THREADS=str(THREADS))
    if wait_policy:
        env["OMP_WAIT_POLICY"] = wait_policy
    else:
        env.pop("OMP_WAIT_POLICY", None)
    return env


@contextlib.contextmanager
def environ_without(name):
    """os.environ without name for the duration: every child process then runs without it (child_env copies
    os.environ), the C tools and the peer's python alike."""
    value = os.environ.pop(name)
    try:
        yield value
    finally:
        os.environ[name] = value


def run(cmd, wait_policy="passive", timeout=900):
    """Runs cmd under /usr/bin/time -v; returns (stdout, wall seconds, max RSS kB). Raises on failure,
    showing stderr. (A child's own getrusage would not do: Linux carries the forking process's
    high-water mark — this 300 MB Python with torch loaded — across fork and exec.)"""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True,
                       env=child_env(wait_policy), timeout=timeout)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stdout + p.stderr)
        raise RuntimeError(f"failed ({p.returncode}): {' '.join(cmd)}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    return p.stdout, wall, int(m.group(1)) if m else -1


def parse_kv(text):
    """The last 'bench=... key=value ...' line of a driver's output, as a dict of floats/strings."""
    lines = [ln for ln in text.splitlines() if ln.startswith("bench=")]
    if not lines:
        raise RuntimeError(f"no result line in:\n{text}")
    out = {}
    for item in lines[-1].split():
        k, v = item.split("=", 1)
        try:
            out[k] = float(v)
        except ValueError:
            out[k] = v
    return out


def write_f64(path, a):
    a = np.ascontiguousarray(a, dtype="<f8")
    with open(path, "wb") as f:
        f.write(struct.pack("<QQ", a.shape[0], a.shape[1]))
        f.write(a.tobytes())


def read_f64(path):
    with open(path, "rb") as f:
        rows, cols = struct.unpack("<QQ", f.read(16))
        return np.frombuffer(f.read(), dtype="<f8").reshape(rows, cols).copy()


def write_csv(path, rows, fields):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def rms(x, y):
    return float(np.sqrt(np.mean((np.asarray(x, dtype=float) - np.asarray(y, dtype=float)) ** 2)))


def median_of(rows, key):
    """The median of rows[i][key] (repeated rounds of one measurement)."""
    return float(np.median([float(r[key]) for r in rows]))


def time_at_error(points, error):
    """The time at `error`, interpolated log–log between the two (error, time, ...) points, sorted by error, that
    bracket it; returns (time, lower point, upper point), or None when no pair brackets it."""
    for lo, hi in zip(points, points[1:]):
        if 0 < lo[0] <= error <= hi[0]:
            w = (np.log(error) - np.log(lo[0])) / (np.log(hi[0]) - np.log(lo[0])) if hi[0] > lo[0] else 0.0
            return float(np.exp((1 - w) * np.log(lo[1]) + w * np.log(hi[1]))), lo, hi
    return None


# ---- the machine ------------------------------------------------------------------------------------

def machine_description(scoresde=None):
    def cmd_out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "n/a"

    lscpu = cmd_out(["lscpu"])
    keep = ("Architecture", "Model name", "CPU(s):", "Thread(s) per core", "Core(s) per socket", "CPU max MHz",
            "L1d cache", "L2 cache", "L3 cache", "Hypervisor vendor", "Flags")
    cpu = []
    for ln in lscpu.splitlines():
        if ln.startswith(keep):
            if ln.startswith("Flags"):
                flags = ln.split(":", 1)[1].split()
                ln = "Flags (SIMD): " + " ".join(f for f in flags if f.startswith(("avx", "fma", "sse4")))
            cpu.append(re.sub(r"\s+", " ", ln))
    mem = cmd_out(["sh", "-c", "grep MemTotal /proc/meminfo"])

    def pkg(name):
        v = cmd_out(["dpkg-query", "-W", "-f=${Version}", name])
        return v or "n/a"

    import scipy
    import torch
    try:
        import matplotlib
        mpl = matplotlib.__version__
    except ImportError:
        mpl = "not installed"
    versions = {
        "python": platform.python_version(), "torch": torch.__version__, "scipy": scipy.__version__,
        "numpy": np.__version__, "matplotlib": mpl,
        "gcc": cmd_out(["gcc", "-dumpfullversion"]), "OpenBLAS (libopenblas0-pthread)": pkg("libopenblas0-pthread"),
        "SUNDIALS (libsundials-dev)": pkg("libsundials-dev"), "GSL (libgsl-dev)": pkg("libgsl-dev"),
        "kernel": platform.release(),
    }
    # the BLAS and kernel in use, and the one OpenBLAS would pick when OPENBLAS_CORETYPE forces one
    blas = [ln for ln in cmd_out([scoresde, "--version"]).splitlines()[1:]] if scoresde else []
    commit = cmd_out(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])
    dirty = cmd_out(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"])
    return {"cpu": cpu, "mem": mem, "versions": versions, "blas": blas,
            "commit": commit + (" (with uncommitted changes in the tree)" if dirty else "")}


# ---- models -------------------------------------------------------------------------------------------

def find_model_2d(explicit):
    if explicit:
        return explicit
    for path in sorted(glob.glob(os.path.join(REPO, "models", "*.sgm"))):
        try:
            cfg, _, _ = sgm_peer.read_sgm(path)
        except (sgm_peer.SgmFormatError, OSError, struct.error):
            continue
        if cfg["arch"] == 1 and cfg["channels"] * cfg["height"] * cfg["width"] == 2 and cfg["sde"] == 2:
            return path
    return None


def prepare_models(a, tools, work):
    models = {}
    m2 = find_model_2d(a.model_2d)
    train_row = None
    if m2:
        log(f"2-D model: {m2}")
    else:
        m2 = os.path.join(work, "checkerboard_vp.sgm")
        if os.path.exists(m2):
            log(f"2-D model: {m2} (trained by an earlier run)")
        else:
            steps = 300 if a.quick else 1000
            log(f"2-D model: none shipped; training {steps} steps of the checkerboard with scoresde train")
            log_csv = os.path.join(work, "train_log.csv")
            _, wall, _ = run([tools["scoresde"], "train", "--data", "checkerboard", "--sde", "vp", "--steps", str(steps),
                           "--batch", "256", "--warmup", "100", "--threads", str(THREADS), "--out", m2,
                           "--checkpoint-every", str(steps), "--log", log_csv, "--log-every", "100", "--quiet"])
            train_row = {"what": "scoresde train (CLI, end to end)", "steps": steps, "batch": 256,
                         "wall_s": wall, "steps_per_s": steps / wall}
    models["2d"] = m2
    specs = {"784": (784, 1024, "vp", 4), "ve2": (2, 64, "ve", 2), "sub16": (16, 128, "subvp", 3)}
    for D in a.dims:
        if D != 2:
            specs[f"d{D}"] = (D, 256, "vp", 10 + D)
    for key, (D, H, sde, seed) in specs.items():
        path = os.path.join(work, f"mlp_{sde}_d{D}_h{H}.sgm")
        if not os.path.exists(path):
            run([tools["cbench"], "make-model", "--dim", str(D), "--hidden", str(H), "--sde", sde,
                 "--seed", str(seed), "--out", path])
        models[key] = path
    return models, train_row


# ---- sections -----------------------------------------------------------------------------------------

def section_check(a, tools, models, res):
    paths = [models["2d"], models["ve2"], models["sub16"], models["784"]]
    p = subprocess.run([PY, os.path.join(HERE, "check_scores.py"), "--cbench", tools["cbench"],
                        "--csv", os.path.join(res, "peer_check.csv")] + paths,
                       capture_output=True, text=True, env=child_env())
    sys.stdout.write(p.stdout)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit("run_peer: the C network and the peer disagree (see above); nothing else is measured")
    rows = list(csv.DictReader(open(os.path.join(res, "peer_check.csv"))))
    return rows


def section_network(a, tools, models, res, work):
    c_csv = os.path.join(work, "c_network.csv")
    py_csv = os.path.join(work, "py_network.csv")
    for f in (c_csv, py_csv):
        if os.path.exists(f):
            os.remove(f)
    seconds = "0.1" if a.quick else str(a.seconds)
    out, _, _ = run([tools["bench_scorenet"], "--threads", str(THREADS), "--seconds", seconds, "--csv", c_csv])
    sys.stdout.write(out)
    batches = "1,64,256" if a.quick else "1,64,256,1024"
    for name, key in (("mlp-2d", "2d"), ("mlp-784", "784")):
        out, _, _ = run([PY, os.path.join(HERE, "peer_bench.py"), "net", "--model", models[key], "--name", name,
                      "--batches", batches, "--seconds", seconds, "--csv", py_csv, "--threads", str(THREADS)])
        sys.stdout.write(out)
    c_rows = list(csv.DictReader(open(c_csv)))
    p_rows = {(r["model"], int(r["batch"]), r["mode"]): r for r in csv.DictReader(open(py_csv))}
    rows, peak = [], None
    for r in c_rows:
        key = (r["model"], int(r["batch"]), r["mode"])
        peak = float(r["sgemm_square1024_gflops"])
        if key not in p_rows:
            continue
        p = p_rows[key]
        c_sps, p_sps = float(r["samples_per_s"]), float(p["samples_per_s"])
        rows.append({"model": r["model"], "dim": int(r["dim"]), "hidden": int(r["hidden"]), "batch": key[1],
                     "mode": key[2], "c_samples_per_s": c_sps, "peer_samples_per_s": p_sps,
                     "speedup_c_over_peer": c_sps / p_sps, "c_gflops": float(r["gflops"]),
                     "peer_gflops": float(p["gflops"]), "sgemm_peak_gflops": peak,
                     "sgemm_same_shape_gflops": float(r["sgemm_same_shape_gflops"]),
                     "c_fraction_of_peak": float(r["gflops"]) / peak,
                     "peer_fraction_of_peak": float(p["gflops"]) / peak, "loadavg": float(r["loadavg1"])})
    write_csv(os.path.join(res, "peer_network.csv"), rows, list(rows[0].keys()))
    return rows, peak


def sampler_row(side, what, result, extra=None):
    out, _, rss = result
    kv = parse_kv(out)
    r = {"side": side, "run": what, "wall_s": kv["wall_s"], "net_s": kv["net_s"],
         "outside_net_share": 1.0 - kv["net_s"] / kv["wall_s"], "nfe": int(kv["nfe"]),
         "net_calls": int(kv["net_calls"]), "net_gflop": kv["net_gflop"],
         "net_gflops_per_s": kv["net_gflop"] / kv["wall_s"], "maxrss_kb": rss,
         "loadavg": loadavg()}
    for k in ("nfe_mean", "steps", "rejected", "bpd"):
        if k in kv:
            r[k] = kv[k]
    if extra:
        r.update(extra)
    return r


def section_pc(a, tools, models, res):
    n = 32 if a.quick else a.pc_samples
    steps = 100 if a.quick else 1000
    rows = []
    for pred, corr in (("reverse_diffusion", "langevin"), ("euler_maruyama", "none")):
        label = f"{pred}+{corr}" if corr != "none" else pred
        c_cmd = [tools["cbench"], "pc", "--model", models["2d"], "--num", str(n), "--batch", str(n),
                 "--predictor", pred, "--corrector", corr, "--N", str(steps), "--threads", str(THREADS),
                 "--repeat", str(a.repeat)]
        if corr == "langevin":
            c_cmd.append("--batch-norms")  # the official rule (norms averaged over the batch)
        res_c = run(c_cmd)
        rows.append(sampler_row("C", label, res_c, {"samples": n, "steps": steps}))
        res_p = run([PY, os.path.join(HERE, "peer_bench.py"), "pc", "--model", models["2d"], "--num", str(n),
                      "--batch", str(n), "--predictor", pred, "--corrector", corr, "--N", str(steps),
                      "--threads", str(THREADS), "--repeat", str(a.repeat)])
        rows.append(sampler_row("peer", label, res_p, {"samples": n, "steps": steps}))
        log(f"PC {label}: C {rows[-2]['wall_s']:.2f} s, peer {rows[-1]['wall_s']:.2f} s")
    write_csv(os.path.join(res, "peer_pc.csv"), rows,
              ["side", "run", "samples", "steps", "nfe", "wall_s", "net_s", "outside_net_share", "net_calls",
               "net_gflop", "net_gflops_per_s", "maxrss_kb", "loadavg"])
    return rows


def section_ode(a, tools, models, res, work):
    n = 16 if a.quick else a.ode_samples
    rng = np.random.default_rng(2021)
    z_path = os.path.join(work, "ode_latents.f64")
    write_f64(z_path, rng.normal(size=(n, 2)))
    ref_path = os.path.join(work, "ode_ref.f64")
    ref_tol = "1e-8"
    run([tools["cbench"], "ode", "--model", models["2d"], "--in", z_path, "--batch", str(n), "--joint",
         "--rtol", ref_tol, "--atol", ref_tol, "--out", ref_path, "--threads", str(THREADS)])
    ref = read_f64(ref_path)
    rows = []
    tols = [1e-3, 1e-5] if a.quick else [1e-3, 1e-4, 1e-5, 1e-6]
    for tol in tols:
        outs = {}
        for side, mode in (("C", "joint"), ("C", "independent"), ("peer", "joint")):
            path = os.path.join(work, f"ode_{side}_{mode}_{tol:g}.f64")
            if side == "C":
                cmd = [tools["cbench"], "ode", "--model", models["2d"], "--in", z_path, "--batch", str(n),
                       "--rtol", str(tol), "--atol", str(tol), "--out", path, "--threads", str(THREADS),
                       "--repeat", str(a.repeat + 1 if mode == "joint" else 1)]
                if mode == "joint":
                    cmd.append("--joint")
            else:
                cmd = [PY, os.path.join(HERE, "peer_bench.py"), "ode", "--model", models["2d"], "--in", z_path,
                       "--batch", str(n), "--rtol", str(tol), "--atol", str(tol), "--out", path,
                       "--threads", str(THREADS), "--repeat", str(a.repeat + 1)]
            result = run(cmd)
            x = read_f64(path)
            outs[(side, mode)] = x
            err = rms(x, ref)
            rows.append(sampler_row(side, f"ode {mode}", result,
                                    {"mode": mode, "tol": tol, "samples": n, "rms_error_vs_ref": err}))
        diff = rms(outs[("C", "joint")], outs[("peer", "joint")])
        for r in rows[-3:]:
            r["rms_c_joint_vs_peer"] = diff
        log(f"ODE tol {tol:g}: NFE C joint {rows[-3]['nfe']}, C independent {rows[-2]['nfe_mean']:.0f} (mean), "
            f"peer {rows[-1]['nfe']}; wall {rows[-3]['wall_s']:.2f} / {rows[-2]['wall_s']:.2f} / "
            f"{rows[-1]['wall_s']:.2f} s")
    write_csv(os.path.join(res, "peer_ode.csv"), rows,
              ["side", "mode", "tol", "samples", "nfe", "nfe_mean", "steps", "rejected", "wall_s", "net_s",
               "outside_net_share", "net_calls", "net_gflop", "net_gflops_per_s", "rms_error_vs_ref",
               "rms_c_joint_vs_peer", "maxrss_kb", "loadavg"])
    # the same solves with ARKODE called directly, under its default and under scipy-like step control
    out, _, _ = run([tools["arkode_control"], models["2d"], z_path] + [f"{t:g}" for t in tols])
    control = list(csv.DictReader(out.splitlines()))
    for r in control:
        for k in ("steps", "attempts", "error_test_failures", "nfe"):
            r[k] = int(r[k])
        peer = next(p for p in rows if p["side"] == "peer" and abs(p["tol"] - float(r["tol"])) <= 1e-9 * p["tol"])
        r["scipy_rk45_nfe"] = peer["nfe"] - 1  # the integrator's count, without the denoising step
    write_csv(os.path.join(res, "peer_ode_control.csv"), control,
              ["control", "tol", "steps", "attempts", "error_test_failures", "nfe", "scipy_rk45_nfe"])
    return rows, ref_tol, control


def section_likelihood(a, tools, models, res, work):
    import torch
    n = 16 if a.quick else a.lik_samples
    x = sgm_peer.checkerboard(n, torch.Generator().manual_seed(7)).double().numpy()
    x_path = os.path.join(work, "likelihood_points.f64")
    write_f64(x_path, x)
    rows, per_point = [], {}
    n_exact = min(n, 16)  # the exact trace only checks agreement: fewer points
    write_f64(os.path.join(work, "likelihood_points_exact.f64"), x[:n_exact])
    runs = [("C", "joint", "rademacher"), ("C", "independent", "rademacher"), ("peer", "joint", "rademacher"),
            ("C", "joint", "exact"), ("peer", "joint", "exact")]
    for side, mode, div in runs:
        path = os.path.join(work, f"lik_{side}_{mode}_{div}.f64")
        pts = n_exact if div == "exact" else n
        reps = ["--repeat", "1" if div == "exact" or mode == "independent" else str(a.repeat)]
        x_path = os.path.join(work, "likelihood_points_exact.f64" if div == "exact" else "likelihood_points.f64")
        if side == "C":
            cmd = [tools["cbench"], "likelihood", "--model", models["2d"], "--in", x_path, "--batch", str(pts),
                   "--divergence", div, "--out", path, "--threads", str(THREADS)] + reps
            if mode == "joint":
                cmd.append("--joint")
        else:
            cmd = [PY, os.path.join(HERE, "peer_bench.py"), "likelihood", "--model", models["2d"], "--in", x_path,
                   "--batch", str(pts), "--divergence", div, "--out", path, "--threads", str(THREADS)] + reps
        result = run(cmd)
        res_pts = read_f64(path)
        per_point[(side, mode, div)] = res_pts[:, 1]
        bpd = res_pts[:, 1]
        rows.append(sampler_row(side, f"likelihood {mode} {div}", result,
                                {"mode": mode, "divergence": div, "points": pts, "bpd_mean": float(bpd.mean()),
                                 "bpd_se": float(bpd.std(ddof=1) / np.sqrt(pts))}))
        log(f"likelihood {side} {mode} {div}: bpd {bpd.mean():.4f} ± {bpd.std(ddof=1) / np.sqrt(pts):.4f}, "
            f"NFE {rows[-1]['nfe']}, {rows[-1]['wall_s']:.2f} s")
    # reference: the exact trace at rtol = atol = 1e-7 (C, joint)
    ref_path = os.path.join(work, "lik_reference.f64")
    run([tools["cbench"], "likelihood", "--model", models["2d"], "--in", os.path.join(work, "likelihood_points_exact.f64"),
         "--batch", str(n_exact), "--divergence", "exact", "--rtol", "1e-7", "--atol", "1e-7", "--joint",
         "--out", ref_path, "--threads", str(THREADS)])
    ref = read_f64(ref_path)[:, 1]
    exact_diff = np.abs(per_point[("C", "joint", "exact")] - per_point[("peer", "joint", "exact")])
    agreement = {"exact_max_abs_bpd_diff": float(exact_diff.max()),
                 "c_vs_reference_max": float(np.abs(per_point[("C", "joint", "exact")] - ref).max()),
                 "peer_vs_reference_max": float(np.abs(per_point[("peer", "joint", "exact")] - ref).max()),
                 "exact_mean_bpd_diff": float(np.mean(per_point[("C", "joint", "exact")]
                                                      - per_point[("peer", "joint", "exact")])),
                 "hutchinson_mean_diff": rows[0]["bpd_mean"] - rows[2]["bpd_mean"],
                 "hutchinson_diff_se": float(np.hypot(rows[0]["bpd_se"], rows[2]["bpd_se"]))}
    write_csv(os.path.join(res, "peer_likelihood.csv"), rows,
              ["side", "mode", "divergence", "points", "bpd_mean", "bpd_se", "nfe", "nfe_mean", "steps",
               "rejected", "wall_s", "net_s", "outside_net_share", "net_calls", "net_gflop", "net_gflops_per_s",
               "maxrss_kb", "loadavg"])
    return rows, agreement


def section_scaling_samples(a, tools, models, res, work):
    counts = [1, 100, 1000] if a.quick else [1, 100, 1000, 10000]
    steps = 20
    rows = []
    for n in counts:
        out_csv = os.path.join(work, f"scale_{n}.csv")
        best_c, best_p = None, None
        for _ in range(a.repeat):  # processes alternate; the fastest of each side is kept
            _, wall, rss = run([tools["scoresde"], "sample", "--model", models["2d"], "--sampler", "pc",
                                "--predictor", "euler_maruyama", "--corrector", "none", "--N", str(steps),
                                "--num", str(n), "--batch", "256", "--threads", str(THREADS), "--quiet",
                                "--out", out_csv])
            if best_c is None or wall < best_c[0]:
                best_c = (wall, rss)
            out, pwall, prss = run([PY, os.path.join(HERE, "peer_bench.py"), "pc", "--model", models["2d"],
                                    "--num", str(n), "--batch", "256", "--predictor", "euler_maruyama",
                                    "--corrector", "none", "--N", str(steps), "--threads", str(THREADS)])
            kv = parse_kv(out)
            if best_p is None or kv["wall_s"] < best_p[0]:
                best_p = (kv["wall_s"], pwall, prss)
        rows.append({"side": "C (scoresde sample)", "samples": n, "steps": steps, "batch": 256, "wall_s": best_c[0],
                     "maxrss_kb": best_c[1], "loadavg": loadavg()})
        rows.append({"side": "peer", "samples": n, "steps": steps, "batch": 256, "wall_s": best_p[0],
                     "process_wall_s": best_p[1], "maxrss_kb": best_p[2], "loadavg": loadavg()})
        log(f"scaling n = {n}: C {best_c[0]:.2f} s {best_c[1]} kB; peer {best_p[0]:.2f} s (process {best_p[1]:.2f} s) "
            f"{best_p[2]} kB")
    write_csv(os.path.join(res, "peer_scaling_samples.csv"), rows,
              ["side", "samples", "steps", "batch", "wall_s", "process_wall_s", "maxrss_kb", "loadavg"])
    return rows


def section_scaling_dim(a, tools, models, res):
    n, steps = (64, 20) if a.quick else (256, 100)
    rows = []
    for D in [2] + [d for d in a.dims if d != 2]:
        path = models["2d"] if D == 2 else models[f"d{D}"]
        result = run([tools["cbench"], "pc", "--model", path, "--num", str(n), "--batch", str(n),
                      "--predictor", "euler_maruyama", "--corrector", "none", "--N", str(steps),
                      "--threads", str(THREADS), "--repeat", str(a.repeat)])
        rows.append(sampler_row("C", "pc euler_maruyama", result, {"dim": D, "hidden": 256, "samples": n,
                                                                         "steps": steps}))
        result = run([PY, os.path.join(HERE, "peer_bench.py"), "pc", "--model", path, "--num", str(n),
                      "--batch", str(n), "--predictor", "euler_maruyama", "--corrector", "none", "--N", str(steps),
                      "--threads", str(THREADS), "--repeat", str(a.repeat)])
        rows.append(sampler_row("peer", "pc euler_maruyama", result, {"dim": D, "hidden": 256,
                                                                            "samples": n, "steps": steps}))
        log(f"scaling D = {D}: C {rows[-2]['wall_s']:.2f} s {rows[-2]['maxrss_kb']} kB; "
            f"peer {rows[-1]['wall_s']:.2f} s {rows[-1]['maxrss_kb']} kB")
    write_csv(os.path.join(res, "peer_scaling_dim.csv"), rows,
              ["side", "dim", "hidden", "samples", "steps", "wall_s", "net_s", "outside_net_share", "net_gflops_per_s",
               "maxrss_kb", "loadavg"])
    return rows


def section_omp_policy(a, tools, models, res):
    n, steps = 128, (50 if a.quick else 100)
    rows = []
    for policy in ("passive", None):
        for side in ("C", "peer"):
            if side == "C":
                cmd = [tools["cbench"], "pc", "--model", models["2d"], "--num", str(n), "--batch", str(n),
                       "--predictor", "euler_maruyama", "--corrector", "none", "--N", str(steps),
                       "--threads", str(THREADS)]
            else:
                cmd = [PY, os.path.join(HERE, "peer_bench.py"), "pc", "--model", models["2d"], "--num", str(n),
                       "--batch", str(n), "--predictor", "euler_maruyama", "--corrector", "none", "--N", str(steps),
                       "--threads", str(THREADS)]
            out, _, _ = run(cmd, wait_policy=policy, timeout=600)
            kv = parse_kv(out)
            rows.append({"side": side, "omp_wait_policy": policy or "default (unset)", "samples": n, "steps": steps,
                         "wall_s": kv["wall_s"], "loadavg": loadavg()})
            log(f"OMP_WAIT_POLICY {policy or 'unset'}: {side} {kv['wall_s']:.2f} s")
    write_csv(os.path.join(res, "peer_omp_policy.csv"), rows,
              ["side", "omp_wait_policy", "samples", "steps", "wall_s", "loadavg"])
    return rows


DSO_CLASSES = [("libopenblas", "network: OpenBLAS sgemm"), ("libscorenet", "network: scorenet layers"),
               ("libtorch", "network: libtorch (ops, autograd, dispatch)"), ("libc10", "network: libtorch (ops, autograd, dispatch)"),
               ("libgomp", "OpenMP runtime"), ("libm.so", "libm (SiLU exp, Fourier sin/cos)"),
               ("libmvec", "libm (SiLU exp, Fourier sin/cos)"),
               ("libsundials", "solver: SUNDIALS"), ("libscoresde_solvers", "solver: scoresde solvers"),
               ("libscoresde_sde", "solver: scoresde sde"), ("libgsl", "solver: GSL (random numbers)"),
               ("python", "Python interpreter"), ("libpython", "Python interpreter"),
               ("_multiarray", "numpy"), ("scipy", "scipy"), ("kernel", "kernel"), ("libc.so", "libc")]


def section_profile(a, tools, models, res, work):
    if not shutil.which("perf"):
        return None
    n, steps = 128, (50 if a.quick else 300)
    rows = []
    for side in ("C", "peer"):
        data = os.path.join(work, f"perf_{side}.data")
        if side == "C":
            cmd = [tools["cbench"], "pc", "--model", models["2d"], "--num", str(n), "--batch", str(n),
                   "--predictor", "euler_maruyama", "--corrector", "none", "--N", str(steps), "--threads", str(THREADS)]
        else:
            cmd = [PY, os.path.join(HERE, "peer_bench.py"), "pc", "--model", models["2d"], "--num", str(n),
                   "--batch", str(n), "--predictor", "euler_maruyama", "--corrector", "none", "--N", str(steps),
                   "--threads", str(THREADS)]
        # start sampling after the peer's imports and model load (measured), so the profile is the run's
        delay = []
        if side == "peer":
            _, t_import, _ = run([PY, "-c", f"import sys; sys.path.insert(0, {HERE!r}); import peer_bench, sgm_peer; "
                                  f"sgm_peer.load_model({models['2d']!r})"])
            delay = ["-D", str(int(1000 * t_import) + 200)]
        try:
            run(["perf", "record", "-e", "cpu-clock", "-F", "499", "-o", data] + delay + ["--"] + cmd)
            rep, _, _ = run(["perf", "report", "-i", data, "--sort", "dso", "--stdio"])
        except (RuntimeError, subprocess.SubprocessError) as e:
            log(f"perf failed ({e}); no profile")
            return None
        total = {}
        for ln in rep.splitlines():
            m = re.match(r"\s*([\d.]+)%\s+(\S+)", ln)
            if not m:
                continue
            pct, dso = float(m.group(1)), m.group(2)
            label = next((lab for key, lab in DSO_CLASSES if key in dso), "other: " + dso)
            total[label] = total.get(label, 0.0) + pct
        for label, pct in sorted(total.items(), key=lambda kv: -kv[1]):
            rows.append({"side": side, "where": label, "cpu_share_percent": pct})
    write_csv(os.path.join(res, "peer_profile.csv"), rows, ["side", "where", "cpu_share_percent"])
    return rows


# ---- the U-Net --------------------------------------------------------------------------------------------

# What bench_unet builds besides --base/--levels/--groups (snet_config_default for a 1×28×28 image).
UNET_FIXED = {"channels": 1, "height": 28, "width": 28, "n_fourier": 64}
# (row, bench_unet's pass, peer_bench's mode): C's "train step" is forward + backward with parameter
# gradients and nothing else, the peer's forward+backward; the peer's full train_step is shown beside it.
UNET_ROWS = (("forward", "forward", "forward"), ("forward+vjp", "forward+VJP", "forward+vjp"),
             ("train step", "train step", "forward+backward"))


def find_model_unet(explicit):
    """--model-unet, else the shipped image model when it is a U-Net, else the checkpoint of the one in training."""
    if explicit:
        return explicit
    for path in (os.path.join(REPO, "models", "fashion_mnist.sgm"),
                 os.path.join(REPO, "models", "training", "fmnist_unet.ckpt")):
        try:
            if sgm_peer.read_sgm(path)[0]["arch"] == 2:
                return path
        except (sgm_peer.SgmFormatError, OSError, struct.error):
            continue
    return None


def snapshot_model(src, work):
    """A checked copy of src in work: a checkpoint may be rewritten by a training run while this one reads it."""
    dst = os.path.join(work, "unet_" + os.path.basename(src))
    for attempt in range(3):
        shutil.copyfile(src, dst)
        try:
            return dst, sgm_peer.read_sgm(dst)
        except (sgm_peer.SgmFormatError, struct.error) as e:
            if attempt == 2:
                raise SystemExit(f"run_peer: {src}: {e}")
            time.sleep(2)


def peer_blas_kernel():
    """The OpenBLAS kernel torch's BLAS runs in a peer process (same environment as the peer's runs)."""
    code = ("import ctypes, torch\n"
            "for lib in sorted({ln.split()[-1] for ln in open('/proc/self/maps') if 'blas' in ln.rsplit('/', 1)[-1]}):\n"
            "    try:\n"
            "        f = ctypes.CDLL(lib).openblas_get_corename\n"
            "    except (OSError, AttributeError):\n"
            "        continue\n"
            "    f.restype = ctypes.c_char_p\n"
            "    print(f().decode())\n"
            "    break\n")
    try:
        out, _, _ = run([PY, "-c", code])
    except RuntimeError:
        return "unknown"
    return out.strip() or "unknown (not OpenBLAS)"


def section_unet(a, tools, res, work, suffix=""):
    src = find_model_unet(a.model_unet)
    if not src:
        log("U-Net: no model (models/fashion_mnist.sgm is not a U-Net, no models/training/fmnist_unet.ckpt; "
            "--model-unet FILE): no U-Net rows")
        return None
    path, (cfg, _, info) = snapshot_model(src, work)
    off = {k: cfg[k] for k in UNET_FIXED if cfg[k] != UNET_FIXED[k]}
    if cfg["arch"] != 2 or off:
        log(f"U-Net: {src} is not a U-Net bench_unet can build (arch {cfg['arch']}, {off or 'shape ok'}; bench_unet "
            f"builds {UNET_FIXED}): no U-Net rows")
        return None
    base, levels, groups = cfg["base_channels"], cfg["n_levels"], cfg["n_groups"]
    batches = [64] if a.quick else [64, 256]
    rounds = 1 if a.quick else a.unet_rounds
    seconds = "0.05" if a.quick else str(a.seconds)
    peer_kernel = peer_blas_kernel()
    c_csv, py_csv = os.path.join(work, "c_unet.csv"), os.path.join(work, "py_unet.csv")
    c_runs, p_runs, peaks, acts, loads, blas_line = {}, {}, [], {}, {}, ""
    for k in range(rounds):
        for B in batches:  # C and peer alternate per batch, so that the machine's load falls on both
            out, _, _ = run([tools["bench_unet"], "--threads", str(THREADS), "--base", str(base), "--levels", str(levels),
                             "--groups", str(groups), "--seconds", seconds, "--batches", str(B),
                             "--train-batches", str(B), "--csv", c_csv])
            sys.stdout.write(out)
            peaks.append(float(re.search(r"cblas_sgemm 1024³ peak: ([\d.]+)", out).group(1)))
            blas_line = next((ln for ln in out.splitlines() if ln.startswith("BLAS:")), blas_line)
            for m in re.finditer(r"^(forward\+VJP|forward|train step)\s+(\d+)\s.*\s(\d+)$", out, re.M):
                acts[(int(m.group(2)), m.group(1))] = float(m.group(3))
            for r in csv.DictReader(open(c_csv)):
                c_runs.setdefault((int(r["batch"]), r["pass"]), []).append(r)
            loads.setdefault(B, []).append(loadavg())
            if os.path.exists(py_csv):
                os.remove(py_csv)
            out, _, _ = run([PY, os.path.join(HERE, "peer_bench.py"), "net", "--model", path, "--name", "unet",
                             "--batches", str(B), "--seconds", seconds, "--csv", py_csv, "--threads", str(THREADS),
                             "--modes", "forward,forward+vjp,forward+backward,train_step", "--malloc-heap", "--median"])
            sys.stdout.write(out)
            for r in csv.DictReader(open(py_csv)):
                p_runs.setdefault((int(r["batch"]), r["mode"]), []).append(r)
            loads[B].append(loadavg())
            log(f"U-Net batch {B}, round {k + 1}/{rounds}: forward C {float(c_runs[(B, 'forward')][-1]['samples_per_s']):.0f}/s, "
                f"peer {float(p_runs[(B, 'forward')][-1]['samples_per_s']):.0f}/s")

    peak = float(np.median(peaks))
    rows = []
    for B in batches:
        for name, c_pass, p_mode in UNET_ROWS:
            c, p = c_runs[(B, c_pass)], p_runs[(B, p_mode)]
            c_sps, p_sps = median_of(c, "samples_per_s"), median_of(p, "samples_per_s")
            c_gf, p_gf = median_of(c, "gflops"), median_of(p, "gflops")
            row = {"model": "unet", "base": base, "levels": levels, "groups": groups, "batch": B, "mode": name,
                   "c_pass": c_pass, "peer_mode": p_mode, "c_samples_per_s": c_sps, "peer_samples_per_s": p_sps,
                   "speedup_c_over_peer": c_sps / p_sps, "c_gflops": c_gf, "peer_gflops": p_gf,
                   "c_ms_per_call": median_of(c, "ms_per_call"), "sgemm_peak_gflops": peak,
                   "c_fraction_of_peak": c_gf / peak, "peer_fraction_of_peak": p_gf / peak,
                   "peer_train_step_samples_per_s": "", "peer_train_step_gflops": "",
                   "c_activation_mb": acts.get((B, c_pass), ""), "rounds": rounds,
                   "c_blas_kernel": c[0]["blas_kernel"], "peer_blas_kernel": peer_kernel, "peer_malloc_heap": 1,
                   "loadavg": float(np.mean(loads[B])), "model_file": os.path.relpath(src, REPO)}
            if name == "train step":
                row["peer_train_step_samples_per_s"] = median_of(p_runs[(B, "train_step")], "samples_per_s")
                row["peer_train_step_gflops"] = median_of(p_runs[(B, "train_step")], "gflops")
            rows.append(row)
    write_csv(os.path.join(res, f"peer_unet{suffix}.csv"), rows, list(rows[0].keys()))
    log(f"U-Net rows ({os.path.relpath(src, REPO)}, base {base}, {levels} levels, {groups} groups; median of "
        f"{rounds} round(s); kernel C {rows[0]['c_blas_kernel']}, peer {peer_kernel}; sgemm peak {peak:.1f} GFLOP/s):")
    for r in rows:
        extra = (f"  (peer train_step {r['peer_train_step_samples_per_s']:.0f}/s)" if r["mode"] == "train step" else "")
        print(f"    {r['mode']:12s} batch {r['batch']:4d}: C {r['c_samples_per_s']:7.0f}/s {r['c_gflops']:6.1f} GFLOP/s, "
              f"peer {r['peer_samples_per_s']:7.0f}/s {r['peer_gflops']:6.1f} GFLOP/s, C/peer "
              f"{r['speedup_c_over_peer']:.2f}×{extra}", flush=True)
    return {"rows": rows, "model": os.path.relpath(src, REPO), "step": info["step"], "n_params": info["n_params"],
            "sde": sgm_peer.SDE_NAMES.get(cfg["sde"], str(cfg["sde"])), "rounds": rounds, "seconds": float(seconds),
            "quick": a.quick, "peak": peak, "blas_line": blas_line, "peer_kernel": peer_kernel,
            "coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
            "started": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")}


# ---- Fashion-MNIST, end to end --------------------------------------------------------------------------

FMNIST_MODEL = os.path.join(REPO, "models", "fashion_mnist.sgm")
FMNIST_TOL = "1e-5"
FMNIST_REF_TOL = "1e-8"  # the references of decode and encode (C, the same CLI)


def fmnist_test_points(n, seed):
    """The first n Fashion-MNIST test images in model space, uniformly dequantised as the CLI's
    fashion-mnist:test is (x = 2(k + u)/256 − 1 in float32, u ~ U[0, 1); scorenet/snet_data.c) but with
    numpy's u, so that the C CLI and the peer read the very same points from a file."""
    folder = os.environ.get("SCORESDE_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
    path = os.path.join(folder, "t10k-images-idx3-ubyte.gz")
    with gzip.open(path, "rb") as f:
        magic, count, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 0x803 or count < n:
            raise SystemExit(f"run_peer: {path}: IDX magic {magic:#x} with {count} images; expected 0x803 and >= {n}")
        k = np.frombuffer(f.read(n * rows * cols), dtype=np.uint8).reshape(n, rows * cols)
    u = np.random.default_rng(seed).random(k.shape, dtype=np.float32)
    return ((k + u) * np.float32(2 / 256) - 1).astype(np.float64)


def cli_summary(out):
    """NFE per sample or point and the in-process seconds from a scoresde sample/decode/encode/likelihood summary."""
    nfe = re.search(r"NFE\s+([\d.]+) per (?:sample|point)", out)
    secs = re.search(r"^time\s+([\d.]+) s|, ([\d.]+) s -> ", out, re.M)
    if not nfe or not secs:
        raise RuntimeError(f"no NFE or time in the scoresde summary:\n{out}")
    return float(nfe.group(1)), float(secs.group(1) or secs.group(2))


def c_blas_kernel(scoresde):
    """The OpenBLAS kernel the CLI reports (`scoresde --version`) in the runs' environment, and that line."""
    out, _, _ = run([scoresde, "--version"])
    line = next((ln for ln in out.splitlines() if ln.startswith("BLAS:")), "")
    m = re.search(r"kernel (\w+)", line)
    return (m.group(1) if m else "unknown"), line


def section_fmnist(a, tools, res, work, suffix=""):
    cfg = sgm_peer.read_sgm(FMNIST_MODEL)[0]
    if cfg["arch"] != 2:
        log(f"fmnist: {FMNIST_MODEL} is not a U-Net (arch {cfg['arch']}): no Fashion-MNIST rows")
        return None
    D = cfg["channels"] * cfg["height"] * cfg["width"]
    n_ode, n_img = (8, 4) if a.quick else (64, 16)
    n_pc = 4 if a.quick else a.fmnist_pc_samples
    rounds = 1 if a.quick else a.fmnist_rounds
    z = np.random.default_rng(2021).normal(size=(n_ode, D))  # the shared latents of decode
    x = fmnist_test_points(n_img, 15)  # the shared images of encode and likelihood
    files = {"z": os.path.join(work, "fmnist_latents"), "x": os.path.join(work, "fmnist_images")}
    for key, arr in (("z", z), ("x", x)):
        np.save(files[key] + ".npy", arr)  # the CLI reads .npy,
        write_f64(files[key] + ".f64", arr)  # peer_bench its (rows, cols) float64 file

    def c_out(name):
        return os.path.join(work, f"fmnist_c_{name}.npy")

    def p_out(name):
        return os.path.join(work, f"fmnist_peer_{name}.f64")

    def tolerance(value):
        return ["--rtol", value, "--atol", value]

    S, M, tol = tools["scoresde"], FMNIST_MODEL, tolerance(FMNIST_TOL)

    def c_latent(job, value, out):  # C's decode of the shared latents or encode of the shared images
        src = files["z" if job == "decode" else "x"] + ".npy"
        return [S, job, "--model", M, "--in", src, "--out", out] + tolerance(value)

    def shown(cmd):  # a command as the report prints it: WORK/..., paths relative to the repository
        return " ".join("WORK" + w[len(work):] if w.startswith(work + os.sep) else
                        os.path.relpath(w, REPO) if w.startswith(REPO + os.sep) else w for w in cmd)

    peer = [PY, os.path.join(HERE, "peer_bench.py")]
    peer_model = ["--model", M, "--threads", str(THREADS), "--malloc-heap"]
    # (job, what it does, n, C runs as (label, output name, command), the peer's command); C: the CLI with its
    # defaults but for what equality needs (counts, seed, tolerances, inputs, outputs)
    jobs = [
        ("ode sample", f"`sample --sampler ode`, {n_ode} samples from the prior", n_ode,
         [(label, name, [S, "sample", "--model", M, "--sampler", "ode", "--num", str(n_ode), "--seed", "0",
                         "--out", c_out(name)] + tol + extra)
          for label, name, extra in (("default", "sample_ode", []), ("--joint", "sample_ode_joint", ["--joint"]))],
         peer + ["ode", "--num", str(n_ode), "--batch", str(n_ode), "--seed", "0"] + peer_model + tol),
        ("decode", f"`decode`, {n_ode} shared latents", n_ode,
         [("default", "decode", c_latent("decode", FMNIST_TOL, c_out("decode")))],
         peer + ["ode", "--in", files["z"] + ".f64", "--batch", str(n_ode), "--out", p_out("decode")] + peer_model + tol),
        ("encode", f"`encode`, {n_img} test images", n_img,
         [("default", "encode", c_latent("encode", FMNIST_TOL, c_out("encode")))],
         peer + ["encode", "--in", files["x"] + ".f64", "--batch", str(n_img), "--out", p_out("encode")] + peer_model + tol),
        ("likelihood", f"`likelihood`, {n_img} test images, Rademacher", n_img,
         [(label, name, [S, "likelihood", "--model", M, "--in", files["x"] + ".npy", "--hutchinson", "rademacher",
                         "--seed", "0", "--out", c_out(name)] + tol + extra)
          for label, name, extra in (("default", "likelihood", []), ("--joint", "likelihood_joint", ["--joint"]))],
         peer + ["likelihood", "--in", files["x"] + ".f64", "--batch", str(n_img), "--divergence", "rademacher",
                 "--seed", "0", "--out", p_out("likelihood")] + peer_model + tol),
        ("pc", f"`sample --sampler pc`, {n_pc} samples (Euler–Maruyama, no corrector, N = 1000)", n_pc,
         [("default", "sample_pc", [S, "sample", "--model", M, "--sampler", "pc", "--num", str(n_pc), "--seed", "0",
                                    "--out", c_out("sample_pc")])],
         peer + ["pc", "--num", str(n_pc), "--batch", str(n_pc), "--predictor", "euler_maruyama", "--corrector", "none",
                 "--N", "1000", "--seed", "0"] + peer_model),
    ]
    # the references of decode and encode: C at rtol = atol = FMNIST_REF_TOL, not timed, kept in WORK under a hash
    # of the model file, the job, the tolerance and the inputs (a later run on the same ones reads them back)
    model_hash = hashlib.sha256(open(M, "rb").read())
    refs, more_commands = {}, []
    for job, arr in (("decode", z), ("encode", x)):
        h = model_hash.copy()
        h.update(f"{job} {FMNIST_REF_TOL} {arr.shape}".encode())
        h.update(np.ascontiguousarray(arr, dtype="<f8").tobytes())
        path = os.path.join(work, f"fmnist_ref_{job}_{h.hexdigest()[:16]}.npy")
        if os.path.exists(path):
            log(f"fmnist {job} reference: {path} (same model and inputs as an earlier run)")
        else:
            partial = path[:-len(".npy")] + ".partial.npy"  # renamed once complete
            _, wall, _ = run(c_latent(job, FMNIST_REF_TOL, partial), timeout=3600)
            os.replace(partial, path)
            log(f"fmnist {job} reference: C at rtol = atol = {FMNIST_REF_TOL}, {wall:.0f} s, {path}")
        refs[job] = np.load(path)
        more_commands.append((f"{job} reference", shown(c_latent(job, FMNIST_REF_TOL, path))))

    def c_run(cmd):
        out, wall, rss = run(cmd)
        nfe, in_process = cli_summary(out)
        return out, {"wall_s": wall, "job_s": in_process, "nfe": nfe, "maxrss_kb": rss, "loadavg": loadavg()}

    c_kernel, c_blas_line = c_blas_kernel(S)
    peer_kernel = peer_blas_kernel()
    runs, samplers = {}, {}
    for k in range(rounds):
        for job, _, _, c_runs, peer_cmd in jobs:  # C and peer alternate per job, so that the load falls on both
            for label, _, cmd in c_runs:
                out, r = c_run(cmd)
                samplers.update({job: ln.split(None, 1)[1] for ln in out.splitlines() if ln.startswith("sampler ")})
                runs.setdefault((job, label), []).append(r)
            out, wall, rss = run(peer_cmd)
            kv = parse_kv(out)
            runs.setdefault((job, "peer"), []).append({"wall_s": wall, "job_s": kv["wall_s"],
                                                       "nfe": kv.get("nfe_mean", kv["nfe"]), "maxrss_kb": rss,
                                                       "loadavg": loadavg()})
            log(f"fmnist {job}, round {k + 1}/{rounds}: " + ", ".join(
                f"C {label} {runs[(job, label)][-1]['wall_s']:.2f} s" for label, _, _ in c_runs) +
                f"; peer {kv['wall_s']:.2f} s (process {wall:.2f} s)")

    # equal accuracy: where C's error against the reference is above the peer's, C runs again at a tighter
    # tolerance, FMNIST_TOL × (peer's error / C's error) / 2 — half the peer's error if the error is proportional
    # to the tolerance — tightened the same way (at most 3 times) until its error is below the peer's; C's time at
    # the peer's error is then interpolated between its two runs, not extrapolated
    errors = {job: (rms(np.load(c_out(job)), refs[job]), rms(read_f64(p_out(job)), refs[job])) for job in refs}
    tight = {}
    for job, (c_err, p_err) in errors.items():
        value, err = float(FMNIST_TOL), c_err
        for _ in range(3):
            if err <= p_err:
                break
            value = float(f"{value * p_err / err / 2:.2g}")
            cmd = c_latent(job, f"{value:g}", c_out(job + "_tight"))
            rs = [c_run(cmd)[1] for _ in range(rounds)]
            err = rms(np.load(c_out(job + "_tight")), refs[job])
            tight[job] = {"tol": value, "rms": err, "runs": rs, "command": shown(cmd)}
            log(f"fmnist {job}: C's error {c_err:.2e} at {FMNIST_TOL} is above the peer's {p_err:.2e}; C at "
                f"{value:g}: error {err:.2e}, {median_of(rs, 'wall_s'):.2f} s")

    # agreement, from the outputs (the same in every round: fixed seeds and inputs)
    def bpd(path):
        b = (np.load(path) if path.endswith(".npy") else read_f64(path))[:, 1].astype(float)
        return float(b.mean()), float(b.std(ddof=1) / np.sqrt(len(b)))

    agree = {("decode", "default"): rms(np.load(c_out("decode")), read_f64(p_out("decode"))),
             ("encode", "default"): rms(np.load(c_out("encode")), read_f64(p_out("encode")))}
    peer_bpd = bpd(p_out("likelihood"))

    rows = []
    for job, what, n, c_runs, _ in jobs:
        p = runs[(job, "peer")]
        for label, name, cmd in c_runs:
            c = runs[(job, label)]
            speedup = median_of(p, "job_s") / median_of(c, "wall_s")
            row = {"job": job, "what": what, "c_run": label, "n": n, "c_command": shown(cmd),
                   "c_wall_s": median_of(c, "wall_s"), "c_job_s": median_of(c, "job_s"), "c_nfe": c[0]["nfe"],
                   "peer_job_s": median_of(p, "job_s"), "peer_process_s": median_of(p, "wall_s"), "peer_nfe": p[0]["nfe"],
                   "speedup": speedup, "goal_2x_met": int(speedup >= 2), "rms_c_vs_peer": agree.get((job, label), ""),
                   "rms_c_vs_ref": "", "rms_peer_vs_ref": "", "c_tight_tol": "", "c_tight_wall_s": "",
                   "c_tight_nfe": "", "rms_c_tight_vs_ref": "", "c_wall_s_at_peer_error": "", "speedup_equal_error": "",
                   "goal_2x_equal_error_met": "",
                   "c_bpd": "", "c_bpd_se": "", "peer_bpd": "", "peer_bpd_se": "", "bpd_diff_se": "",
                   "c_maxrss_kb": c[0]["maxrss_kb"], "peer_maxrss_kb": p[0]["maxrss_kb"], "rounds": rounds,
                   "loadavg": float(np.mean([r["loadavg"] for r in c + p])), "c_blas_kernel": c_kernel,
                   "peer_blas_kernel": peer_kernel}
            if job in errors:
                c_err, p_err = errors[job]
                row.update(rms_c_vs_ref=c_err, rms_peer_vs_ref=p_err)
                at_peer = None
                if c_err <= p_err:  # C at equal or smaller error already
                    row.update(speedup_equal_error=speedup, goal_2x_equal_error_met=int(speedup >= 2))
                else:
                    t = tight[job]
                    row.update(c_tight_tol=t["tol"], c_tight_wall_s=median_of(t["runs"], "wall_s"),
                               c_tight_nfe=t["runs"][0]["nfe"], rms_c_tight_vs_ref=t["rms"])
                    at_peer = time_at_error(sorted([(t["rms"], row["c_tight_wall_s"]), (c_err, row["c_wall_s"])]), p_err)
                if at_peer:
                    sp = row["peer_job_s"] / at_peer[0]
                    row.update(c_wall_s_at_peer_error=at_peer[0], speedup_equal_error=sp, goal_2x_equal_error_met=int(sp >= 2))
            if job == "likelihood":
                (cb, cse), (pb, pse) = bpd(c_out(name)), peer_bpd
                row.update(c_bpd=cb, c_bpd_se=cse, peer_bpd=pb, peer_bpd_se=pse, bpd_diff_se=(cb - pb) / np.hypot(cse, pse))
            rows.append(row)
    write_csv(os.path.join(res, f"peer_fmnist{suffix}.csv"), rows, [k for k in rows[0] if k != "what"])
    log(f"fmnist rows ({os.path.relpath(FMNIST_MODEL, REPO)}; median of {rounds} round(s); kernel C {c_kernel}, "
        f"peer {peer_kernel}):")
    for r in rows:
        agreement = (f", RMS C − peer {r['rms_c_vs_peer']:.1e}" if r["rms_c_vs_peer"] != "" else "") + (
            f", bpd C {r['c_bpd']:.4f} ± {r['c_bpd_se']:.4f} peer {r['peer_bpd']:.4f} ± {r['peer_bpd_se']:.4f} "
            f"({r['bpd_diff_se']:+.1f} SE)" if r["c_bpd"] != "" else "") + (
            f", error vs reference C {r['rms_c_vs_ref']:.2e} peer {r['rms_peer_vs_ref']:.2e}" if r["rms_c_vs_ref"] != ""
            else "") + (
            f"; C at {r['c_tight_tol']:g}: {r['c_tight_wall_s']:.2f} s error {r['rms_c_tight_vs_ref']:.2e}"
            if r["c_tight_tol"] != "" else "") + (
            f"; at equal error {r['speedup_equal_error']:.2f}×" if r["speedup_equal_error"] != "" else "")
        print(f"    {r['job']:10s} n {r['n']:3d} C {r['c_run']:8s} {r['c_wall_s']:7.2f} s NFE {r['c_nfe']:6.1f} | peer "
              f"{r['peer_job_s']:7.2f} s (process {r['peer_process_s']:6.2f}) NFE {r['peer_nfe']:6.1f} | "
              f"{r['speedup']:.2f}×{agreement}", flush=True)
    return {"rows": rows, "model": os.path.relpath(FMNIST_MODEL, REPO), "rounds": rounds, "quick": a.quick,
            "samplers": samplers, "c_blas_line": c_blas_line, "peer_kernel": peer_kernel,
            "coretype": os.environ.get("OPENBLAS_CORETYPE", ""), "ref_tol": FMNIST_REF_TOL,
            "more_commands": more_commands + [(f"{job} at the tighter tolerance", t["command"]) for job, t in tight.items()],
            "started": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")}


# ---- plots ----------------------------------------------------------------------------------------------

def plots(res, net_rows, ode_rows, scale_n, scale_d, peak):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib not available: no plots (install python3-matplotlib)")
        return []
    made = []
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, model in zip(axes, ("mlp-2d", "mlp-784")):
        for mode, ls in (("forward", "-"), ("forward+vjp", "--"), ("train_step", ":")):
            rs = sorted([r for r in net_rows if r["model"] == model and r["mode"] == mode], key=lambda r: r["batch"])
            if not rs:
                continue
            b = [r["batch"] for r in rs]
            ax.plot(b, [r["c_gflops"] for r in rs], "o" + ls, color="C0", label=f"C {mode}")
            ax.plot(b, [r["peer_gflops"] for r in rs], "s" + ls, color="C3", label=f"peer {mode}")
        ax.axhline(peak, color="k", lw=0.8)
        ax.text(1, peak * 1.03, f"sgemm 1024³ peak {peak:.0f} GFLOP/s", fontsize=8)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch")
        ax.set_ylabel("network GFLOP/s")
        ax.set_title(f"{model}: throughput vs batch (2 threads)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path = os.path.join(res, "peer_throughput.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    made.append(path)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for (side, mode), color, marker in ((("C", "joint"), "C0", "o"), (("C", "independent"), "C2", "^"),
                                        (("peer", "joint"), "C3", "s")):
        rs = sorted([r for r in ode_rows if r["side"] == side and r["mode"] == mode], key=lambda r: -r["tol"])
        err = [max(r["rms_error_vs_ref"], 1e-12) for r in rs]
        label = {"C": f"C rk45 ({mode})", "peer": "peer scipy RK45 (joint)"}[side]
        axes[0].plot(err, [r["wall_s"] for r in rs], marker + "-", color=color, label=label)
        axes[1].plot(err, [r.get("nfe_mean", r["nfe"]) for r in rs], marker + "-", color=color, label=label)
        for r, e in zip(rs, err):
            axes[0].annotate(f"{r['tol']:g}", (e, r["wall_s"]), fontsize=7, textcoords="offset points", xytext=(3, 3))
    for ax, ylabel in zip(axes, ("wall time (s)", "NFE per sample (mean)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("RMS error of the samples vs the 1e-8 reference")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_title("ODE sampler work–precision (labels: rtol = atol)")
    axes[1].set_title("ODE sampler: evaluations vs error")
    fig.tight_layout()
    path = os.path.join(res, "peer_work_precision.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    made.append(path)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    for side, color in (("C (scoresde sample)", "C0"), ("peer", "C3")):
        rs = [r for r in scale_n if r["side"] == side]
        ax.plot([r["samples"] for r in rs], [r["wall_s"] for r in rs], "o-", color=color, label=f"{side}: time")
    ax2 = ax.twinx()
    for side, color in (("C (scoresde sample)", "C0"), ("peer", "C3")):
        rs = [r for r in scale_n if r["side"] == side]
        ax2.plot([r["samples"] for r in rs], [r["maxrss_kb"] / 1024 for r in rs], "s--", color=color,
                 label=f"{side}: max RSS")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax2.set_yscale("log")
    ax.set_xlabel("samples (PC Euler–Maruyama, 20 steps, batch 256)")
    ax.set_ylabel("wall time (s), solid")
    ax2.set_ylabel("max RSS (MiB), dashed")
    ax.legend(fontsize=7, loc="upper left")
    ax2.legend(fontsize=7, loc="lower right")
    ax.set_title("scaling with the number of samples")
    ax = axes[1]
    for side, color in (("C", "C0"), ("peer", "C3")):
        rs = [r for r in scale_d if r["side"] == side]
        ax.plot([r["dim"] for r in rs], [r["wall_s"] for r in rs], "o-", color=color, label=f"{side}: time")
        ax.plot([r["dim"] for r in rs], [r["wall_s"] * (1 - r["outside_net_share"]) for r in rs], "o:", color=color,
                label=f"{side}: time in the network")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("data dimension D (hidden 256, 256 samples, 100 PC steps)")
    ax.set_ylabel("wall time (s)")
    ax.legend(fontsize=7)
    ax.set_title("scaling with the dimension")
    fig.tight_layout()
    path = os.path.join(res, "peer_scaling.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    made.append(path)
    return made


# ---- the report -------------------------------------------------------------------------------------

def goal(ok):
    return "met" if ok else "**missed**"


def kernel_heading(c_kernel, peer_kernel, coretype):
    """A table's heading: the OpenBLAS kernels its runs reported, and whether OPENBLAS_CORETYPE chose them."""
    kernels = c_kernel if c_kernel == peer_kernel else f"C {c_kernel}, peer {peer_kernel}"
    how = (f"forced by OPENBLAS_CORETYPE={coretype}" if coretype else
           "OPENBLAS_CORETYPE unset: the kernel OpenBLAS detects on this CPU")
    return f"OpenBLAS kernel {kernels} ({how})"


def span(values, fmt):
    """'lo–hi' of values in format fmt, one number when both read the same."""
    lo, hi = format(min(values), fmt), format(max(values), fmt)
    return lo if lo == hi else f"{lo}–{hi}"


def unet_table(L, unet):
    r0 = unet["rows"][0]
    L.append(f"### {kernel_heading(r0['c_blas_kernel'], unet['peer_kernel'], unet['coretype'])}\n")
    L.append(f"Measured {unet['started']}; sgemm 1024³ peak in bench_unet's runs: {unet['peak']:.1f} GFLOP/s.\n")
    L.append("| pass | batch | C ms/call | C samples/s | C GFLOP/s | C of peak | C activations (MB) | "
             "peer samples/s | peer GFLOP/s | peer of peak | speed-up C/peer | peer train_step samples/s |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in unet["rows"]:
        ts = r["peer_train_step_samples_per_s"]
        acts = r["c_activation_mb"]
        L.append(f"| {r['c_pass']} / {r['peer_mode']} | {r['batch']} | {r['c_ms_per_call']:.1f} | "
                 f"{r['c_samples_per_s']:.0f} | {r['c_gflops']:.1f} | {100 * r['c_fraction_of_peak']:.0f}% | "
                 f"{acts if acts == '' else format(acts, '.0f')} | {r['peer_samples_per_s']:.0f} | "
                 f"{r['peer_gflops']:.1f} | {100 * r['peer_fraction_of_peak']:.0f}% | "
                 f"{r['speedup_c_over_peer']:.2f}× | {ts if ts == '' else format(ts, '.0f')} |")
    L.append("")


def fmnist_tables(L, fmnist, unet):
    """The Fashion-MNIST rows of one kernel: the jobs, then decode and encode at equal accuracy; unet: the U-Net
    rows on the same kernel, or None."""
    fm_rows = fmnist["rows"]
    L.append(f"### {kernel_heading(fm_rows[0]['c_blas_kernel'], fmnist['peer_kernel'], fmnist['coretype'])}\n")
    L.append(f"Measured {fmnist['started']}.\n")
    L.append("| job | C run | C process (s) | C in-process (s) | C NFE / sample | peer job (s) | peer process (s) | "
             "peer NFE | speed-up | ≥ 2× | agreement |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in fm_rows:
        note = f"RMS C − peer {r['rms_c_vs_peer']:.1e}" if r["rms_c_vs_peer"] != "" else ""
        if r["c_bpd"] != "":
            note = (f"bits/dim C {r['c_bpd']:.4f} ± {r['c_bpd_se']:.4f}, peer {r['peer_bpd']:.4f} ± "
                    f"{r['peer_bpd_se']:.4f}: {r['bpd_diff_se']:+.1f} SE, within 3 SE: "
                    f"{goal(abs(r['bpd_diff_se']) <= 3)}")
        L.append(f"| {r['what']} | {r['c_run']} | {r['c_wall_s']:.2f} | {r['c_job_s']:.2f} | {r['c_nfe']:.1f} | "
                 f"{r['peer_job_s']:.2f} | {r['peer_process_s']:.2f} | {r['peer_nfe']:.1f} | {r['speedup']:.2f}× | "
                 f"{goal(r['goal_2x_met'])} | {note} |")
    L.append(f"\nAt equal accuracy (RMS error against the rtol = atol = {fmnist['ref_tol']} reference; C's process "
             "time at the peer's error interpolated log–log between its two runs):\n")
    L.append(f"| job | RMS error at {FMNIST_TOL}: C / peer | C at a tighter tolerance: error, process (s), NFE / sample | "
             "C process at the peer's error (s) | peer job (s) | speed-up at equal error | ≥ 2× |")
    L.append("|---|---|---|---|---|---|---|")
    for r in fm_rows:
        if r["rms_c_vs_ref"] == "":
            continue
        tighter = (f"{r['c_tight_tol']:g}: {r['rms_c_tight_vs_ref']:.2e}, {r['c_tight_wall_s']:.2f}, "
                   f"{r['c_tight_nfe']:.1f}" if r["c_tight_tol"] != "" else "none needed (C's error ≤ the peer's)")
        at_peer = (format(r["c_wall_s_at_peer_error"], ".2f") if r["c_wall_s_at_peer_error"] != "" else
                   f"≤ {r['c_wall_s']:.2f} (its run at {FMNIST_TOL})" if r["rms_c_vs_ref"] <= r["rms_peer_vs_ref"] else
                   "not bracketed")
        sp = r["speedup_equal_error"]
        L.append(f"| {r['job']} | {r['rms_c_vs_ref']:.2e} / {r['rms_peer_vs_ref']:.2e} | {tighter} | {at_peer} | "
                 f"{r['peer_job_s']:.2f} | {'' if sp == '' else format(sp, '.2f') + '×'} | "
                 f"{'' if sp == '' else goal(r['goal_2x_equal_error_met'])} |")
    fwd = next((r for r in (unet["rows"] if unet else []) if r["mode"] == "forward" and r["batch"] == 64), None)
    if fwd:
        L.append(f"\nWhat bounds these rows: every job is U-Net evaluations, and in the U-Net section the C forward "
                 f"runs at {fwd['speedup_c_over_peer']:.2f}× the peer's at batch 64 on this kernel; a row can gain on "
                 "that only by fewer evaluations or less work around them.")
    L.append("")


def report(res, info, sect_times, check_rows, net_rows, peak, pc_rows, ode_rows, ref_tol, lik_rows, agreement,
           train_row, scale_n, scale_d, omp_rows, prof_rows, started, total_s, quick, time_share, control,
           unet=None, fmnist=None, rerun=None, unet_detected=None, fmnist_detected=None):
    L = []
    L.append("# scoresde beside the official algorithms' stack (PyTorch + scipy)\n")
    L.append(f"Run of {started} ({'QUICK (reduced sizes)' if quick else 'full'}), {total_s / 60:.1f} min in all, "
             f"commit {info['commit']}. Produced by `benchmarks/run_peer.sh`; the peer is `benchmarks/peer/sgm_peer.py` "
             "(a port of score_sde_pytorch's sde_lib, sampling, likelihood and losses onto the same MLP, reading the "
             "same .sgm weights, EMA copy). Both sides: 2 threads (OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = 2, "
             "torch.set_num_threads(2)), OMP_WAIT_POLICY=passive (see the OpenMP note below). Speed-up = peer time / "
             "C time (> 1: C faster). Times are in-process (model loaded, Python imported) unless marked CLI.\n")
    if rerun:
        L.append("Sections measured again later with `--only` (the rest is from the run above): " +
                 ", ".join(f"{k} at {v}" for k, v in rerun.items()) + ".\n")
    L.append("## Machine\n")
    for ln in info["cpu"]:
        L.append(f"- {ln}")
    L.append(f"- {info['mem']}")
    L.append("- " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    for ln in info.get("blas", []):
        L.append("- " + ln)
    L.append("- torch runs its matrix products on the same OpenBLAS (Debian's python3-torch links libblas.so.3 → "
             "openblas-pthread), so GEMM-bound work can only differ by what surrounds the GEMMs.")
    image_rows = [r for sec in (unet, fmnist, unet_detected, fmnist_detected) if sec for r in sec["rows"]]
    loads = [r["loadavg"] for r in pc_rows + ode_rows + lik_rows + image_rows if "loadavg" in r]
    before = f"{info['load_before']:.1f} when the run started; " if "load_before" in info else ""
    L.append(f"- 1-minute load average: {before}{min(loads):.1f} – {max(loads):.1f} during it, on 2 cores. The run's "
             "own two threads account for about 2; above that, other work shared the machine, which lowers every "
             "absolute number, ratios less so because C and peer runs alternate.\n")

    # ratio table
    def nrow(model, B, mode):
        return next((r for r in net_rows if r["model"] == model and r["batch"] == B and r["mode"] == mode), None)

    L.append("## Ratio table (C / peer)\n")
    L.append("| benchmark | C | peer | speed-up C/peer | goal | |")
    L.append("|---|---|---|---|---|---|")
    for model in ("mlp-2d", "mlp-784"):
        for mode in ("forward", "forward+vjp", "train_step"):
            for B in (1, 64, 256, 1024):
                r = nrow(model, B, mode)
                if not r:
                    continue
                goals = ""
                if B >= 256 and mode != "train_step":
                    goals = (f"≥ 2× peer: {goal(r['speedup_c_over_peer'] >= 2)}; ≥ 70% of sgemm peak: "
                             f"{goal(r['c_fraction_of_peak'] >= 0.7)} ({100 * r['c_fraction_of_peak']:.0f}%)")
                L.append(f"| {model} {mode}, batch {B} | {r['c_samples_per_s']:.0f}/s ({r['c_gflops']:.1f} GFLOP/s) | "
                         f"{r['peer_samples_per_s']:.0f}/s ({r['peer_gflops']:.1f} GFLOP/s) | "
                         f"{r['speedup_c_over_peer']:.2f}× | {goals} | |")
    for r in [r for u in (unet, unet_detected) if u for r in u["rows"]]:
        what = {"forward": "forward", "forward+vjp": "forward+VJP",
                "train step": "train step (C `train step` vs peer `forward+backward`)"}[r["mode"]]
        note = (f"peer's full train_step (loss, clip, Adam, EMA): {r['peer_train_step_samples_per_s']:.0f}/s"
                if r["mode"] == "train step" else "")
        kernel = (r["c_blas_kernel"] if r["c_blas_kernel"] == r["peer_blas_kernel"]
                  else f"C {r['c_blas_kernel']}, peer {r['peer_blas_kernel']}")
        L.append(f"| U-Net (base {r['base']}, {r['levels']} levels) {what}, batch {r['batch']}, OpenBLAS "
                 f"{kernel} | {r['c_samples_per_s']:.0f}/s ({r['c_gflops']:.1f} GFLOP/s) | "
                 f"{r['peer_samples_per_s']:.0f}/s ({r['peer_gflops']:.1f} GFLOP/s) | {r['speedup_c_over_peer']:.2f}× | "
                 f"| {note} |")

    def pair(rows, pred):
        c = next(r for r in rows if r["side"] == "C" and pred(r))
        p = next(r for r in rows if r["side"] == "peer" and pred(r))
        return c, p

    for label in sorted({r["run"] for r in pc_rows}):
        c, p = pair(pc_rows, lambda r: r["run"] == label)
        sp = p["wall_s"] / c["wall_s"]
        L.append(f"| PC sampler {label}, {c['steps']} steps, {c['samples']} samples (2-D) | {c['wall_s']:.2f} s | "
                 f"{p['wall_s']:.2f} s | {sp:.2f}× | ≥ 2×: {goal(sp >= 2)} | |")
    tol = 1e-5
    cj = next(r for r in ode_rows if r["side"] == "C" and r["mode"] == "joint" and r["tol"] == tol)
    ci = next(r for r in ode_rows if r["side"] == "C" and r["mode"] == "independent" and r["tol"] == tol)
    pj = next(r for r in ode_rows if r["side"] == "peer" and r["tol"] == tol)
    for c, what in ((cj, "joint (--joint, like the official)"), (ci, "independent (CLI default)")):
        sp = pj["wall_s"] / c["wall_s"]
        L.append(f"| ODE sampler 1e-5, {c['samples']} samples, C {what} | {c['wall_s']:.2f} s, NFE "
                 f"{c.get('nfe_mean', c['nfe']):.0f} | {pj['wall_s']:.2f} s, NFE {pj['nfe']} | {sp:.2f}× | "
                 f"≥ 2×: {goal(sp >= 2)} | |")
    # speed-up at equal accuracy: C joint's time interpolated (log–log) at the peer's 1e-5 error
    target = pj["rms_error_vs_ref"]
    at_peer = time_at_error(sorted((r["rms_error_vs_ref"], r["wall_s"], r["tol"]) for r in ode_rows
                                   if r["side"] == "C" and r["mode"] == "joint"), target)
    if at_peer:
        t_c, lo, hi = at_peer
        sp = pj["wall_s"] / t_c
        L.append(f"| ODE sampler at equal accuracy (RMS error {target:.1e}, the peer's at 1e-5), C joint "
                 f"interpolated between tol {hi[2]:g} and {lo[2]:g} | {t_c:.2f} s | {pj['wall_s']:.2f} s | "
                 f"{sp:.2f}× | ≥ 2×: {goal(sp >= 2)} | |")
    for c, what in ((cj, "joint"), (ci, "independent, mean per sample (CLI default)")):
        nfe_c = c.get("nfe_mean", c["nfe"]) if c is ci else c["nfe"]
        nfe_ratio = nfe_c / pj["nfe"]
        per = c["samples"] if c is ci else 1  # independent: steps summed over the samples
        L.append(f"| ODE NFE, C rk45 {what} / scipy RK45 (joint) | {nfe_c:.0f} ({c['steps'] / per:.0f} steps, "
                 f"{c['rejected'] / per:.1f} rejected) | {pj['nfe']} ({pj['steps']:.0f} steps, {pj['rejected']:.0f} rejected) | "
                 f"{nfe_ratio:.2f} | within 10%: {goal(abs(nfe_ratio - 1) <= 0.1)} | |")
    lc = next(r for r in lik_rows if r["side"] == "C" and r["mode"] == "joint" and r["divergence"] == "rademacher")
    li = next(r for r in lik_rows if r["side"] == "C" and r["mode"] == "independent")
    lp = next(r for r in lik_rows if r["side"] == "peer" and r["divergence"] == "rademacher")
    for c, what in ((lc, "joint"), (li, "independent (CLI default)")):
        sp = lp["wall_s"] / c["wall_s"]
        L.append(f"| likelihood, {c['points']} points, Rademacher, C {what} | {c['wall_s']:.2f} s, NFE "
                 f"{c.get('nfe_mean', c['nfe']):.0f} | {lp['wall_s']:.2f} s, NFE {lp['nfe']} | {sp:.2f}× | "
                 f"≥ 2×: {goal(sp >= 2)} | |")
    L.append(f"| bits/dim, exact trace, same points | {next(r for r in lik_rows if r['side'] == 'C' and r['divergence'] == 'exact')['bpd_mean']:.4f} | "
             f"{next(r for r in lik_rows if r['side'] == 'peer' and r['divergence'] == 'exact')['bpd_mean']:.4f} | "
             f"max per-point difference {agreement['exact_max_abs_bpd_diff']:.1e} | agree | |")
    L.append(f"| bits/dim, Rademacher (different probes) | {lc['bpd_mean']:.4f} ± {lc['bpd_se']:.4f} | "
             f"{lp['bpd_mean']:.4f} ± {lp['bpd_se']:.4f} | difference {agreement['hutchinson_mean_diff']:+.4f} = "
             f"{agreement['hutchinson_mean_diff'] / agreement['hutchinson_diff_se']:+.1f} SE | within 3 SE: "
             f"{goal(abs(agreement['hutchinson_mean_diff']) <= 3 * agreement['hutchinson_diff_se'])} | |")
    for model in ("mlp-2d", "mlp-784"):
        r = nrow(model, 256, "train_step")
        if r:
            sp = r["speedup_c_over_peer"]
            L.append(f"| training steps/s, {model}, batch 256 | {r['c_samples_per_s'] / 256:.1f} | "
                     f"{r['peer_samples_per_s'] / 256:.1f} | {sp:.2f}× | | |")
    c_runs = [r for r in pc_rows + ode_rows + lik_rows if r["side"] == "C" and r.get("divergence", "") != "exact"]
    worst = max(c_runs, key=lambda r: r["outside_net_share"])
    L.append(f"| solver overhead (C, share of wall time outside the network), 2-D model, worst run: {worst['run']}"
             f"{' tol ' + format(worst['tol'], 'g') if 'tol' in worst else ''} | {100 * worst['outside_net_share']:.1f}% | "
             f"{100 * max(r['outside_net_share'] for r in pc_rows + ode_rows + lik_rows if r['side'] == 'peer'):.1f}% (worst) | | "
             f"< 5%: {goal(worst['outside_net_share'] < 0.05)} | |")
    for r in scale_d:
        if r["side"] == "C" and r["dim"] == max(x["dim"] for x in scale_d):
            p = next(x for x in scale_d if x["side"] == "peer" and x["dim"] == r["dim"])
            L.append(f"| solver overhead, PC Euler–Maruyama at D = {r['dim']} (hidden 256) | "
                     f"{100 * r['outside_net_share']:.1f}% | {100 * p['outside_net_share']:.1f}% | | "
                     f"< 5%: {goal(r['outside_net_share'] < 0.05)} | |")
    big = [r for r in scale_n if r["side"].startswith("C")]
    rss_small = min(r["maxrss_kb"] for r in big)
    rss_big = max(r["maxrss_kb"] for r in big)
    L.append(f"| memory vs samples, C batched (n = {big[0]['samples']} → {big[-1]['samples']}) | "
             f"{rss_small / 1024:.1f} → {rss_big / 1024:.1f} MiB | "
             f"{min(r['maxrss_kb'] for r in scale_n if r['side'] == 'peer') / 1024:.0f} → "
             f"{max(r['maxrss_kb'] for r in scale_n if r['side'] == 'peer') / 1024:.0f} MiB | | flat (< 10% growth): "
             f"{goal(rss_big <= 1.1 * rss_small)} | |")
    L.append("")

    # reading the results: what bounds the missed goals (numbers of this run)
    L.append("## What bounds the results\n")
    n2, n7 = nrow("mlp-2d", 256, "forward"), nrow("mlp-784", 256, "forward")
    if n2 and n7:
        def frac(r):  # the peer's rate against the best sgemm rate measured for that row
            return r["peer_gflops"] / max(r["sgemm_same_shape_gflops"], r["sgemm_peak_gflops"])

        f2, f7 = frac(n2), frac(n7)
        bound = ", ".join(f"{name}: at most {1 / f:.1f}×" if f < 0.95 else f"{name}: none (the peer is GEMM-bound)"
                          for name, f in (("2-D", f2), ("784-d", f7)))
        L.append(f"- **Network vs peer.** Both sides multiply with the same OpenBLAS `sgemm` (torch links Debian's "
                 f"libblas → openblas-pthread). At batch 256 the peer runs at {100 * f2:.0f}% (2-D MLP) and "
                 f"{100 * f7:.0f}% (784-d MLP) of the best `sgemm` rate measured for that row (same shape or "
                 f"1024³; > 100% is load noise), which bounds what any implementation on this BLAS can gain without "
                 f"doing fewer FLOPs ({bound}; C measured {n2['speedup_c_over_peer']:.2f}× and "
                 f"{n7['speedup_c_over_peer']:.2f}×). The C side gains where the peer pays per-operation overhead: "
                 f"at batch 1 the speed-up is {nrow('mlp-2d', 1, 'forward')['speedup_c_over_peer']:.1f}× (2-D) and "
                 f"{nrow('mlp-784', 1, 'forward')['speedup_c_over_peer']:.1f}× (784-d).")
    if prof_rows:
        share = {}
        for r in prof_rows:
            if r["side"] == "C":
                share[r["where"]] = share.get(r["where"], 0.0) + r["cpu_share_percent"]
        blas = share.get("network: OpenBLAS sgemm", 0.0)
        libm = share.get("libm (SiLU exp, Fourier sin/cos)", 0.0)
        lay = share.get("network: scorenet layers", 0.0)
        kern = share.get("kernel", 0.0)
        L.append(f"- **C network vs sgemm peak.** In the perf profile of a C PC run (2-D MLP, batch 128) OpenBLAS "
                 f"has {blas:.0f}% of the CPU samples (all threads), libm/libmvec {libm:.0f}% (SiLU's exp, the "
                 f"Fourier features' sincos), scorenet's own element-wise loops (LayerNorm, bias rows, SiLU) "
                 f"{lay:.0f}% and the kernel {kern:.0f}% (OpenMP thread wake-ups and page handling; OpenBLAS "
                 f"itself runs single-threaded, one tile per call, scorenet/snet_gemm.h). With hidden width 256 "
                 f"the matrices are small (256×256 weights), so the element-wise passes, the per-tile packing and "
                 f"the thread hand-offs weigh against the GEMMs; at the 784-d MLP's 1024 width they do not.")
    L.append("- **Time embedding.** The time path (Fourier → temb → the nb·H-wide tproj GEMM) is "
             f"{100 * time_share['2d']:.0f}% of the 2-D MLP's forward FLOPs and {100 * time_share['784']:.0f}% of "
             "the 784-d one's. The C side runs it once when all rows of a call share t (PC, SDE, joint ODE); "
             "the per-sample ODE solver's rows have their own times, so there it runs per row — why that mode "
             "costs more per NFE than the joint one.")
    L.append(f"- **Samplers.** Both sides spend almost all of the sampling time in the network (C: > "
             f"{100 * (1 - max(r['outside_net_share'] for r in c_runs)):.0f}%), so a sampler's speed-up is the "
             f"network's at that batch plus the peer's Python/scipy overhead per call. Per likelihood evaluation "
             f"the peer makes two network passes (the official drift_fn, then forward + backward in div_fn); the "
             f"C side's per-sample solver makes one fused forward + backward (score_vjp_rows), its joint mode "
             f"still two.")
    def ctl(name, tol):
        return next(r for r in control if r["control"] == name and abs(float(r["tol"]) - tol) <= 1e-12 * tol)

    c5d, c5b, c5s = ctl("default", 1e-5), ctl("bounds", 1e-5), ctl("scipy", 1e-5)
    L.append(f"- **ODE NFE.** ARKODE's Dormand–Prince takes {cj['steps']:.0f} accepted steps where scipy's RK45 takes "
             f"{pj['steps']:.0f} at 1e-5 (both 6 evaluations per attempt): same tableau, different step-size "
             "control. ARKODE's defaults are a PID controller, error bias 1.5, safety 0.96 and fixed-step bounds "
             "[1, 1.5] (a proposed growth below 1.5× keeps h unchanged); scipy's is an I-controller with exponent "
             "−1/5, safety 0.9, no bias, and it always follows the controller. `arkode_control` solves the same "
             f"batch with ARKODE directly (peer_ode_control.csv): at 1e-5, {c5d['nfe']} evaluations with the "
             f"defaults, {c5b['nfe']} with `ERKStepSetFixedStepBounds(mem, 1, 1)` alone, {c5s['nfe']} with "
             f"scipy's control, against scipy's {c5d['scipy_rk45_nfe']}: the bounds close "
             f"{100 * (c5d['nfe'] - c5b['nfe']) / max(1, c5d['nfe'] - c5d['scipy_rk45_nfe']):.0f}% of the gap, "
             f"scipy's control {100 * (c5d['nfe'] - c5s['nfe']) / max(1, c5d['nfe'] - c5d['scipy_rk45_nfe']):.0f}%; "
             "the rest (ARKODE's own first-step estimate, its error-norm details) was not traced further. The extra "
             f"steps buy accuracy: at 1e-5 the C joint samples are {cj['rms_error_vs_ref']:.1e} (RMS) from the "
             f"reference, the peer's {pj['rms_error_vs_ref']:.1e}, so the fair comparison is at equal error (the "
             "work–precision plot, and the equal-accuracy row of the table).")
    L.append("")

    # the limit
    L.append("## The limit: sgemm peak and what the samplers reach\n")
    L.append(f"`cblas_sgemm` 1024×1024×1024, 2 threads, this run: **{peak:.1f} GFLOP/s** (bench_scorenet). "
             "Network FLOPs count 2 per multiply–add of the matrix products (the time embedding included, computed "
             "per sample as the architecture defines it).\n")
    L.append("| run | side | wall (s) | network GFLOP | GFLOP/s | fraction of peak | wall time outside the network |")
    L.append("|---|---|---|---|---|---|---|")
    for r in pc_rows + [cj, ci, pj] + [lc, li, lp]:
        name = r["run"] + (f" tol {r['tol']:g}" if "tol" in r else "")
        L.append(f"| {name} | {r['side']} | {r['wall_s']:.2f} | {r['net_gflop']:.1f} | {r['net_gflops_per_s']:.1f} | "
                 f"{100 * r['net_gflops_per_s'] / peak:.0f}% | {100 * r['outside_net_share']:.1f}% |")
    L.append("")
    if prof_rows:
        L.append("perf profile (cpu-clock samples by shared object, all threads) of one PC Euler–Maruyama run, "
                 "128 samples:\n")
        L.append("| side | where | share of CPU samples |")
        L.append("|---|---|---|")
        for r in prof_rows:
            if r["cpu_share_percent"] >= 0.5:
                L.append(f"| {r['side']} | {r['where']} | {r['cpu_share_percent']:.1f}% |")
        L.append("")

    # ODE work precision
    L.append(f"## ODE sampler: work–precision (reference: C rk45, joint, rtol = atol = {ref_tol})\n")
    L.append("| tol | side | mode | NFE (mean/sample) | steps | rejected | wall (s) | RMS error vs reference | "
             "RMS C joint − peer |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for r in ode_rows:
        L.append(f"| {r['tol']:g} | {r['side']} | {r['mode']} | {r.get('nfe_mean', r['nfe']):.0f} | {r['steps']:.0f} | "
                 f"{r['rejected']:.0f} | {r['wall_s']:.2f} | {r['rms_error_vs_ref']:.2e} | {r['rms_c_joint_vs_peer']:.2e} |")
    L.append("\nIndependent mode: steps and rejections summed over the samples' own solves.\n")
    L.append("ARKODE called directly on the same joint solve (arkode_control), integrator evaluations only:\n")
    L.append("| tol | ARKODE defaults | fixed-step bounds [1, 1] | scipy-like control | scipy RK45 |")
    L.append("|---|---|---|---|---|")
    for tol in sorted({float(r["tol"]) for r in control}, reverse=True):
        d, b, sc = ctl("default", tol), ctl("bounds", tol), ctl("scipy", tol)
        L.append(f"| {tol:g} | {d['nfe']} ({d['steps']} steps) | {b['nfe']} ({b['steps']} steps) | "
                 f"{sc['nfe']} ({sc['steps']} steps) | {d['scipy_rk45_nfe']} |")
    L.append("")

    # training
    L.append("## Training\n")
    L.append("bench_scorenet `train_step` (forward, full backward, Adam, EMA, data) against the peer's official "
             "step (loss, backward, clip_grad_norm_, Adam, EMA), same architecture and batch:\n")
    L.append("| model | batch | C steps/s | peer steps/s | speed-up |")
    L.append("|---|---|---|---|---|")
    for r in net_rows:
        if r["mode"] == "train_step":
            L.append(f"| {r['model']} | {r['batch']} | {r['c_samples_per_s'] / r['batch']:.1f} | "
                     f"{r['peer_samples_per_s'] / r['batch']:.1f} | {r['speedup_c_over_peer']:.2f}× |")
    if train_row:
        L.append(f"\n`scoresde train` (CLI, checkerboard, batch {train_row['batch']}, {train_row['steps']} steps, "
                 f"with checkpointing and logging) trained this run's 2-D model at {train_row['steps_per_s']:.1f} steps/s.")
    L.append("")

    # the U-Net
    L.append("## U-Net (Fashion-MNIST shape)\n")
    if unet is False:
        L.append("Not measured: the run predates the U-Net rows (`benchmarks/run_peer.sh --only unet` adds them).\n")
    elif not unet:
        L.append("Not measured: no U-Net model (models/fashion_mnist.sgm is not one and "
                 "models/training/fmnist_unet.ckpt is missing; `--model-unet FILE`).\n")
    else:
        r0 = unet["rows"][0]
        L.append(f"C: `bench_unet` (benchmarks/scorenet_unet) at --base {r0['base']} --levels {r0['levels']} --groups "
                 f"{r0['groups']}, 1×28×28, on its own deterministic weights (it does not load a file; the speed does "
                 f"not depend on the weights). Peer: `peer_bench.py net` on `{unet['model']}` (step {unet['step']}, "
                 f"{unet['n_params']} parameters, {unet['sde'].upper()}) — the same architecture. The peer runs with "
                 "`--malloc-heap` (glibc keeps freed tensors in its heap instead of a fresh mmap and page faults per "
                 "activation; the peer at its best, not the default allocator the official stack would use). "
                 "OpenBLAS kernels: C's from bench_unet's report, the peer's from openblas_get_corename in a torch "
                 "process with the peer's environment. Each figure is the median of the "
                 f"calls in one process (bench_unet's median; peer_bench `--median` of its 5 rounds), then the median "
                 f"of {unet['rounds']} round(s) in which C and peer processes alternate per batch"
                 f"{' (QUICK: batch 64 only, one round)' if unet['quick'] else ''}. FLOPs as bench_unet counts "
                 "them: forward × 1, forward+VJP × 2, training step × 3. C's `train step` is forward + backward with "
                 "parameter gradients and nothing else, as the peer's `forward+backward`; the peer's `train_step` "
                 "(DSM loss, backward, clip_grad_norm_, Adam, EMA) is shown for information.\n")
        for u in (unet, unet_detected):
            if u:
                unet_table(L, u)
        fwd = [r for r in unet["rows"] if r["mode"] == "forward"]
        kernel = r0["c_blas_kernel"]
        L.append("The peer's convolutions do not run on OpenBLAS: torch computes them with oneDNN (MKL-DNN 2.6, "
                 "its own JIT kernels for the instructions it detects, whatever OPENBLAS_CORETYPE says), so the \"same "
                 "kernel\" holds here only for the peer's dense layers; its forward runs at "
                 f"{span([r['peer_gflops'] for r in fwd], '.0f')} GFLOP/s against the {unet['peak']:.0f} GFLOP/s sgemm "
                 f"peak of OpenBLAS {kernel} in bench_unet's runs. C's convolutions are im2col + OpenBLAS sgemm, so C's "
                 "rows follow the OpenBLAS kernel")
        if unet_detected:
            det = {(r["batch"], r["mode"]): r for r in unet_detected["rows"]}
            both = [(r, det[(r["batch"], r["mode"])]) for r in unet["rows"] if (r["batch"], r["mode"]) in det]
            L[-1] += (f": with {unet_detected['rows'][0]['c_blas_kernel']} (detected) instead of {kernel} (forced), "
                      f"C's rows run {span([d['c_samples_per_s'] / f['c_samples_per_s'] for f, d in both], '.2f')}× "
                      f"as fast and the peer's {span([d['peer_samples_per_s'] / f['peer_samples_per_s'] for f, d in both], '.2f')}×, "
                      f"and C stands at {span([d['speedup_c_over_peer'] for _, d in both], '.2f')}× of the peer.")
        elif unet["coretype"]:
            L[-1] += (f" (these rows: OPENBLAS_CORETYPE={unet['coretype']}; `--detected-kernel` measures them again "
                      "with the kernel OpenBLAS detects).")
        else:
            L[-1] += " (these rows: the kernel OpenBLAS detects)."
        L.append("\npeer_unet.csv holds the rows" + (", peer_unet_detected.csv those of the detected kernel"
                                                     if unet_detected else "") + ".\n")

    # the Fashion-MNIST model end to end
    L.append("## Fashion-MNIST model end to end (the CLI's default paths)\n")
    if fmnist is False:
        L.append("Not measured: the run predates these rows (`benchmarks/run_peer.sh --only fmnist` adds them).\n")
    elif not fmnist:
        L.append("Not measured: models/fashion_mnist.sgm is not a U-Net.\n")
    else:
        fm_rows = fmnist["rows"]
        r0 = next(r for r in fm_rows if r["job"] == "ode sample")
        L.append(f"`{fmnist['model']}` (U-Net). C: the whole `scoresde` process as a user runs it (start-up, model "
                 "load, reading the input, writing the .npy output), with the CLI's defaults except the counts, the "
                 f"seed, the tolerances (rtol = atol = {FMNIST_TOL}, also the defaults), inputs and outputs; 2 threads from "
                 "the environment. Peer: `peer_bench.py` with `--malloc-heap` (the peer at its best, as in the U-Net "
                 "section); its time is the job in-process, torch and scipy imported and the model loaded — excluded "
                 "alike from every row; its whole process (import, load, writing) is in its own column. Speed-up = "
                 "peer job / C process; C's own summary time (in-process) is shown beside its process time. "
                 f"Median of {fmnist['rounds']} round(s), C and peer alternating per job"
                 f"{' (QUICK: reduced counts)' if fmnist['quick'] else ''}.\n")
        L.append(f"- `sample --sampler ode`: each side draws its own prior latents (C from its counter streams, the "
                 "peer with torch seed 0 inside the timed job, as the official sampler does), so these samples are "
                 "not compared; `decode` runs the same computation (C: sgm_ode_sample is a prior draw, then "
                 f"sgm_decode) on {r0['n']} shared latents (numpy seed 2021) and gives the RMS difference C − peer. "
                 "`decode` has no `--joint`.")
        L.append("- `encode`, `likelihood`: the first test images, dequantised once in Python as `fashion-mnist:test` "
                 "is (x = 2(k + u)/256 − 1, but numpy's u, seed 15) and given to both sides as a file — the same points. "
                 "The peer's encode integrates ode_sampler's probability-flow ODE from eps = 1e-3 up to T (RK45; the "
                 "official code has no encoder of its own). Likelihood probes are Rademacher, each side its own, so "
                 "bits/dim (dequantisation offset +7 included) agree only statistically: the difference is given in "
                 "combined standard errors.")
        L.append("- NFE: C's summary (mean per sample or point; `--joint`: the batch's shared count), the peer's "
                 "solve_ivp evaluations; both count the ODE sampler's denoising evaluation, and a likelihood "
                 "evaluation is the drift and its divergence probe.")
        L.append(f"- Equal accuracy (decode, encode): each side's {FMNIST_TOL} output against a reference, C's CLI at "
                 f"rtol = atol = {fmnist['ref_tol']} (not timed; kept in WORK under a hash of the model file and the "
                 "inputs, and reused while they are unchanged). C's per-sample Dormand–Prince and the peer's RK45 on "
                 "the whole flattened batch (one error norm) do not reach the same error at the same tolerance: where "
                 f"C's is above the peer's, C runs again at {FMNIST_TOL} × (peer's error / C's error) / 2, rounded to two "
                 "digits — half the peer's error if the error is proportional to the tolerance — tightened the same "
                 "way (at most 3 times) until its error is below the peer's, and its time at the peer's error is "
                 "interpolated between the two runs. Where C's error is already at most the peer's, the speed-up "
                 "stands as measured.")
        L.append(f"- PC: C's defaults for this VP model, `{fmnist['samplers'].get('pc', '?')}`; the peer runs "
                 "euler_maruyama, no corrector, N = 1000.")
        L.append(f"- OpenBLAS: C {fmnist['c_blas_line'] or fm_rows[0]['c_blas_kernel']}; peer {fmnist['peer_kernel']} "
                 "(openblas_get_corename in a torch process, the peer's environment). The peer's convolutions run on "
                 "oneDNN whatever the OpenBLAS kernel (see the U-Net section), so \"the same kernel\" holds only for "
                 "its dense layers.\n")
        fmnist_tables(L, fmnist, unet)
        if fmnist_detected:
            fmnist_tables(L, fmnist_detected, unet_detected)
        L.append("C commands (WORK: the run's scratch directory; peer_fmnist.csv holds the rows" +
                 (", peer_fmnist_detected.csv those of the detected kernel: the same commands without "
                  "OPENBLAS_CORETYPE, at the tighter tolerances of its own table" if fmnist_detected else "") + "):\n")
        for r in fm_rows:
            L.append(f"    {r['c_command']}")
        for label, cmd in fmnist["more_commands"]:
            L.append(f"    {cmd}    # {label}")
        L.append("")

    # scaling
    L.append("## Scaling\n")
    L.append("Samples (PC Euler–Maruyama, 20 steps, batch 256; C = `scoresde sample` process incl. start-up and CSV "
             "output, max RSS from /usr/bin/time -v; peer = in-process sampling time, RSS of its process):\n")
    L.append("| samples | C wall (s) | C max RSS (MiB) | peer wall (s) | peer process wall (s) | peer max RSS (MiB) |")
    L.append("|---|---|---|---|---|---|")
    for n in sorted({r["samples"] for r in scale_n}):
        c = next(r for r in scale_n if r["samples"] == n and r["side"].startswith("C"))
        p = next(r for r in scale_n if r["samples"] == n and r["side"] == "peer")
        L.append(f"| {n} | {c['wall_s']:.2f} | {c['maxrss_kb'] / 1024:.1f} | {p['wall_s']:.2f} | "
                 f"{p['process_wall_s']:.2f} | {p['maxrss_kb'] / 1024:.0f} |")
    L.append("\nDimension (hidden 256 MLP, 256 samples, PC Euler–Maruyama 100 steps, in-process):\n")
    L.append("| D | C wall (s) | C outside network | C max RSS (MiB) | peer wall (s) | peer outside network | "
             "peer max RSS (MiB) | speed-up |")
    L.append("|---|---|---|---|---|---|---|---|")
    for D in sorted({r["dim"] for r in scale_d}):
        c = next(r for r in scale_d if r["dim"] == D and r["side"] == "C")
        p = next(r for r in scale_d if r["dim"] == D and r["side"] == "peer")
        L.append(f"| {D} | {c['wall_s']:.2f} | {100 * c['outside_net_share']:.1f}% | {c['maxrss_kb'] / 1024:.1f} | "
                 f"{p['wall_s']:.2f} | {100 * p['outside_net_share']:.1f}% | {p['maxrss_kb'] / 1024:.0f} | "
                 f"{p['wall_s'] / c['wall_s']:.2f}× |")
    L.append("")

    L.append("## OpenMP wait policy (why the run sets OMP_WAIT_POLICY=passive)\n")
    L.append("| side | OMP_WAIT_POLICY | wall (s) | load |")
    L.append("|---|---|---|---|")
    for r in omp_rows:
        L.append(f"| {r['side']} | {r['omp_wait_policy']} | {r['wall_s']:.2f} | {r['loadavg']:.1f} |")
    L.append("\nBoth sides run OpenBLAS' own pthreads for the GEMMs; torch also runs its element-wise ops on "
             "libgomp threads, which by default spin after each parallel region and take the cores OpenBLAS' "
             "threads need. The C library only opens OpenMP regions for loops of ≥ 4 MiB.\n")

    L.append("## Agreement of the two implementations\n")
    L.append("| model | max relative error, score | max relative error, VJP | tolerance | ok |")
    L.append("|---|---|---|---|---|")
    for r in check_rows:
        L.append(f"| {r['model']} | {r['max_rel_err_score']} | {r['max_rel_err_vjp']} | {r['tolerance']} | "
                 f"{'yes' if r['ok'] == '1' else 'NO'} |")
    L.append(f"\nODE samples from the same latents, C (joint) vs peer at 1e-5: RMS difference {cj['rms_c_joint_vs_peer']:.1e}. "
             f"Likelihood with the exact trace: mean bits/dim differ by {agreement['exact_mean_bpd_diff']:+.1e}, "
             f"at most {agreement['exact_max_abs_bpd_diff']:.1e} per point; against a reference solve (C, exact "
             f"trace, rtol = atol = 1e-7) C is off by at most {agreement.get('c_vs_reference_max', float('nan')):.1e} "
             f"and the peer by {agreement.get('peer_vs_reference_max', float('nan')):.1e} bits/dim per point — the "
             f"difference is the peer's integration error at 1e-5 (fewer steps), not the networks.\n")

    L.append("## Reproduce\n")
    L.append("    scripts/setup.sh --bench        # once, as root: python3-torch, python3-scipy, python3-numpy, linux-perf")
    L.append("    benchmarks/run_peer.sh          # this report (builds Release into build-bench/)")
    L.append("    benchmarks/run_peer.sh --only unet   # the U-Net rows alone (rewrites this report's U-Net rows)")
    L.append("    benchmarks/run_peer.sh --only fmnist # the Fashion-MNIST end-to-end rows alone")
    L.append("    benchmarks/run_peer.sh --only unet,fmnist --detected-kernel   # and again without OPENBLAS_CORETYPE\n")
    L.append("## Section times\n")
    L.append(", ".join(f"{k} {v:.0f} s" for k, v in sect_times.items()) + "\n")
    L.append("## Files\n")
    L.append("peer_check.csv, peer_network.csv, peer_pc.csv, peer_ode.csv, peer_ode_control.csv, peer_likelihood.csv, peer_training.csv, "
             "peer_scaling_samples.csv, peer_scaling_dim.csv, peer_omp_policy.csv, peer_profile.csv"
             f"{', peer_unet.csv' if unet else ''}{', peer_fmnist.csv' if fmnist else ''}"
             f"{', peer_unet_detected.csv' if unet_detected else ''}{', peer_fmnist_detected.csv' if fmnist_detected else ''}; "
             "peer_throughput.png, peer_work_precision.png, peer_scaling.png.")
    open(os.path.join(res, "peer_report.md"), "w").write("\n".join(L) + "\n")


# ---- main -------------------------------------------------------------------------------------------------

SECTIONS = ("check", "network", "pc", "ode", "likelihood", "scaling_samples", "scaling_dim", "omp_policy", "profile",
            "unet", "fmnist")
# what the report needs from a run ("unet", "fmnist" and their "_detected" twins may be missing: a run from before
# their rows, or without --detected-kernel)
STATE_KEYS = ("info", "started", "quick", "models", "train_row", "check_rows", "net_rows", "peak", "pc_rows", "ode_rows",
              "ref_tol", "control", "lik_rows", "agreement", "scale_n", "scale_d", "omp_rows", "prof_rows", "total")

def recorded(section):
    """A stored unet or fmnist section as the report reads it: False (not measured) when stored by a version of
    this script that did not record OPENBLAS_CORETYPE."""
    return False if section and "coretype" not in section else section


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True, help="CMake build directory (Release) with scoresde and the benchmarks")
    ap.add_argument("--results", default=os.path.join(REPO, "benchmarks", "results"))
    ap.add_argument("--work", help="scratch directory (default BUILD/peer-work)")
    ap.add_argument("--model-2d", help="2-D VP model (default: a shipped models/*.sgm, else one trained here)")
    ap.add_argument("--quick", action="store_true", help="reduced sizes, for trying the script out")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite the report and plots from the last run's saved measurements (WORK/state.pickle)")
    ap.add_argument("--seconds", type=float, default=0.2, help="time budget per network measurement")
    ap.add_argument("--pc-samples", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=2,
                    help="timed runs per like-for-like sampler measurement (ODE: one more; C's independent mode "
                         "and the exact-trace check: one); the fastest is reported")
    ap.add_argument("--ode-samples", type=int, default=64)
    ap.add_argument("--lik-samples", type=int, default=64)
    ap.add_argument("--dims", type=lambda s: [int(x) for x in s.split(",")], default=[2, 16, 128, 784])
    ap.add_argument("--model-unet", help="U-Net for the U-Net rows (default: models/fashion_mnist.sgm if it is a "
                                         "U-Net, else models/training/fmnist_unet.ckpt)")
    ap.add_argument("--unet-rounds", type=int, default=3,
                    help="U-Net rows: alternating C/peer rounds, the median reported (--quick: 1)")
    ap.add_argument("--fmnist-rounds", type=int, default=1,
                    help="Fashion-MNIST end-to-end rows: alternating C/peer rounds, the median reported (--quick: 1)")
    ap.add_argument("--fmnist-pc-samples", type=int, default=64,
                    help="Fashion-MNIST PC row: samples (N = 1000 steps, ~1000 U-Net forwards of this batch per side; "
                         "--quick: 4)")
    ap.add_argument("--detected-kernel", action="store_true",
                    help="when OPENBLAS_CORETYPE forces an OpenBLAS kernel, run the unet and fmnist sections a second "
                         "time without it (C and peer), with the kernel OpenBLAS detects: peer_unet_detected.csv, "
                         "peer_fmnist_detected.csv and their tables beside the forced kernel's")
    ap.add_argument("--only", type=lambda s: s.split(","), metavar="SECTION[,SECTION]",
                    help=f"run only these sections ({', '.join(SECTIONS)}) and write their CSVs; when WORK/state.pickle "
                         "holds an earlier complete run, its report is rewritten with these sections replaced")
    a = ap.parse_args()
    if a.only and not set(a.only) <= set(SECTIONS):
        ap.error(f"--only: unknown section(s) {', '.join(sorted(set(a.only) - set(SECTIONS)))}; "
                 f"the sections are {', '.join(SECTIONS)}")
    build = os.path.abspath(a.build)
    tools = {"scoresde": os.path.join(build, "apps", "scoresde"),
             "cbench": os.path.join(build, "benchmarks", "peer", "peer_cbench"),
             "bench_scorenet": os.path.join(build, "benchmarks", "scorenet", "bench_scorenet"),
             "arkode_control": os.path.join(build, "benchmarks", "peer", "arkode_control"),
             "bench_unet": os.path.join(build, "benchmarks", "scorenet_unet", "bench_unet")}
    for k, v in tools.items():
        if not os.access(v, os.X_OK):
            raise SystemExit(f"run_peer: {v} not found: build it first (cmake --build {build})")
    work = a.work or os.path.join(build, "peer-work")
    os.makedirs(work, exist_ok=True)
    os.makedirs(a.results, exist_ok=True)
    res = a.results
    started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    t_start = time.perf_counter()
    times = {}

    def timed(name, fn, *args):
        t0 = time.perf_counter()
        log(f"--- {name} (load {loadavg():.1f})")
        out = fn(*args)
        times[name] = time.perf_counter() - t0
        return out

    state_path = os.path.join(work, "state.pickle")
    if a.report_only:
        with open(state_path, "rb") as f:
            st = pickle.load(f)
    else:
        def want(name):
            return not a.only or name in a.only

        if a.only and os.path.exists(state_path):  # the sections run now replace theirs in the earlier run
            with open(state_path, "rb") as f:
                st = pickle.load(f)
            st.setdefault("rerun", {}).update({name: started for name in a.only})
            times.update(st.get("times", {}))  # the earlier run's section times, replaced as sections rerun
        else:
            st = {"info": dict(machine_description(tools["scoresde"]), load_before=loadavg()), "started": started,
                  "quick": a.quick}
        if any(want(name) for name in SECTIONS if name not in ("unet", "fmnist")):
            st["models"], st["train_row"] = timed("models", prepare_models, a, tools, work)
        models = st.get("models")
        if want("check"):
            st["check_rows"] = timed("check", section_check, a, tools, models, res)
        if want("network"):
            st["net_rows"], st["peak"] = timed("network", section_network, a, tools, models, res, work)
        if want("pc"):
            st["pc_rows"] = timed("pc", section_pc, a, tools, models, res)
        if want("ode"):
            st["ode_rows"], st["ref_tol"], st["control"] = timed("ode", section_ode, a, tools, models, res, work)
        if want("likelihood"):
            st["lik_rows"], st["agreement"] = timed("likelihood", section_likelihood, a, tools, models, res, work)
        if want("scaling_samples"):
            st["scale_n"] = timed("scaling_samples", section_scaling_samples, a, tools, models, res, work)
        if want("scaling_dim"):
            st["scale_d"] = timed("scaling_dim", section_scaling_dim, a, tools, models, res)
        if want("omp_policy"):
            st["omp_rows"] = timed("omp_policy", section_omp_policy, a, tools, models, res)
        if want("profile"):
            st["prof_rows"] = timed("profile", section_profile, a, tools, models, res, work)
        coretype = os.environ.get("OPENBLAS_CORETYPE")
        if a.detected_kernel and not coretype:
            log("--detected-kernel: OPENBLAS_CORETYPE is not set, so the unet and fmnist runs already use the kernel "
                "OpenBLAS detects; no second run")
        for name, section in (("unet", section_unet), ("fmnist", section_fmnist)):
            if want(name):
                st[name] = timed(name, section, a, tools, res, work)
                if a.detected_kernel and coretype:
                    with environ_without("OPENBLAS_CORETYPE"):
                        st[name + "_detected"] = timed(f"{name} (OPENBLAS_CORETYPE unset)", section, a, tools, res,
                                                       work, "_detected")
        st["times"] = times
        missing = [k for k in STATE_KEYS if k not in st]
        if a.only and missing:
            log(f"--only: no complete earlier run in {state_path} (missing {', '.join(missing)}): wrote the "
                f"sections' CSVs to {res}, not the report")
            return
    models = st["models"]
    net_rows, train_row = st["net_rows"], st["train_row"]
    time_share = {}
    for key in ("2d", "784"):
        cfg, _, _ = sgm_peer.read_sgm(models[key])
        H, Fn, nb = cfg["hidden"], cfg["n_fourier"], cfg["n_blocks"]
        D = cfg["channels"] * cfg["height"] * cfg["width"]
        time_share[key] = (H * 2 * Fn + nb * H * H) / (H * 2 * Fn + nb * H * H + H * D + nb * 2 * H * H + D * H)
    train_rows = [r for r in net_rows if r["mode"] == "train_step"]
    tr = [{"model": r["model"], "batch": r["batch"], "c_steps_per_s": r["c_samples_per_s"] / r["batch"],
           "peer_steps_per_s": r["peer_samples_per_s"] / r["batch"], "speedup_c_over_peer": r["speedup_c_over_peer"]}
          for r in train_rows]
    if train_row:
        tr.append({"model": "mlp-2d (scoresde train CLI)", "batch": train_row["batch"],
                   "c_steps_per_s": train_row["steps_per_s"], "peer_steps_per_s": "", "speedup_c_over_peer": ""})
    write_csv(os.path.join(res, "peer_training.csv"), tr,
              ["model", "batch", "c_steps_per_s", "peer_steps_per_s", "speedup_c_over_peer"])
    timed("plots", plots, res, net_rows, st["ode_rows"], st["scale_n"], st["scale_d"], st["peak"])
    if not a.report_only and not a.only:
        st["total"] = time.perf_counter() - t_start
    if not a.report_only:
        with open(state_path, "wb") as f:
            pickle.dump(st, f)
    total = st["total"]
    report(res, st["info"], st["times"], st["check_rows"], net_rows, st["peak"], st["pc_rows"], st["ode_rows"],
           st["ref_tol"], st["lik_rows"], st["agreement"], train_row, st["scale_n"], st["scale_d"], st["omp_rows"],
           st["prof_rows"], st["started"], total, st["quick"], time_share, st["control"], *(
               recorded(st.get(name, False)) for name in ("unet", "fmnist")), st.get("rerun"),
           *(recorded(st.get(name)) for name in ("unet_detected", "fmnist_detected")))
    log(f"done in {(total if not a.only else time.perf_counter() - t_start) / 60:.1f} min: "
        f"{os.path.join(res, 'peer_report.md')}")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""report.py — the tables and the figure of benchmarks/objectives/run.sh.

Reads WORK/meta.env and WORK/<set>/<row>/{result.env, likelihood.csv, fisher.csv, compare.csv,
compare.out, evaluate.out} and writes OUT.csv (one line per row), OUT.md (the tables, the command,
machine and date) and OUT.png (the metrics per objective).

Usage: report.py --work WORK --out PREFIX
"""
import argparse
import csv
import math
import os
import re

SETS = [
    ("gmm2d", "2-D Gaussian mixture (models/gmm2d.txt)", ["dsm", "ssm", "ssm-vr", "esm", "ddpm", "ncsn"]),
    ("fashion-mnist", "Fashion-MNIST", ["dsm", "ssm", "ssm-vr", "esm", "ddpm"]),
]
LABELS = {
    "dsm": "DSM (VP)",
    "ssm": "SSM, M=1 (VP)",
    "ssm-vr": "SSM-VR, M=1 (VP)",
    "esm": "ESM (VP)",
    "ddpm": "DDPM (VP, 1000 steps, DSM)",
    "ncsn": "NCSN (VE, 10 levels, DSM)",
}
SHORT = {"dsm": "DSM", "ssm": "SSM", "ssm-vr": "SSM-VR", "esm": "ESM", "ddpm": "DDPM", "ncsn": "NCSN"}
FIELDS = [
    "set", "row", "options", "status", "budget_s", "calib_steps_per_s", "steps", "steps_per_s", "ms_per_step",
    "train_s", "final_loss_avg",
    "kl_nats", "kl_se", "logp_model", "logp_exact", "nfe_likelihood",
    "fisher", "fisher_se", "fisher_t0.01", "fisher_t0.01_se", "fisher_t0.1", "fisher_t0.1_se", "fisher_t0.5",
    "fisher_t0.5_se",
    "energy_em", "mode_err_em", "nfe_em", "energy_ode", "mode_err_ode", "nfe_ode",
    "bpd", "bpd_se", "frechet",
]


def read_env(path):
    env = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if "=" in line:
                    k, v = line.split("=", 1)
                    env[k] = v
    return env


def read_csv(path):
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def mean_se(values):
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    m = sum(values) / n
    if n < 2:
        return m, float("nan")
    var = sum((v - m) ** 2 for v in values) / (n - 1)
    return m, math.sqrt(var / n)


def num(x):
    try:
        v = float(x)
        return v
    except (TypeError, ValueError):
        return float("nan")


def collect(work, set_name, row, meta):
    d = os.path.join(work, set_name, row)
    r = {k: "" for k in FIELDS}
    env = read_env(os.path.join(d, "result.env"))
    r.update({k: v for k, v in env.items() if k in r})
    r["set"], r["row"] = set_name, row
    if not env:
        r["status"] = "not run"
        return r, env
    if env.get("status") != "ok":
        return r, env
    if set_name == "gmm2d":
        lik = read_csv(os.path.join(d, "likelihood.csv"))
        exact = read_csv(os.path.join(work, set_name, "held_logp.csv"))
        if lik and len(lik) == len(exact):
            model = [float(x["logp"]) for x in lik]
            ex = [float(x["exact_logp"]) for x in exact]
            gap, gap_se = mean_se([e - m for e, m in zip(ex, model)])
            r["kl_nats"], r["kl_se"] = "%.4g" % gap, "%.2g" % gap_se
            r["logp_model"] = "%.4f" % mean_se(model)[0]
            r["logp_exact"] = "%.4f" % mean_se(ex)[0]
            r["nfe_likelihood"] = "%.1f" % mean_se([float(x["nfe"]) for x in lik])[0]
        fisher = read_csv(os.path.join(d, "fisher.csv"))
        if fisher:
            for k in ["fisher", "fisher_se", "fisher_t0.01", "fisher_t0.01_se", "fisher_t0.1", "fisher_t0.1_se",
                      "fisher_t0.5", "fisher_t0.5_se"]:
                r[k] = fisher[0].get(k, "")
            env["_fisher_ref"] = fisher[0]
        for c in read_csv(os.path.join(d, "compare.csv")):
            key = "ode" if c["sampler"].startswith("ode:") else "em" if "euler_maruyama" in c["sampler"] else None
            if key:
                r["energy_" + key] = c["energy_distance"]
                r["mode_err_" + key] = c["mode_weight_error"]
                r["nfe_" + key] = c["nfe"]
        out = os.path.join(d, "compare.out")
        if os.path.exists(out):
            m = re.search(r"exact vs exact: noise floor\)\s+-\s+-\s+(\S+)", open(out).read())
            if m:
                env["_noise_floor"] = m.group(1)
    else:
        lik = read_csv(os.path.join(d, "likelihood.csv"))
        if lik:
            b, se = mean_se([float(x["bpd"]) for x in lik])
            r["bpd"], r["bpd_se"] = "%.4f" % b, "%.2g" % se
            r["nfe_likelihood"] = "%.1f" % mean_se([float(x["nfe"]) for x in lik])[0]
        out = os.path.join(d, "evaluate.out")
        if os.path.exists(out):
            m = re.search(r"Frechet distance\s+(\S+)", open(out).read())
            if m:
                r["frechet"] = m.group(1)
    for k in ["likelihood_status", "fisher_status", "compare_status", "evaluate_status"]:
        if k in env:
            r["status"] += "; " + k.split("_")[0] + " " + env[k]
    return r, env


def vp_std(t, beta_min=0.1, beta_max=20.0):
    """Marginal std s(t) of the VP SDE."""
    log_mean = -0.25 * t * t * (beta_max - beta_min) - 0.5 * t * beta_min
    return math.sqrt(1.0 - math.exp(2.0 * log_mean))


def fmt(x, spec="%.3g"):
    v = num(x)
    return "—" if math.isnan(v) else spec % v


def pm(x, se, spec="%.3g"):
    v, s = num(x), num(se)
    if math.isnan(v):
        return "—"
    return (spec % v) + ("" if math.isnan(s) else " ± " + ("%.1g" % s))


def status_cell(r):
    s = r["status"]
    if s == "ok":
        return ""
    return s.replace("|", "/")


def write_md(path, meta, results, envs):
    q = meta.get("quick") == "1"
    L = []
    L.append("# Training objectives at equal wall-clock time" + (" (quick smoke run)" if q else ""))
    L.append("")
    L.append("Made by `%s` on %s; %s; %s thread(s), OMP_WAIT_POLICY=passive; library %s. Load average "
             "(1/5/15 min) %s at the start, %s at the end; the whole run took %s s."
             % (meta.get("command"), meta.get("date"), meta.get("machine"), meta.get("threads"),
                meta.get("commit"), meta.get("load_start"), meta.get("load_end"), meta.get("total_s")))
    L.append("")
    L.append("Every row trains for the same wall-clock budget: a short calibration run measures its steps/s and "
             "it then trains for round(budget × rate) steps. *ms/step* is the cost per step of the real run, "
             "*train s* the training time that came out (the machine is shared, so it drifts from the budget). "
             "All objectives of one SDE have the same minimiser, but their loss values differ by constants, so "
             "only the metrics are compared. One learning rate per data set for every row.")
    L.append("")
    # ---- 2-D
    rows = results["gmm2d"]
    L.append("## 2-D Gaussian mixture, budget %s s per row" % meta.get("budget_2d"))
    L.append("")
    L.append("`scoresde train %s` plus the row's options; rows with `--projections 1` use Rademacher directions."
             % meta.get("train_2d"))
    L.append("")
    L.append("| row | options | steps | ms/step | train s | KL(p‖p_θ) nats | Fisher | Fisher t=0.01 | Fisher t=0.1 "
             "| Fisher t=0.5 | energy dist. EM | mode-wt err. EM | energy dist. ODE | mode-wt err. ODE | status |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        L.append("| %s | `%s` | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            LABELS[r["row"]], r["options"], r["steps"] or "—", fmt(r["ms_per_step"]), fmt(r["train_s"], "%.0f"),
            pm(r["kl_nats"], r["kl_se"]), pm(r["fisher"], r["fisher_se"]),
            pm(r["fisher_t0.01"], r["fisher_t0.01_se"]), pm(r["fisher_t0.1"], r["fisher_t0.1_se"]),
            pm(r["fisher_t0.5"], r["fisher_t0.5_se"]),
            fmt(r["energy_em"], "%.4f"), fmt(r["mode_err_em"], "%.3f"), fmt(r["energy_ode"], "%.4f"),
            fmt(r["mode_err_ode"], "%.3f"), status_cell(r)))
    L.append("")
    ref = next((e["_fisher_ref"] for r, e in zip(rows, envs["gmm2d"]) if "_fisher_ref" in e
                and r["row"] != "ncsn"), None)  # the VP rows share p_t
    floor = next((e["_noise_floor"] for e in envs["gmm2d"] if "_noise_floor" in e), None)
    exact = next((r["logp_exact"] for r in rows if r["logp_exact"]), None)
    L.append("- KL(p‖p_θ) = E[log p(x) − log p_θ(x)] over %s exact held-out mixture samples (`bench_objectives "
             "points`), log p_θ from `scoresde likelihood --hutchinson exact --joint` (dopri5, rtol = atol = 1e-5); "
             "± is the paired standard error. Exact mean log p = %s nats."
             % (meta.get("held_num"), exact or "—"))
    L.append("- Fisher = E_{t~U(1e-3,1)} E_{x~p_t} s(t)²‖s_θ(x,t) − ∇log p_t(x)‖²/D (%s points, `bench_objectives "
             "fisher`, EMA weights, each network under its own SDE); at t = 0.01/0.1/0.5 unweighted "
             "E‖s_θ − ∇log p_t‖²/D. For scale, under VP E‖∇log p_t‖²/D is %s at t = 0.01, %s at 0.1, %s at 0.5, "
             "and the weighted one %s. The same t is a different noise level under the two SDEs: VP s(t) = "
             "%s, VE σ(t) = %s at t = 0.01/0.1/0.5 (default β 0.1–20, σ 0.01–10). The discrete-schedule rows "
             "are queried at continuous t, as the samplers query them: NCSN was trained at its 10 levels only."
             % (meta.get("fisher_num"),
                fmt(ref.get("score_sq_t0.01")) if ref else "—", fmt(ref.get("score_sq_t0.1")) if ref else "—",
                fmt(ref.get("score_sq_t0.5")) if ref else "—", fmt(ref.get("fisher_ref")) if ref else "—",
                "/".join("%.3g" % vp_std(t) for t in (0.01, 0.1, 0.5)),
                "/".join("%.3g" % (0.01 * 1000.0 ** t) for t in (0.01, 0.1, 0.5))))
    L.append("- Energy distance and the largest per-mode weight error (true weights 0.5/0.3/0.2) of %s samples "
             "against as many exact ones (`scoresde compare`, samplers `%s`: Euler–Maruyama PC (`@N`: steps; "
             "default the process's N = 1000) and the dopri5 probability-flow ODE at rtol 1e-5); the estimator "
             "is unbiased, so it can be negative; exact-vs-exact noise floor %s." % (meta.get("compare_num"), meta.get("compare_samplers"), floor or "—"))
    L.append("")
    # ---- images
    rows = results["fashion-mnist"]
    L.append("## Fashion-MNIST, budget %s s per row" % meta.get("budget_images"))
    L.append("")
    L.append("`scoresde train %s` plus the row's options. D = 784." % meta.get("train_images"))
    L.append("")
    L.append("| row | options | steps | ms/step | train s | bits/dim | Fréchet distance | status |")
    L.append("|---|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        L.append("| %s | `%s` | %s | %s | %s | %s | %s | %s |" % (
            LABELS[r["row"]], r["options"], r["steps"] if r["steps"] not in ("", "0") else "—",
            fmt(r["ms_per_step"]), fmt(r["train_s"], "%.0f"), pm(r["bpd"], r["bpd_se"], "%.3f"),
            fmt(r["frechet"], "%.1f"), status_cell(r)))
    L.append("")
    L.append("- bits/dim: `scoresde likelihood --in fashion-mnist:test --num %s --joint` (first %s test images, "
             "uniform dequantisation, Rademacher Hutchinson probe, dopri5 at 1e-5; the dequantisation offset "
             "is included); ± is the standard error over images." % (meta.get("bpd_num"), meta.get("bpd_num")))
    L.append("- Fréchet distance: `scoresde evaluate --num %s --N %s` (PC Euler–Maruyama, %s steps; features of "
             "the shipped classifier against the 10 000 test images; 10 000 training images score 0.83, "
             "uniform noise 343). With %s samples the distance is biased upwards against a 10 000-sample "
             "reference; compare rows with each other. Far from the data it is not monotone in quality "
             "(uniform noise scores 343): read it beside bits/dim and the sample grids of objectives.png "
             "(`scoresde sample --num 16 --N %s --seed 3`: same sampler and seed as the evaluation)."
             % (meta.get("fd_num"), meta.get("fd_N"), meta.get("fd_N"), meta.get("fd_num"), meta.get("fd_N")))
    L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))


def write_csv(path, results):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for set_name, _, _ in SETS:
            for r in results[set_name]:
                w.writerow(r)


def tick_labels(rows):
    return ["%s\n%s st." % (SHORT[r["row"]], r["steps"]) if r["status"] == "ok" else SHORT[r["row"]]
            for r in rows]


def bars(ax, rows, key, title, log=False, se_key=None):
    import numpy as np
    names = [SHORT[r["row"]] for r in rows]
    vals = [num(r[key]) for r in rows]
    errs = [num(r[se_key]) if se_key else float("nan") for r in rows]
    x = np.arange(len(rows))
    heights = [v if not math.isnan(v) else 0.0 for v in vals]
    if log:
        heights = [h if h > 0 else float("nan") for h in heights]
    yerr = [e if not math.isnan(e) else 0.0 for e in errs] if se_key else None
    colors = ["C%d" % i for i in range(len(rows))]
    ax.bar(x, [h if not math.isnan(h) else 0 for h in heights], color=colors, yerr=yerr, capsize=3)
    if log:
        ax.set_yscale("log")
    ax.set_xticks(x)
    ax.set_xticklabels(tick_labels(rows), fontsize=7)
    ax.set_title(title, fontsize=9)
    for i, r in enumerate(rows):
        if r["status"] != "ok":
            label = "refused" if "refused" in r["status"] else ("diverged" if "finite" in r["status"] else "failed")
            ax.text(i, 0.5, label, transform=ax.get_xaxis_transform(), ha="center", va="center", rotation=90,
                    fontsize=8, color="red")


def write_png(path, meta, results, work):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    fig = plt.figure(figsize=(13, 11))
    grid = fig.add_gridspec(3, 12, height_ratios=[1, 1, 0.8], left=0.06, right=0.985, top=0.92, bottom=0.02,
                            hspace=0.42, wspace=1.6)
    axes = np.array([[fig.add_subplot(grid[i, 4 * j:4 * j + 4]) for j in range(3)] for i in range(2)])
    g = results["gmm2d"]
    bars(axes[0, 0], g, "fisher", "2-D: Fisher divergence to the exact score\n(s(t)²-weighted, t ~ U(1e-3, 1))",
         log=True, se_key="fisher_se")
    bars(axes[0, 1], g, "kl_nats", "2-D: KL(p‖p_θ), nats (held-out log p gap)", se_key="kl_se")
    ax = axes[0, 2]
    x = np.arange(len(g))
    em = [num(r["energy_em"]) for r in g]
    ode = [num(r["energy_ode"]) for r in g]
    ax.bar(x - 0.2, [0 if math.isnan(v) else v for v in em], 0.4, label="PC Euler–Maruyama")
    ax.bar(x + 0.2, [0 if math.isnan(v) else v for v in ode], 0.4, label="ODE dopri5")
    ax.set_xticks(x)
    ax.set_xticklabels(tick_labels(g), fontsize=7)
    ax.axhline(0.0, color="black", lw=0.5)
    if max([abs(v) for v in em + ode if not math.isnan(v)] + [0.0]) > 0.05:  # a poor row would flatten the rest
        ax.set_yscale("symlog", linthresh=0.01)
        ax.set_title("2-D: energy distance of samples to exact ones\n(symlog; linear below 0.01)", fontsize=9)
    else:
        ax.set_title("2-D: energy distance of samples to exact ones\n(unbiased estimate: can be < 0)", fontsize=9)
    ax.legend(fontsize=7)
    im = results["fashion-mnist"]
    bars(axes[1, 0], im, "bpd", "Fashion-MNIST: bits/dim (test images)", se_key="bpd_se")
    ok = [num(r["bpd"]) for r in im if not math.isnan(num(r["bpd"]))]
    if ok:
        lo, hi = min(ok), max(ok)
        axes[1, 0].set_ylim(max(0.0, lo - 0.6 * (hi - lo + 0.2)), hi + 0.3 * (hi - lo + 0.2))
    bars(axes[1, 1], im, "frechet", "Fashion-MNIST: Fréchet distance of samples")
    ax = axes[1, 2]
    for k, (set_name, rows) in enumerate([("2-D", g), ("Fashion-MNIST", im)]):
        names = [SHORT[r["row"]] for r in rows]
        ms = [num(r["ms_per_step"]) for r in rows]
        ax.plot(range(len(rows)), ms, "o-", label="%s (budget %s s)" % (
            set_name, meta.get("budget_2d" if k == 0 else "budget_images")))
        for i, (m, r) in enumerate(zip(ms, rows)):
            if not math.isnan(m):
                ax.annotate(r["steps"], (i, m), textcoords="offset points", xytext=(0, 5), fontsize=7,
                            ha="center")
    ax.set_xticks(range(len(g)))
    ax.set_xticklabels([SHORT[r["row"]] for r in g], rotation=30, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("ms per step (labels: steps done)", fontsize=8)
    ax.set_title("Cost per training step", fontsize=9)
    ax.legend(fontsize=7)
    trained = [r for r in im if r["status"] == "ok"][:4]
    for j, r in enumerate(trained):
        ax = fig.add_subplot(grid[2, 3 * j:3 * j + 3])
        png = os.path.join(work, "fashion-mnist", r["row"], "samples.png")
        if os.path.exists(png):
            ax.imshow(plt.imread(png), cmap="gray", interpolation="nearest")
        ax.set_axis_off()
        ax.set_title("Fashion-MNIST, %s: 16 samples" % SHORT[r["row"]], fontsize=9)
    fig.suptitle("Training objectives at equal wall-clock time (%s, %s)" % (meta.get("date"),
                 "quick smoke run" if meta.get("quick") == "1" else "full run"), fontsize=11)
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    meta = read_env(os.path.join(a.work, "meta.env"))
    results, envs = {}, {}
    for set_name, _, rows in SETS:
        results[set_name], envs[set_name] = [], []
        for row in rows:
            r, env = collect(a.work, set_name, row, meta)
            results[set_name].append(r)
            envs[set_name].append(env)
    write_csv(a.out + ".csv", results)
    write_md(a.out + ".md", meta, results, envs)
    write_png(a.out + ".png", meta, results, a.work)


if __name__ == "__main__":
    main()

"""The figure of benchmarks/fmnist/identifiability.sh (paper §4.3, its Fig. of "Model A" and
"Model B"): the first 100 latent coordinates of one test image under two independently trained
models, every coordinate of every image under A against the same under B, and, for square images,
where the two disagree (RMS of a − b over images, per pixel).

    /usr/bin/python3 identifiability_plot.py A.csv B.csv OUT.png [NAME_A NAME_B]

A.csv, B.csv: `scoresde encode` outputs (header row, one latent per row, same images in the same
order). The PNG is written to a temporary beside OUT and renamed, so OUT is never half-written.
"""
import os
import sys

import numpy as np


def main(argv):
    if len(argv) not in (4, 6):
        sys.exit("usage: identifiability_plot.py A.csv B.csv OUT.png [NAME_A NAME_B]")
    path_a, path_b, out = argv[1:4]
    name_a, name_b = argv[4:6] if len(argv) == 6 else ("model A", "model B")
    a = np.loadtxt(path_a, delimiter=",", skiprows=1, ndmin=2)
    b = np.loadtxt(path_b, delimiter=",", skiprows=1, ndmin=2)
    if a.shape != b.shape:
        sys.exit("identifiability_plot.py: %s is %dx%d, %s is %dx%d (expected the same images)"
                 % (path_a, *a.shape, path_b, *b.shape))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    side = int(round(np.sqrt(a.shape[1])))
    square = side * side == a.shape[1]
    fig, axes = plt.subplots(1, 3 if square else 2, figsize=(15 if square else 11, 4),
                             gridspec_kw={"width_ratios": [2, 1, 1] if square else [2, 1]})
    left, right = axes[0], axes[1]
    dims = np.arange(min(100, a.shape[1]))
    left.plot(dims, a[0, dims], "o-", ms=3, lw=1, label=name_a)
    left.plot(dims, b[0, dims], "s--", ms=3, lw=1, label=name_b)
    left.set_xlabel("latent coordinate")
    left.set_ylabel("latent value")
    left.set_title("first test image: its first %d latent coordinates" % len(dims))
    left.legend()

    same = np.corrcoef(a.ravel(), b.ravel())[0, 1]
    lim = max(np.abs(a).max(), np.abs(b).max())
    right.hist2d(a.ravel(), b.ravel(), bins=120, range=[[-lim, lim], [-lim, lim]], cmin=1,
                 cmap="viridis")
    right.plot([-lim, lim], [-lim, lim], "r-", lw=0.6)
    right.set_aspect("equal")
    right.set_xlabel(name_a)
    right.set_ylabel(name_b)
    right.set_title("%d images x %d coordinates, r = %.3f" % (a.shape[0], a.shape[1], same),
                    fontsize=10)
    if square:  # where the two models disagree: RMS over images of a − b, per pixel's coordinate
        rms = np.sqrt(np.mean((a - b) ** 2, axis=0)).reshape(side, side)
        shown = axes[2].imshow(rms, cmap="magma")
        axes[2].set_title("RMS over images of A − B, per pixel", fontsize=10)
        axes[2].set_xticks([])
        axes[2].set_yticks([])
        fig.colorbar(shown, ax=axes[2], fraction=0.046)
    fig.tight_layout()

    tmp = out + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, out)


if __name__ == "__main__":
    main(sys.argv)

"""sgm_peer — the peer: a port of the official score_sde_pytorch algorithms (Song et al., ICLR 2021;
github.com/yang-song/score_sde_pytorch: sde_lib.py, sampling.py, likelihood.py, losses.py,
models/utils.py) onto PyTorch + scipy, for the networks that `scoresde train` writes: the residual
MLP and the U-Net (`--arch unet`).

What is ported, and how the official code does it:
  * SDEs (sde_lib.py): VPSDE, subVPSDE, VESDE with sde(), marginal_prob(), prior_sampling(),
    prior_logp(), discretize(), reverse(score_fn, probability_flow).
  * score function (models/utils.get_score_fn, continuous): VP/sub-VP s = -net(x, t)/std(t),
    VE s = net(x, t)/sigma(t) (NCSN++ divides by sigma inside; our MLP leaves it to the caller).
  * PC sampler (sampling.get_pc_sampler): torch.no_grad, timesteps = linspace(T, eps, N), corrector
    then predictor at each time, output x_mean (denoise). Predictors: EulerMaruyamaPredictor
    (dt = -1/N) and ReverseDiffusionPredictor; correctors: LangevinCorrector (step size from the
    batch-AVERAGED norms, alpha = sde.alphas[timestep] for VP/sub-VP) and NoneCorrector.
  * ODE sampler (sampling.get_ode_sampler): scipy.integrate.solve_ivp(RK45, rtol=atol=1e-5) on the
    flattened batch from T to eps, float32 network inside, then one noise-free reverse-diffusion
    step (denoise).
  * likelihood (likelihood.get_likelihood_fn): solve_ivp(RK45) from eps = 1e-5 to T on
    [flattened x, delta_logp], drift and Hutchinson divergence (Rademacher probe fixed per point)
    evaluated as the official code does — drift_fn and div_fn each run the network, the
    divergence through torch.autograd.grad under torch.enable_grad — then bpd = -(prior_logp +
    delta_logp) / ln 2 / D + offset.
  * training (losses.get_sde_loss_fn with reduce_mean, continuous, no likelihood weighting;
    losses.optimization_manager: Adam, linear warm-up, clip_grad_norm_; ema.ExponentialMovingAverage
    with num_updates).

The network is the C library's MLP (scorenet/snet_mlp.c) or U-Net (scorenet/snet_unet.c: ScoreUNet,
described above it), layer for layer, with weights read from the very .sgm file or training
checkpoint (scorenet/snet_io.c; the EMA copy when the file has one, as the C loader's default);
load_model returns whichever the file holds. Two deliberate departures from the official code,
neither of which changes the cost:
  * the time input of the network is the C architecture's (t for VP/sub-VP, log sigma(t) for VE)
    instead of the official 999 t / sigma labels — it is the network being compared;
  * the schedule arithmetic (std(t), beta(t), ...) is done in float64, as the C side does: the
    official float32 1 - exp(2 L(t)) loses ~5% of std(t) at t = 1e-5, which would make the two
    sides' scores differ by more than float rounding. The network itself runs in float32 (the
    U-Net's Fourier argument excepted, formed in float64 as in the C layer: see ScoreUNet).
"""
import math
import struct
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy import integrate

# ---- the .sgm weights file (scorenet/snet_io.c) --------------------------------------------------

SGM_MAGIC = b"SGM1"
FLAG_EMA, FLAG_EXTRA = 1, 2
CONFIG_LAYOUT = [  # 20 fields of snet_config, 4 bytes each, in declaration order
    ("arch", "I"), ("channels", "I"), ("height", "I"), ("width", "I"), ("hidden", "I"),
    ("n_blocks", "I"), ("n_fourier", "I"), ("fourier_scale", "f"), ("layer_norm", "I"),
    ("base_channels", "I"), ("n_levels", "I"), ("n_groups", "I"), ("sde", "I"),
    ("sigma_min", "f"), ("sigma_max", "f"), ("beta_min", "f"), ("beta_max", "f"),
    ("data_scale", "f"), ("data_shift", "f"), ("quantized", "I")]
CONFIG_LAYOUT_V2 = CONFIG_LAYOUT + [("discrete_steps", "I")]  # version 2: 21 fields, 84 bytes
SDE_NAMES = {1: "ve", 2: "vp", 3: "subvp"}
ARCH_NAMES = {1: "mlp", 2: "unet"}
TENSOR_BYTES = 68  # name[32], ndim, shape[4], offset u64, size u32, trainable u32


class SgmFormatError(ValueError):
    pass


def read_sgm(path, which="ema"):
    """Reads a .sgm file (a weights file or a `scoresde train` checkpoint: the same format, whose
    training-state block is skipped). Returns (config dict, {name: float32 array}, info dict).
    which = "ema" takes the EMA copy when the file has one (the C loader's default), "raw" the
    parameters."""
    data = open(path, "rb").read()
    if len(data) < 20 or data[:4] != SGM_MAGIC:
        raise SgmFormatError(f"{path}: not a scoresde weights file (magic {data[:4]!r})")
    stored_crc = struct.unpack_from("<I", data, len(data) - 4)[0]
    if zlib.crc32(data[:-4]) & 0xFFFFFFFF != stored_crc:
        raise SgmFormatError(f"{path}: checksum mismatch")
    version, flags, config_bytes = struct.unpack_from("<III", data, 4)
    layout = {(1, 80): CONFIG_LAYOUT, (2, 84): CONFIG_LAYOUT_V2}.get((version, config_bytes))
    if layout is None:
        raise SgmFormatError(f"{path}: version {version} / config block {config_bytes} bytes not supported "
                             f"(expected version 1 with 80 bytes or 2 with 84)")
    values = struct.unpack_from("<" + "".join(f for _, f in layout), data, 16)
    cfg = {name: v for (name, _), v in zip(layout, values)}
    cfg.setdefault("discrete_steps", 0)
    pos = 16 + config_bytes
    (note_bytes,) = struct.unpack_from("<I", data, pos)
    pos += 4
    note = data[pos:pos + note_bytes].decode("utf-8", "replace")
    pos += note_bytes
    step, n_params, n_tensors = struct.unpack_from("<QQI", data, pos)
    pos += 20
    table = []
    for k in range(n_tensors):
        e = data[pos + k * TENSOR_BYTES: pos + (k + 1) * TENSOR_BYTES]
        name = e[:32].split(b"\0", 1)[0].decode()
        ndim, s0, s1, s2, s3 = struct.unpack_from("<5I", e, 32)
        offset, size, trainable = struct.unpack_from("<QII", e, 52)
        table.append((name, (s0, s1, s2, s3)[:ndim], offset, size, trainable))
    pos += n_tensors * TENSOR_BYTES
    params = np.frombuffer(data, dtype="<f4", count=n_params, offset=pos)
    pos += 4 * n_params
    if flags & FLAG_EMA:
        ema = np.frombuffer(data, dtype="<f4", count=n_params, offset=pos)
        pos += 4 * n_params
    else:
        ema = None
    flat = ema if (which == "ema" and ema is not None) else params
    tensors = {}
    for name, shape, offset, size, _ in table:
        if offset + size > n_params:
            raise SgmFormatError(f"{path}: tensor {name} runs past the parameter buffer")
        tensors[name] = np.array(flat[offset:offset + size], dtype=np.float32).reshape(shape)
    info = {"step": step, "note": note, "flags": flags, "n_params": n_params, "table": table}
    return cfg, tensors, info


# ---- the network: scorenet/snet_mlp.c, layer for layer ---------------------------------------------

class GaussianFourierProjection(nn.Module):
    """Official models/layerspp.GaussianFourierProjection (fixed random W). float64=True forms the
    argument 2π·W·τ and its sin/cos in float64 and rounds the features to float32, as the C layer
    does (snet_fourier_forward); the U-Net port uses it (see ScoreUNet), the MLP port keeps the
    official float32 arithmetic."""

    def __init__(self, W, float64=False):
        super().__init__()
        self.W = nn.Parameter(torch.as_tensor(W), requires_grad=False)
        self.float64 = float64

    def forward(self, x):
        if self.float64:
            x_proj = (2 * math.pi * self.W.double())[None, :] * x.double()[:, None]
            return torch.cat([torch.sin(x_proj), torch.cos(x_proj)], dim=-1).float()
        x_proj = x[:, None] * self.W[None, :] * 2 * np.pi
        return torch.cat([torch.sin(x_proj), torch.cos(x_proj)], dim=-1)


class ResBlock(nn.Module):
    def __init__(self, H, layer_norm):
        super().__init__()
        self.ln = nn.LayerNorm(H, eps=1e-5) if layer_norm else None
        self.fc1 = nn.Linear(H, H)
        self.fc2 = nn.Linear(H, H)

    def forward(self, h, temb):
        a = self.ln(h) if self.ln is not None else h
        z1 = self.fc1(a) + temb
        return h + self.fc2(F.silu(z1))


class ScoreMLP(nn.Module):
    """r(x, tau): the raw network of snet_mlp.c (the score is made from it by get_score_fn)."""

    def __init__(self, cfg, tensors):
        super().__init__()
        self.cfg = cfg
        D = cfg["channels"] * cfg["height"] * cfg["width"]
        H, Fn, nb = cfg["hidden"], cfg["n_fourier"], cfg["n_blocks"]
        self.D, self.H, self.nb = D, H, nb
        self.fourier = GaussianFourierProjection(tensors["fourier.W"])
        self.temb = nn.Linear(2 * Fn, H)
        self.tproj = nn.Linear(H, nb * H)
        self.inp = nn.Linear(D, H)
        self.blocks = nn.ModuleList([ResBlock(H, cfg["layer_norm"]) for _ in range(nb)])
        self.out = nn.Linear(H, D)
        with torch.no_grad():
            def put(linear, prefix):
                linear.weight.copy_(torch.from_numpy(tensors[prefix + ".w"]))
                linear.bias.copy_(torch.from_numpy(tensors[prefix + ".b"]))
            put(self.temb, "temb")
            put(self.tproj, "tproj")
            put(self.inp, "in")
            put(self.out, "out")
            for i, blk in enumerate(self.blocks):
                put(blk.fc1, f"blk{i}.fc1")
                put(blk.fc2, f"blk{i}.fc2")
                if blk.ln is not None:
                    blk.ln.weight.copy_(torch.from_numpy(tensors[f"blk{i}.ln.w"]))
                    blk.ln.bias.copy_(torch.from_numpy(tensors[f"blk{i}.ln.b"]))

    def forward(self, x, tau):
        te = F.silu(self.temb(self.fourier(tau)))   # (B, H)
        tp = self.tproj(te)                          # (B, nb·H)
        h = self.inp(x)                              # (B, H)
        H = self.H
        for i, blk in enumerate(self.blocks):
            h = blk(h, tp[:, i * H:(i + 1) * H])
        return self.out(F.silu(h))                   # (B, D)


# ---- the network: scorenet/snet_unet.c, layer for layer ---------------------------------------------
#
# r(x, τ) for x (B, C, H, W) (flattened (B, D) at the interface, as the MLP's), τ the network time
# of get_score_fn (t for VP/sub-VP, log σ(t) for VE):
#   time:    emb = SiLU(fc2(SiLU(fc1(Fourier(τ)))))  (B, E), E = 4·base;  proj = proj(emb) (B, P):
#            every residual block's per-channel shift, in the column order the blocks are laid out
#            (enc0 … enc_{L−1}, mid, dec_{L−1} … dec0)
#   input:   h = conv3×3(x)                                          C → ch₀
#   encoder: e_l = ResBlock_l(h); h = conv3×3 stride 2 pad 1 (e_l) (l < L−1)   ch_l = base·(1, 2, 2, …)
#   middle:  m = ResBlock(e_{L−1})
#   decoder: l = L−1 … 0: u = m (l = L−1) or nearest-upsample×2(o_{l+1}); o_l = ResBlock(cat(u, e_l))
#   head:    y = conv3×3(SiLU(GroupNorm(o₀)))                        ch₀ → C
#   ResBlock(x) = conv2(SiLU(GN2(h))) + skip(x), h = conv1(SiLU(GN1(x))) + proj_block; skip = x, or
#            a 1×1 convolution when the channel count changes.
# GroupNorm: n_groups groups everywhere, eps 1e-5, biased variance (SNET_GROUPNORM_EPS); convolutions
# zero-padded, weights (OC, C, k, k) — PyTorch's layout, so the file's tensors load as they are. No
# attention, no dropout, no rescaling of the skip sums. The Fourier argument is formed in float64 as
# the C layer does (GaussianFourierProjection(float64=True)): in float32 its rounding moves the
# features by up to ~3e-5 (|2π·W·τ| ≈ 300 rad; VE ×4.6) — on the VP checkpoint this stays below the
# score's float32 floor (measured), but there is no reason for the two sides to differ there.

def unet_channels(cfg):
    """ch_l = base·(1, 2, 2, …) (snet_unet.c: DDPM's CIFAR multipliers)."""
    base = cfg["base_channels"]
    return [base * (1 if level == 0 else 2) for level in range(cfg["n_levels"])]


def unet_forward_flops(cfg, B=1):
    """snet_unet.c's forward_flops: 2 per multiply–add of the dense layers and convolutions."""
    C, H, W, F_, E = cfg["channels"], cfg["height"], cfg["width"], cfg["n_fourier"], 4 * cfg["base_channels"]
    ch, L = unet_channels(cfg), cfg["n_levels"]
    hw = [(H >> level) * (W >> level) for level in range(L)]
    P = ch[L - 1] + 2 * sum(ch)
    macs = E * 2 * F_ + E * E + P * E + ch[0] * C * 9 * hw[0] + C * ch[0] * 9 * hw[0]

    def block(cin, cout, level):
        return (cout * cin * 9 + cout * cout * 9 + (cout * cin if cin != cout else 0)) * hw[level]
    cin = ch[0]
    for level in range(L):
        macs += block(cin, ch[level], level)
        if level + 1 < L:
            macs += ch[level] * ch[level] * 9 * hw[level + 1]
        cin = ch[level]
    macs += block(ch[L - 1], ch[L - 1], L - 1)
    for level in range(L):
        cu = ch[level + 1] if level + 1 < L else ch[L - 1]
        macs += block(cu + ch[level], ch[level], level)
    return 2.0 * macs * B


class UNetResBlock(nn.Module):
    def __init__(self, cin, cout, groups):
        super().__init__()
        self.gn1 = nn.GroupNorm(groups, cin, eps=1e-5)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.gn2 = nn.GroupNorm(groups, cout, eps=1e-5)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, shift):                                   # x (B, cin, h, w), shift (B, cout)
        h = self.conv1(F.silu(self.gn1(x))) + shift[:, :, None, None]
        out = self.conv2(F.silu(self.gn2(h)))
        return out + (self.skip(x) if self.skip is not None else x)

    def file_names(self, prefix):
        """(torch parameter, file tensor name) pairs."""
        pairs = [(self.gn1.weight, "gn1.g"), (self.gn1.bias, "gn1.b"), (self.conv1.weight, "conv1.w"),
                 (self.conv1.bias, "conv1.b"), (self.gn2.weight, "gn2.g"), (self.gn2.bias, "gn2.b"),
                 (self.conv2.weight, "conv2.w"), (self.conv2.bias, "conv2.b")]
        if self.skip is not None:
            pairs += [(self.skip.weight, "skip.w"), (self.skip.bias, "skip.b")]
        return [(p, prefix + n) for p, n in pairs]


class ScoreUNet(nn.Module):
    """r(x, tau): the raw network of snet_unet.c (the score is made from it by get_score_fn, as for
    the MLP). x and the output are (B, D) rows, D = C·H·W in NCHW order (snet.h)."""

    def __init__(self, cfg, tensors, path="model"):
        super().__init__()
        self.cfg = cfg
        C, H, W, L, G = cfg["channels"], cfg["height"], cfg["width"], cfg["n_levels"], cfg["n_groups"]
        Fn, E = cfg["n_fourier"], 4 * cfg["base_channels"]
        ch = unet_channels(cfg)
        self.shape, self.L, self.D = (C, H, W), L, C * H * W
        if not (1 <= L <= 6 and G >= 1 and cfg["base_channels"] % G == 0 and H % (1 << (L - 1)) == 0
                and W % (1 << (L - 1)) == 0):
            raise SgmFormatError(f"{path}: U-Net config base {cfg['base_channels']}, {L} levels, {G} groups, "
                                 f"image {H}×{W} is not one snet_unet.c accepts")
        self.fourier = GaussianFourierProjection(tensors["temb.freq"], float64=True)
        self.fc1 = nn.Linear(2 * Fn, E)
        self.fc2 = nn.Linear(E, E)
        self.inp = nn.Conv2d(C, ch[0], 3, padding=1)
        self.enc = nn.ModuleList()
        self.down = nn.ModuleList()
        cin = ch[0]
        for level in range(L):
            self.enc.append(UNetResBlock(cin, ch[level], G))
            if level + 1 < L:
                self.down.append(nn.Conv2d(ch[level], ch[level], 3, stride=2, padding=1))
            cin = ch[level]
        self.mid = UNetResBlock(ch[L - 1], ch[L - 1], G)
        # dec[level]: its input is cat(u, e_level), u = the middle block's output (level L−1) or the
        # upsampled o_{level+1}
        self.dec = nn.ModuleList([UNetResBlock((ch[lv + 1] if lv + 1 < L else ch[L - 1]) + ch[lv], ch[lv], G)
                                  for lv in range(L)])
        self.head_gn = nn.GroupNorm(G, ch[0], eps=1e-5)
        self.out = nn.Conv2d(ch[0], C, 3, padding=1)
        # proj's columns: the blocks in the order snet_unet.c's plan lays them out
        order = list(self.enc) + [self.mid] + [self.dec[lv] for lv in reversed(range(L))]
        self.proj_cols, P = {}, 0
        for blk in order:
            self.proj_cols[id(blk)] = P
            P += blk.conv1.out_channels
        self.proj = nn.Linear(E, P)

        pairs = [(self.fc1.weight, "temb.fc1.w"), (self.fc1.bias, "temb.fc1.b"),
                 (self.fc2.weight, "temb.fc2.w"), (self.fc2.bias, "temb.fc2.b"),
                 (self.proj.weight, "temb.proj.w"), (self.proj.bias, "temb.proj.b"),
                 (self.inp.weight, "in.w"), (self.inp.bias, "in.b")]
        for level in range(L):
            pairs += self.enc[level].file_names(f"enc{level}.")
            if level + 1 < L:
                pairs += [(self.down[level].weight, f"down{level}.w"), (self.down[level].bias, f"down{level}.b")]
        pairs += self.mid.file_names("mid.")
        for level in reversed(range(L)):
            pairs += self.dec[level].file_names(f"dec{level}.")
        pairs += [(self.head_gn.weight, "head.gn.g"), (self.head_gn.bias, "head.gn.b"),
                  (self.out.weight, "out.w"), (self.out.bias, "out.b")]
        expected = {"temb.freq"} | {name for _, name in pairs}
        if set(tensors) != expected:
            raise SgmFormatError(f"{path}: the file's tensors do not match the U-Net its config gives: missing "
                                 f"{sorted(expected - set(tensors))}, unexpected {sorted(set(tensors) - expected)}")
        with torch.no_grad():
            for param, name in pairs:
                if tuple(param.shape) != tensors[name].shape:
                    raise SgmFormatError(f"{path}: tensor '{name}' is {tensors[name].shape} in the file, "
                                         f"the config gives {tuple(param.shape)}")
                param.copy_(torch.from_numpy(tensors[name]))

    def _block(self, blk, x, proj):
        c0 = self.proj_cols[id(blk)]
        return blk(x, proj[:, c0:c0 + blk.conv1.out_channels])

    def forward(self, x, tau):
        B, L = x.shape[0], self.L
        te = F.silu(self.fc2(F.silu(self.fc1(self.fourier(tau)))))   # (B, E)
        proj = self.proj(te)                                           # (B, P)
        h = self.inp(x.reshape(B, *self.shape))                        # (B, ch0, H, W)
        skips = []
        for level in range(L):
            e = self._block(self.enc[level], h, proj)                  # (B, ch_l, H/2^l, W/2^l)
            skips.append(e)
            if level + 1 < L:
                h = self.down[level](e)
        o = self._block(self.mid, skips[-1], proj)
        for level in reversed(range(L)):
            u = o if level == L - 1 else F.interpolate(o, scale_factor=2, mode="nearest")
            o = self._block(self.dec[level], torch.cat([u, skips[level]], dim=1), proj)
        y = self.out(F.silu(self.head_gn(o)))                          # (B, C, H, W)
        return y.reshape(B, self.D)


def load_model(path, which="ema"):
    """Returns (model, cfg, info) for whichever architecture the file holds: ScoreMLP or ScoreUNet."""
    cfg, tensors, info = read_sgm(path, which)
    if cfg["arch"] == 1:
        model = ScoreMLP(cfg, tensors)
    elif cfg["arch"] == 2:
        model = ScoreUNet(cfg, tensors, path)
    else:
        raise SgmFormatError(f"{path}: arch {cfg['arch']}: expected 1 (MLP) or 2 (U-Net)")
    model.eval()
    return model, cfg, info


# ---- SDEs (official sde_lib.py; schedule arithmetic in float64, see the module comment) ----------

def _f64(t):
    return t.to(torch.float64)


class SDE:
    T = 1.0

    def reverse(self, score_fn, probability_flow=False):
        sde_fn, discretize_fn, N, T = self.sde, self.discretize, self.N, self.T

        class RSDE:
            def __init__(self):
                self.probability_flow = probability_flow
                self.N, self.T = N, T

            def sde(self, x, t):
                drift, diffusion = sde_fn(x, t)
                score = score_fn(x, t)
                drift = drift - diffusion[:, None] ** 2 * score * (0.5 if self.probability_flow else 1.)
                diffusion = torch.zeros_like(diffusion) if self.probability_flow else diffusion
                return drift, diffusion

            def discretize(self, x, t):
                f, G = discretize_fn(x, t)
                rev_f = f - G[:, None] ** 2 * score_fn(x, t) * (0.5 if self.probability_flow else 1.)
                rev_G = torch.zeros_like(G) if self.probability_flow else G
                return rev_f, rev_G

        return RSDE()

    def discretize(self, x, t):
        dt = 1 / self.N
        drift, diffusion = self.sde(x, t)
        return drift * dt, diffusion * math.sqrt(dt)


class VPSDE(SDE):
    def __init__(self, beta_min=0.1, beta_max=20, N=1000):
        self.beta_0, self.beta_1, self.N = float(beta_min), float(beta_max), N
        self.discrete_betas = torch.linspace(self.beta_0 / N, self.beta_1 / N, N, dtype=torch.float64)
        self.alphas = 1. - self.discrete_betas

    def sde(self, x, t):
        beta_t = self.beta_0 + _f64(t) * (self.beta_1 - self.beta_0)
        drift = -0.5 * beta_t.float()[:, None] * x
        return drift, torch.sqrt(beta_t).float()

    def log_mean_coeff(self, t):
        t = _f64(t)
        return -0.25 * t ** 2 * (self.beta_1 - self.beta_0) - 0.5 * t * self.beta_0

    def marginal_prob(self, x, t):
        lmc = self.log_mean_coeff(t)
        mean = torch.exp(lmc).float()[:, None] * x
        std = torch.sqrt(-torch.expm1(2. * lmc)).float()
        return mean, std

    def prior_sampling(self, shape, generator=None):
        return torch.randn(*shape, generator=generator)

    def prior_logp(self, z):
        N = np.prod(z.shape[1:])
        return -N / 2. * np.log(2 * np.pi) - torch.sum(z.double() ** 2, dim=1) / 2.

    def discretize(self, x, t):
        timestep = (_f64(t) * (self.N - 1) / self.T).long()
        beta = self.discrete_betas[timestep]
        alpha = self.alphas[timestep]
        f = (torch.sqrt(alpha).float()[:, None] * x - x)
        G = torch.sqrt(beta).float()
        return f, G


class subVPSDE(VPSDE):
    def sde(self, x, t):
        t64 = _f64(t)
        beta_t = self.beta_0 + t64 * (self.beta_1 - self.beta_0)
        drift = -0.5 * beta_t.float()[:, None] * x
        discount = -torch.expm1(-2 * self.beta_0 * t64 - (self.beta_1 - self.beta_0) * t64 ** 2)
        return drift, torch.sqrt(beta_t * discount).float()

    def marginal_prob(self, x, t):
        lmc = self.log_mean_coeff(t)
        mean = torch.exp(lmc).float()[:, None] * x
        std = (-torch.expm1(2. * lmc)).float()
        return mean, std

    discretize = SDE.discretize


class VESDE(SDE):
    def __init__(self, sigma_min=0.01, sigma_max=50, N=1000):
        self.sigma_min, self.sigma_max, self.N = float(sigma_min), float(sigma_max), N
        self.discrete_sigmas = torch.exp(torch.linspace(np.log(self.sigma_min), np.log(self.sigma_max), N,
                                                        dtype=torch.float64))

    def sigma(self, t):
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** _f64(t)

    def sde(self, x, t):
        sigma = self.sigma(t)
        drift = torch.zeros_like(x)
        diffusion = sigma * np.sqrt(2 * (np.log(self.sigma_max) - np.log(self.sigma_min)))
        return drift, diffusion.float()

    def marginal_prob(self, x, t):
        return x, self.sigma(t).float()

    def prior_sampling(self, shape, generator=None):
        return torch.randn(*shape, generator=generator) * self.sigma_max

    def prior_logp(self, z):
        N = np.prod(z.shape[1:])
        return -N / 2. * np.log(2 * np.pi * self.sigma_max ** 2) - torch.sum(z.double() ** 2, dim=1) / (
            2 * self.sigma_max ** 2)

    def discretize(self, x, t):
        timestep = (_f64(t) * (self.N - 1) / self.T).long()
        sigma = self.discrete_sigmas[timestep]
        adjacent = torch.where(timestep == 0, torch.zeros_like(sigma), self.discrete_sigmas[(timestep - 1).clamp(min=0)])
        f = torch.zeros_like(x)
        G = torch.sqrt(sigma ** 2 - adjacent ** 2).float()
        return f, G


def make_sde(cfg, N=1000):
    kind = SDE_NAMES[cfg["sde"]]
    if kind == "vp":
        return VPSDE(cfg["beta_min"], cfg["beta_max"], N)
    if kind == "subvp":
        return subVPSDE(cfg["beta_min"], cfg["beta_max"], N)
    return VESDE(cfg["sigma_min"], cfg["sigma_max"], N)


def get_score_fn(sde, model):
    """Official models/utils.get_score_fn (continuous), with the MLP's time input."""
    if isinstance(sde, VESDE):
        lo, span = math.log(sde.sigma_min), math.log(sde.sigma_max / sde.sigma_min)

        def score_fn(x, t):
            tau = (lo + _f64(t) * span).float()
            return model(x, tau) / sde.marginal_prob(x, t)[1][:, None]
    else:
        def score_fn(x, t):
            std = sde.marginal_prob(torch.zeros_like(x), t)[1]
            return -model(x, t) / std[:, None]
    return score_fn


# ---- PC sampler (official sampling.py) -------------------------------------------------------------

class EulerMaruyamaPredictor:
    def __init__(self, sde, score_fn, probability_flow=False):
        self.sde = sde
        self.rsde = sde.reverse(score_fn, probability_flow)

    def update_fn(self, x, t):
        dt = -1. / self.rsde.N
        z = torch.randn_like(x)
        drift, diffusion = self.rsde.sde(x, t)
        x_mean = x + drift * dt
        x = x_mean + diffusion[:, None] * np.sqrt(-dt) * z
        return x, x_mean


class ReverseDiffusionPredictor:
    def __init__(self, sde, score_fn, probability_flow=False):
        self.sde = sde
        self.rsde = sde.reverse(score_fn, probability_flow)

    def update_fn(self, x, t):
        f, G = self.rsde.discretize(x, t)
        z = torch.randn_like(x)
        x_mean = x - f
        x = x_mean + G[:, None] * z
        return x, x_mean


class LangevinCorrector:
    def __init__(self, sde, score_fn, snr, n_steps):
        self.sde, self.score_fn, self.snr, self.n_steps = sde, score_fn, snr, n_steps

    def update_fn(self, x, t):
        sde = self.sde
        if isinstance(sde, VPSDE):  # VPSDE and subVPSDE
            timestep = (_f64(t) * (sde.N - 1) / sde.T).long()
            alpha = sde.alphas[timestep].float()
        else:
            alpha = torch.ones_like(t)
        for _ in range(self.n_steps):
            grad = self.score_fn(x, t)
            noise = torch.randn_like(x)
            grad_norm = torch.norm(grad.reshape(grad.shape[0], -1), dim=-1).mean()
            noise_norm = torch.norm(noise.reshape(noise.shape[0], -1), dim=-1).mean()
            step_size = (self.snr * noise_norm / grad_norm) ** 2 * 2 * alpha
            x_mean = x + step_size[:, None] * grad
            x = x_mean + torch.sqrt(step_size * 2)[:, None] * noise
        return x, x_mean


class NoneCorrector:
    def __init__(self, *args, **kwargs):
        pass

    def update_fn(self, x, t):
        return x, x


PREDICTORS = {"euler_maruyama": EulerMaruyamaPredictor, "reverse_diffusion": ReverseDiffusionPredictor}
CORRECTORS = {"langevin": LangevinCorrector, "none": NoneCorrector}


def pc_sampler(sde, model, shape, predictor="reverse_diffusion", corrector="langevin", snr=0.16,
               n_steps=1, eps=1e-3, denoise=True):
    score_fn = get_score_fn(sde, model)
    predictor_obj = PREDICTORS[predictor](sde, score_fn, False)
    corrector_obj = CORRECTORS[corrector](sde, score_fn, snr, n_steps)
    with torch.no_grad():
        x = sde.prior_sampling(shape)
        timesteps = torch.linspace(sde.T, eps, sde.N)
        for i in range(sde.N):
            t = timesteps[i]
            vec_t = torch.ones(shape[0]) * t
            x, x_mean = corrector_obj.update_fn(x, vec_t)
            x, x_mean = predictor_obj.update_fn(x, vec_t)
        nfe = sde.N * (1 + (n_steps if corrector != "none" else 0))
        return (x_mean if denoise else x), nfe


# ---- ODE sampler (official sampling.get_ode_sampler) ----------------------------------------------

def _solve_stats(solution, stats):
    """Accepted steps = len(t) − 1 (no t_eval); RK45 rejected steps from nfev = 2 + 6·attempts."""
    if stats is not None:
        stats["steps"] = len(solution.t) - 1
        stats["rejected"] = max(0, (solution.nfev - 2) // 6 - stats["steps"])


def ode_sampler(sde, model, shape, z=None, rtol=1e-5, atol=1e-5, method="RK45", eps=1e-3, denoise=True,
                stats=None):
    score_fn = get_score_fn(sde, model)
    rsde = sde.reverse(score_fn, probability_flow=True)

    def drift_fn(x, t):
        return rsde.sde(x, t)[0]

    def denoise_update_fn(x):
        predictor_obj = ReverseDiffusionPredictor(sde, score_fn, probability_flow=False)
        vec_eps = torch.ones(x.shape[0]) * eps
        _, x = predictor_obj.update_fn(x, vec_eps)
        return x

    with torch.no_grad():
        x = sde.prior_sampling(shape) if z is None else z

        def ode_func(t, x):
            x = torch.from_numpy(x.reshape(shape)).type(torch.float32)
            vec_t = torch.ones(shape[0]) * t
            drift = drift_fn(x, vec_t)
            return drift.detach().cpu().numpy().reshape((-1,))

        solution = integrate.solve_ivp(ode_func, (sde.T, eps), x.detach().cpu().numpy().reshape((-1,)),
                                       rtol=rtol, atol=atol, method=method)
        nfe = solution.nfev
        _solve_stats(solution, stats)
        x = torch.tensor(solution.y[:, -1]).reshape(shape).type(torch.float32)
        if denoise:
            x = denoise_update_fn(x)
        return x, nfe


# ---- likelihood (official likelihood.py) ------------------------------------------------------------

def get_div_fn(fn):
    def div_fn(x, t, eps):
        with torch.enable_grad():
            x.requires_grad_(True)
            fn_eps = torch.sum(fn(x, t) * eps)
            grad_fn_eps = torch.autograd.grad(fn_eps, x)[0]
        x.requires_grad_(False)
        return torch.sum(grad_fn_eps * eps, dim=tuple(range(1, len(x.shape))))
    return div_fn


def exact_div_fn(fn):
    """Not in the official code (used only to check bits/dim agreement without probe noise): the
    trace of ∂fn/∂x from one backward pass per basis vector."""
    def div_fn(x, t, eps):
        with torch.enable_grad():
            x.requires_grad_(True)
            out = fn(x, t)
            div = torch.zeros(x.shape[0])
            for j in range(x.shape[1]):
                e = torch.zeros_like(out)
                e[:, j] = 1.0
                div += torch.autograd.grad(out, x, e, retain_graph=j + 1 < x.shape[1])[0][:, j]
        x.requires_grad_(False)
        return div
    return div_fn


def likelihood(sde, model, data, hutchinson_type="Rademacher", rtol=1e-5, atol=1e-5, method="RK45",
               eps=1e-5, bpd_offset=0.0, generator=None, stats=None):
    """Returns (bpd (B,), z (B, D), nfe). data: float32 (B, D) in model space. bpd_offset: the
    official `7. - inverse_scaler(-1.)` for 8-bit images, 0 for continuous data.
    hutchinson_type "Exact" (not official) takes the exact trace instead of a probe."""
    score_fn = get_score_fn(sde, model)
    rsde = sde.reverse(score_fn, probability_flow=True)

    def drift_fn(x, t):
        return rsde.sde(x, t)[0]

    div_fn = exact_div_fn(drift_fn) if hutchinson_type == "Exact" else get_div_fn(drift_fn)
    with torch.no_grad():
        shape = data.shape
        if hutchinson_type == "Gaussian":
            epsilon = torch.randn(shape, generator=generator)
        else:
            epsilon = torch.randint(0, 2, shape, generator=generator).float() * 2 - 1.

        def ode_func(t, x):
            sample = torch.from_numpy(x[:-shape[0]].reshape(shape)).type(torch.float32)
            vec_t = torch.ones(sample.shape[0]) * t
            drift = drift_fn(sample, vec_t).detach().cpu().numpy().reshape((-1,))
            logp_grad = div_fn(sample, vec_t, epsilon).detach().cpu().numpy().reshape((-1,))
            return np.concatenate([drift, logp_grad], axis=0)

        init = np.concatenate([data.detach().cpu().numpy().reshape((-1,)), np.zeros((shape[0],))], axis=0)
        solution = integrate.solve_ivp(ode_func, (eps, sde.T), init, rtol=rtol, atol=atol, method=method)
        nfe = solution.nfev
        _solve_stats(solution, stats)
        zp = solution.y[:, -1]
        z = torch.from_numpy(zp[:-shape[0]].reshape(shape)).type(torch.float32)
        delta_logp = torch.from_numpy(zp[-shape[0]:]).type(torch.float64)
        prior_logp = sde.prior_logp(z)
        bpd = -(prior_logp + delta_logp) / np.log(2)
        N = np.prod(shape[1:])
        bpd = bpd / N + bpd_offset
        return bpd, z, nfe


# ---- training (official losses.py, ema.py) ----------------------------------------------------------

class ExponentialMovingAverage:
    def __init__(self, parameters, decay, use_num_updates=True):
        self.decay = decay
        self.num_updates = 0 if use_num_updates else None
        self.shadow_params = [p.clone().detach() for p in parameters if p.requires_grad]

    def update(self, parameters):
        decay = self.decay
        if self.num_updates is not None:
            self.num_updates += 1
            decay = min(decay, (1 + self.num_updates) / (10 + self.num_updates))
        one_minus_decay = 1.0 - decay
        with torch.no_grad():
            parameters = [p for p in parameters if p.requires_grad]
            for s_param, param in zip(self.shadow_params, parameters):
                s_param.sub_(one_minus_decay * (s_param - param))


def get_sde_loss_fn(sde, eps=1e-5):
    def loss_fn(model, batch):
        score_fn = get_score_fn(sde, model)
        t = torch.rand(batch.shape[0]) * (sde.T - eps) + eps
        z = torch.randn_like(batch)
        mean, std = sde.marginal_prob(batch, t)
        perturbed_data = mean + std[:, None] * z
        score = score_fn(perturbed_data, t)
        losses = torch.square(score * std[:, None] + z)
        losses = torch.mean(losses.reshape(losses.shape[0], -1), dim=-1)
        return torch.mean(losses)
    return loss_fn


class Trainer:
    """One official training step: zero_grad, loss, backward, warm-up lr, clip_grad_norm_, Adam,
    EMA update (losses.get_step_fn + optimization_manager)."""

    def __init__(self, sde, model, lr=2e-4, warmup=0, grad_clip=1.0, ema_decay=0.999):
        self.sde, self.model = sde, model
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
        self.ema = ExponentialMovingAverage(model.parameters(), decay=ema_decay)
        self.loss_fn = get_sde_loss_fn(sde)
        self.lr, self.warmup, self.grad_clip, self.step = lr, warmup, grad_clip, 0

    def train_step(self, batch):
        self.model.train()
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model, batch)
        loss.backward()
        if self.warmup > 0:
            for g in self.optimizer.param_groups:
                g["lr"] = self.lr * np.minimum(self.step / self.warmup, 1.0)
        if self.grad_clip >= 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm=self.grad_clip)
        self.optimizer.step()
        self.step += 1
        self.ema.update(self.model.parameters())
        return loss.item()


def checkerboard(n, generator=None):
    """The 2-D checkerboard of scorenet/snet_data.c (FFJORD's toy set), in torch."""
    x1 = torch.rand(n, generator=generator) * 4 - 2
    x2 = torch.rand(n, generator=generator) - torch.randint(0, 2, (n,), generator=generator).float() * 2
    x2 = x2 + torch.floor(x1) % 2
    return torch.stack([x1, x2], dim=1) * 2

"""sgm_peer — the peer: a port of the official score_sde_pytorch algorithms (Song et al., ICLR 2021;
github.com/yang-song/score_sde_pytorch: sde_lib.py, sampling.py, likelihood.py, losses.py,
models/utils.py) onto PyTorch + scipy, for the residual MLP that `scoresde train` writes.

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

The network is the C library's MLP (scorenet/snet_mlp.c), layer for layer, with weights read from
the very .sgm file (scorenet/snet_io.c; the EMA copy when the file has one, as the C loader's
default). Two deliberate departures from the official code, neither of which changes the cost:
  * the time input of the network is the C architecture's (t for VP/sub-VP, log sigma(t) for VE)
    instead of the official 999 t / sigma labels — it is the network being compared;
  * the schedule arithmetic (std(t), beta(t), ...) is done in float64, as the C side does: the
    official float32 1 - exp(2 L(t)) loses ~5% of std(t) at t = 1e-5, which would make the two
    sides' scores differ by more than float rounding. The network itself runs in float32.
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
SDE_NAMES = {1: "ve", 2: "vp", 3: "subvp"}
TENSOR_BYTES = 68  # name[32], ndim, shape[4], offset u64, size u32, trainable u32


class SgmFormatError(ValueError):
    pass


def read_sgm(path, which="ema"):
    """Reads a .sgm file. Returns (config dict, {name: float32 array}, info dict). which = "ema"
    takes the EMA copy when the file has one (the C loader's default), "raw" the parameters."""
    data = open(path, "rb").read()
    if len(data) < 20 or data[:4] != SGM_MAGIC:
        raise SgmFormatError(f"{path}: not a scoresde weights file (magic {data[:4]!r})")
    stored_crc = struct.unpack_from("<I", data, len(data) - 4)[0]
    if zlib.crc32(data[:-4]) & 0xFFFFFFFF != stored_crc:
        raise SgmFormatError(f"{path}: checksum mismatch")
    version, flags, config_bytes = struct.unpack_from("<III", data, 4)
    if version != 1 or config_bytes != 80:
        raise SgmFormatError(f"{path}: version {version} / config block {config_bytes} bytes not supported")
    values = struct.unpack_from("<" + "".join(f for _, f in CONFIG_LAYOUT), data, 16)
    cfg = {name: v for (name, _), v in zip(CONFIG_LAYOUT, values)}
    pos = 16 + 80
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
    """Official models/layerspp.GaussianFourierProjection (fixed random W)."""

    def __init__(self, W):
        super().__init__()
        self.W = nn.Parameter(torch.as_tensor(W), requires_grad=False)

    def forward(self, x):
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


def load_model(path, which="ema"):
    cfg, tensors, info = read_sgm(path, which)
    if cfg["arch"] != 1:
        raise SgmFormatError(f"{path}: arch {cfg['arch']} is not the MLP (1)")
    model = ScoreMLP(cfg, tensors)
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

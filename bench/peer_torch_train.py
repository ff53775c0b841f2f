"""The GPU training peer: the computation `nde bench train` times, in PyTorch eager on CUDA.

The same step as bench/peer_jax_train.py: denoising score matching under VP with an
eps-predicting MLP of the layout in src/core/nn/mlp.rs (inputs x, y, t, sin and cos of pi 2^k t
for k < 6; `depth` SiLU layers of `width`; a linear output of 2); a minibatch of data points
drawn from 20 000 points of the eight Gaussians, times in [1e-5, 1) and noise, all drawn on the
device; the mean squared noise residual; its gradient; Adam (PyTorch's default implementation,
learning rate 1e-3) after clipping the global gradient norm at 1; an EMA of the weights at
0.999. Float32 with TF32 off. Eager: each step is a Python call of kernel launches, as most
PyTorch training loops are written; nothing is read back inside the timed steps.

The best of `--repeats` runs of `--steps` steps after a warm-up is reported, as `nde bench
train` does. `--device cpu` runs the same code on the CPU (to check the script where there is
no GPU; those figures are not the peer's).

    python3 bench/peer_torch_train.py --batch 4096 --width 128 --depth 3 --json
"""

import argparse
import json
import math
import time

import torch

BETA_MIN, BETA_MAX, T_EPS, FREQUENCIES = 0.1, 20.0, 1e-5, 6


def eight_gaussians(n, generator):
    angles = torch.randint(0, 8, (n,), generator=generator).float() * (2 * math.pi / 8)
    centres = 2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)
    return centres + 0.1 * torch.randn(n, 2, generator=generator)


class Mlp(torch.nn.Module):
    def __init__(self, width, depth):
        super().__init__()
        dims = [3 + 2 * FREQUENCIES] + [width] * depth + [2]
        # nn.Linear's default initialisation: uniform in +-1/sqrt(fan_in), as the JAX peer's.
        self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.register_buffer("frequencies", math.pi * 2.0 ** torch.arange(FREQUENCIES, dtype=torch.float32))

    def forward(self, x, t):
        phase = t[:, None] * self.frequencies[None, :]
        h = torch.cat([x, t[:, None], phase.sin(), phase.cos()], dim=1)
        for layer in self.layers[:-1]:
            h = torch.nn.functional.silu(layer(h))
        return self.layers[-1](h)


def alpha_sigma(t):
    log_alpha = -0.5 * (BETA_MIN * t + 0.5 * (BETA_MAX - BETA_MIN) * t * t)
    return log_alpha.exp(), (-torch.expm1(2.0 * log_alpha)).sqrt()


def make_step(model, ema, data, batch, optimiser, device):
    parameters = list(model.parameters())
    averages = list(ema.parameters())

    def step():
        x0 = data[torch.randint(0, data.shape[0], (batch,), device=device)]
        t = T_EPS + (1.0 - T_EPS) * torch.rand(batch, device=device)
        z = torch.randn(batch, 2, device=device)
        alpha, sigma = alpha_sigma(t)
        x_t = alpha[:, None] * x0 + sigma[:, None] * z
        loss = ((model(x_t, t) - z) ** 2).sum(dim=1).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimiser.step()
        with torch.no_grad():
            torch._foreach_lerp_(averages, parameters, 1.0 - 0.999)
        return loss.detach()

    return step


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda", help="cuda (the peer) or cpu (a check of the script)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: no CUDA device: this peer times the GPU (--device cpu checks the script)")
    if args.device not in ("cuda", "cpu"):
        raise SystemExit(f"error: unknown device '{args.device}': choose cuda or cpu")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(args.seed)
    data = eight_gaussians(20_000, generator).to(device)
    model = Mlp(args.width, args.depth).to(device)
    ema = Mlp(args.width, args.depth).to(device)
    ema.load_state_dict(model.state_dict())
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    step = make_step(model, ema, data, args.batch, optimiser, device)
    losses = [step() for _ in range(5)]  # warm-up: allocator, kernels, the optimiser's state
    synchronize(device)
    first_loss = float(losses[0])
    best = float("inf")
    for _ in range(args.repeats):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(args.steps):
            loss = step()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    last_loss = float(loss)
    if not math.isfinite(last_loss):
        raise SystemExit(f"error: the peer's loss is {last_loss}")
    steps_per_s = args.steps / best
    dims = [3 + 2 * FREQUENCIES] + [args.width] * args.depth + [2]
    macs = sum(a * b for a, b in zip(dims[:-1], dims[1:]))
    macs = 3 * macs - dims[0] * dims[1]  # no input gradient for the first layer
    report = {
        "bench": "train", "backend": f"torch-{args.device}-eager", "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu", "tf32": False,
        "batch": args.batch, "width": args.width, "depth": args.depth, "steps": args.steps,
        "seconds": best, "steps_per_s": steps_per_s, "samples_per_s": steps_per_s * args.batch,
        "gflops": steps_per_s * args.batch * 2 * macs / 1e9, "first_loss": first_loss, "last_loss": last_loss,
    }
    print(json.dumps(report) if args.json else report)


if __name__ == "__main__":
    main()

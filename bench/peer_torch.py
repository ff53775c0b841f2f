"""The GPU benchmark peer: the computation `nde bench --backend gpu` times, in PyTorch on CUDA.

The same sampler and network as bench/peer_jax.py (DDIM with eta = 0 under VP, uniform steps
from t = 1 to 1e-3, an eps-MLP with inputs (x, y, t, sin and cos of pi 2^k t for k < 6),
`depth` SiLU layers of `width`, a linear output of 2, random weights), in float32 with TF32
off, three ways:

- eager: one Python loop of kernel launches per run;
- graph: the same loop captured once in a CUDA graph and replayed;
- compile: `torch.compile` of the whole sampler (its default mode).

The best of `--repeats` timed runs after a warm-up is reported, as `nde bench` does, with the
card's float32 matmul rate (an 8192^3 product, TF32 off) as the reference for "share of peak".

    python3 bench/peer_torch.py --particles 1000000 --width 128 --depth 3 --json --peak
"""

import argparse
import json
import math
import time

import torch

BETA_MIN, BETA_MAX, T_EPS, FREQUENCIES = 0.1, 20.0, 1e-3, 6


def log_alpha(t):
    return -0.5 * (BETA_MIN * t + 0.5 * (BETA_MAX - BETA_MIN) * t * t)


def alpha_sigma(t):
    la = log_alpha(t)
    return math.exp(la), math.sqrt(-math.expm1(2.0 * la))


def init_params(width, depth, seed, device):
    generator = torch.Generator().manual_seed(seed)
    dims = [3 + 2 * FREQUENCIES] + [width] * depth + [2]
    params = []
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        w = (torch.rand(fan_in, fan_out, generator=generator) * 2 - 1) * bound
        b = (torch.rand(fan_out, generator=generator) * 2 - 1) * bound
        params.append((w.to(device), b.to(device)))
    return params


def make_sampler(params, nfe, particles, device):
    grid = [1.0 + (T_EPS - 1.0) * i / nfe for i in range(nfe + 1)]
    steps = []
    frequencies = math.pi * 2.0 ** torch.arange(FREQUENCIES, dtype=torch.float32)
    for t, s in zip(grid[:-1], grid[1:]):
        (a_t, s_t), (a_s, s_s) = alpha_sigma(t), alpha_sigma(s)
        phase = frequencies * t
        # The time features are the same for every particle: one row, broadcast.
        time_row = torch.cat([torch.tensor([t]), torch.stack([phase.sin(), phase.cos()], -1).reshape(-1)])
        steps.append((time_row.to(device).expand(particles, -1), a_s / a_t, s_s - a_s * s_t / a_t))

    def sample(x):
        for time_rows, keep, eps_scale in steps:
            h = torch.cat([x, time_rows], dim=1)
            for w, b in params[:-1]:
                h = torch.nn.functional.silu(torch.addmm(b, h, w))
            w, b = params[-1]
            x = keep * x + eps_scale * torch.addmm(b, h, w)
        return x

    return sample


def best_time(run, repeats):
    best = float("inf")
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def peak_matmul_gflops(device, n=8192, repeats=5):
    a = torch.randn(n, n, device=device)
    a @ a
    return 2.0 * n ** 3 / best_time(lambda: a @ a, repeats) / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=100_000)
    parser.add_argument("--nfe", type=int, default=20)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modes", default="eager,graph,compile")
    parser.add_argument("--peak", action="store_true", help="also measure the float32 matmul rate")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("error: no CUDA device: this peer times the GPU")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device("cuda")
    params = init_params(args.width, args.depth, args.seed, device)
    x0 = torch.randn(args.particles, 2, generator=torch.Generator().manual_seed(args.seed)).to(device)
    sample = make_sampler(params, args.nfe, args.particles, device)
    dims = [3 + 2 * FREQUENCIES] + [args.width] * args.depth + [2]
    macs = sum(a * b for a, b in zip(dims[:-1], dims[1:]))
    reports = []
    with torch.no_grad():
        for mode in args.modes.split(","):
            if mode == "eager":
                run = lambda: sample(x0)
            elif mode == "graph":
                static_x = x0.clone()
                stream = torch.cuda.Stream()
                stream.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(stream):
                    for _ in range(3):
                        sample(static_x)
                torch.cuda.current_stream().wait_stream(stream)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    static_out = sample(static_x)
                run = graph.replay
            elif mode == "compile":
                compiled = torch.compile(sample)
                run = lambda: compiled(x0)
            else:
                raise SystemExit(f"error: unknown mode '{mode}': choose eager, graph or compile")
            run()  # warm-up: compilation and capture stay out of the timing
            seconds = best_time(run, args.repeats)
            evals_per_s = args.particles * args.nfe / seconds
            reports.append({
                "backend": f"torch-cuda-{mode}", "torch": torch.__version__, "device": torch.cuda.get_device_name(),
                "tf32": False, "particles": args.particles, "nfe": args.nfe, "width": args.width,
                "depth": args.depth, "seconds": seconds, "evals_per_s": evals_per_s,
                "gflops": evals_per_s * 2 * macs / 1e9,
            })
    if args.peak:
        peak = peak_matmul_gflops(device)
        for report in reports:
            report["peak_matmul_gflops"] = peak
    for report in reports:
        print(json.dumps(report) if args.json else report)


if __name__ == "__main__":
    main()

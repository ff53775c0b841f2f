"""The benchmark peer: the computation `nde bench` times, in JAX on the CPU.

DDIM (eta = 0) under the VP process with uniform time steps from t = 1 to 1e-3, driven by an
eps-predicting MLP with the same layout as src/core/nn/mlp.rs: inputs (x, y, t, sin and cos
of pi 2^k t for k < 6), `depth` SiLU layers of `width`, a linear output of 2. The weights are
random (speed does not depend on them). The whole sampler is one jitted function; compilation
is excluded from the timing, and the best of `--repeats` runs is reported, as `nde bench` does.

Also measures the machine's float32 matrix-multiply rate (a large square matmul through XLA),
the reference for "share of peak" in BENCHMARKS.md.

    python3 bench/peer_jax.py --particles 10000 --nfe 20 --width 128 --depth 3 --json
"""

import argparse
import json
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

BETA_MIN, BETA_MAX, T_EPS, FREQUENCIES = 0.1, 20.0, 1e-3, 6


def log_alpha(t):
    return -0.5 * (BETA_MIN * t + 0.5 * (BETA_MAX - BETA_MIN) * t * t)


def alpha_sigma(t):
    la = log_alpha(t)
    return math.exp(la), math.sqrt(-math.expm1(2.0 * la))


def init_params(width, depth, seed):
    rng = np.random.default_rng(seed)
    dims = [3 + 2 * FREQUENCIES] + [width] * depth + [2]
    params = []
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        w = rng.uniform(-bound, bound, size=(fan_in, fan_out)).astype(np.float32)
        b = rng.uniform(-bound, bound, size=(fan_out,)).astype(np.float32)
        params.append((jnp.asarray(w), jnp.asarray(b)))
    return params


def mlp(params, x, t):
    frequencies = math.pi * 2.0 ** jnp.arange(FREQUENCIES, dtype=jnp.float32)
    phase = frequencies * t
    features = jnp.concatenate(
        [x, jnp.full((x.shape[0], 1), t, jnp.float32),
         jnp.broadcast_to(jnp.stack([jnp.sin(phase), jnp.cos(phase)], -1).reshape(-1), (x.shape[0], 2 * FREQUENCIES))],
        axis=1)
    h = features
    for w, b in params[:-1]:
        h = jax.nn.silu(h @ w + b)
    w, b = params[-1]
    return h @ w + b


def make_sampler(nfe):
    grid = [1.0 + (T_EPS - 1.0) * i / nfe for i in range(nfe + 1)]
    coefficients = []
    for t, s in zip(grid[:-1], grid[1:]):
        (a_t, s_t), (a_s, s_s) = alpha_sigma(t), alpha_sigma(s)
        coefficients.append((t, a_s / a_t, s_s - a_s * s_t / a_t))

    @jax.jit
    def sample(params, x):
        for t, keep, eps_scale in coefficients:
            x = keep * x + eps_scale * mlp(params, x, jnp.float32(t))
        return x

    return sample


def best_time(f, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(f())
        best = min(best, time.perf_counter() - start)
    return best


def peak_matmul_gflops(n=2048, repeats=5):
    a = jnp.asarray(np.random.default_rng(0).standard_normal((n, n)).astype(np.float32))
    matmul = jax.jit(lambda a: a @ a)
    jax.block_until_ready(matmul(a))
    return 2.0 * n ** 3 / best_time(lambda: matmul(a), repeats) / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=10000)
    parser.add_argument("--nfe", type=int, default=20)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peak", action="store_true", help="also measure the float32 matmul rate")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    params = init_params(args.width, args.depth, args.seed)
    x0 = jnp.asarray(np.random.default_rng(args.seed).standard_normal((args.particles, 2)).astype(np.float32))
    sample = make_sampler(args.nfe)
    jax.block_until_ready(sample(params, x0))  # compile
    seconds = best_time(lambda: sample(params, x0), args.repeats)
    dims = [3 + 2 * FREQUENCIES] + [args.width] * args.depth + [2]
    macs = sum(a * b for a, b in zip(dims[:-1], dims[1:]))
    evals_per_s = args.particles * args.nfe / seconds
    report = {
        "backend": f"jax-{jax.default_backend()}", "jax": jax.__version__, "devices": str(jax.devices()),
        "particles": args.particles, "nfe": args.nfe, "width": args.width, "depth": args.depth,
        "seconds": seconds, "evals_per_s": evals_per_s, "gflops": evals_per_s * 2 * macs / 1e9,
    }
    if args.peak:
        report["peak_matmul_gflops"] = peak_matmul_gflops()
    print(json.dumps(report) if args.json else report)


if __name__ == "__main__":
    main()

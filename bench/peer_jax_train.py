"""The training peer: the computation `nde bench train` times, in JAX + optax (CPU or GPU).

One training step of denoising score matching under VP with an eps-predicting MLP of the
layout in src/core/nn/mlp.rs (inputs x, y, t, sin and cos of pi 2^k t for k < 6; `depth`
SiLU layers of `width`; a linear output of 2): draw a minibatch of data points, times in
[1e-5, 1) and noise, form x_t, the mean squared noise residual, its gradient, Adam with
global-norm clipping at 1 and an EMA of the weights at 0.999. The whole step is one jitted
function (the draws inside it, from a key split per step), the data set is 20 000 points of
the eight Gaussians, and compilation is excluded from the timing. The best of `--repeats`
runs of `--steps` steps is reported, as `nde bench train` does.

It runs on JAX's default device: the CPU with jax[cpu], the GPU where jax[cuda] finds one
(`backend` in the report says which; JAX_PLATFORMS=cpu forces the CPU).

    python3 bench/peer_jax_train.py --batch 128 --width 64 --depth 3 --json
"""

import argparse
import json
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

# The same network and initialisation as the sampling peer (this directory is on the path).
from peer_jax import BETA_MAX, BETA_MIN, FREQUENCIES, init_params

T_EPS = 1e-5  # the training time floor (`core::train::trainer::T_EPS_TRAIN`)


def eight_gaussians(n, seed):
    rng = np.random.default_rng(seed)
    angles = rng.integers(0, 8, size=n) * (2 * math.pi / 8)
    centres = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return jnp.asarray((centres + 0.1 * rng.standard_normal((n, 2))).astype(np.float32))


def mlp(params, x, t):
    frequencies = math.pi * 2.0 ** jnp.arange(FREQUENCIES, dtype=jnp.float32)
    phase = t[:, None] * frequencies[None, :]
    h = jnp.concatenate([x, t[:, None], jnp.sin(phase), jnp.cos(phase)], axis=1)
    for w, b in params[:-1]:
        h = jax.nn.silu(h @ w + b)
    w, b = params[-1]
    return h @ w + b


def alpha_sigma(t):
    log_alpha = -0.5 * (BETA_MIN * t + 0.5 * (BETA_MAX - BETA_MIN) * t * t)
    return jnp.exp(log_alpha), jnp.sqrt(-jnp.expm1(2.0 * log_alpha))


def make_step(data, batch, optimiser):
    def loss_fn(params, key):
        k_index, k_t, k_z = jax.random.split(key, 3)
        x0 = data[jax.random.randint(k_index, (batch,), 0, data.shape[0])]
        t = T_EPS + (1.0 - T_EPS) * jax.random.uniform(k_t, (batch,))
        z = jax.random.normal(k_z, (batch, 2))
        alpha, sigma = alpha_sigma(t)
        x_t = alpha[:, None] * x0 + sigma[:, None] * z
        return jnp.mean(jnp.sum((mlp(params, x_t, t) - z) ** 2, axis=1))

    @jax.jit
    def step(params, ema, state, key):
        key, sub = jax.random.split(key)
        loss, grads = jax.value_and_grad(loss_fn)(params, sub)
        updates, state = optimiser.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        ema = jax.tree_util.tree_map(lambda e, p: 0.999 * e + 0.001 * p, ema, params)
        return params, ema, state, key, loss

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    params = init_params(args.width, args.depth, args.seed)
    ema = params
    optimiser = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))
    state = optimiser.init(params)
    step = make_step(eight_gaussians(20_000, args.seed), args.batch, optimiser)
    key = jax.random.PRNGKey(args.seed)
    for _ in range(3):  # compile and warm up
        params, ema, state, key, loss = step(params, ema, state, key)
    jax.block_until_ready(loss)
    best = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(args.steps):
            params, ema, state, key, loss = step(params, ema, state, key)
        jax.block_until_ready((params, ema, loss))
        best = min(best, time.perf_counter() - start)
    steps_per_s = args.steps / best
    dims = [3 + 2 * FREQUENCIES] + [args.width] * args.depth + [2]
    macs = sum(a * b for a, b in zip(dims[:-1], dims[1:]))
    macs = 3 * macs - dims[0] * dims[1]
    report = {
        "bench": "train", "backend": f"jax-{jax.default_backend()}", "device": str(jax.devices()[0]), "jax": jax.__version__, "optax": optax.__version__,
        "batch": args.batch, "width": args.width, "depth": args.depth, "steps": args.steps,
        "seconds": best, "steps_per_s": steps_per_s, "samples_per_s": steps_per_s * args.batch,
        "gflops": steps_per_s * args.batch * 2 * macs / 1e9,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
    print(json.dumps(report) if args.json else report)


if __name__ == "__main__":
    main()

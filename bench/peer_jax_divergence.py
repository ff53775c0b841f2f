"""The divergence peer: the computation `nde bench divergence` times, in JAX on the CPU.

For `--particles` points x, each at its own time t, the eps-MLP's output and its 2x2
Jacobian in x by forward mode: `jax.jvp` with the two unit tangents, vmapped over the points,
one jitted function (the exact-divergence pass of the probability-flow likelihood). The
network is the sampling peer's (bench/peer_jax.py). Compilation is excluded; the best of
`--repeats` passes is reported, as `nde bench divergence` does.

    python3 bench/peer_jax_divergence.py --particles 10000 --width 128 --depth 3 --json
"""

import argparse
import json
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from peer_jax import FREQUENCIES, best_time, init_params


def mlp_one(params, x, t):
    frequencies = math.pi * 2.0 ** jnp.arange(FREQUENCIES, dtype=jnp.float32)
    phase = frequencies * t
    h = jnp.concatenate([x, t[None], jnp.sin(phase), jnp.cos(phase)])
    for w, b in params[:-1]:
        h = jax.nn.silu(h @ w + b)
    w, b = params[-1]
    return h @ w + b


def make_pass():
    def value_and_jacobian(params, x, t):
        f = lambda y: mlp_one(params, y, t)
        out, d0 = jax.jvp(f, (x,), (jnp.array([1.0, 0.0], jnp.float32),))
        _, d1 = jax.jvp(f, (x,), (jnp.array([0.0, 1.0], jnp.float32),))
        return out, jnp.stack([d0, d1], axis=1)

    return jax.jit(jax.vmap(value_and_jacobian, in_axes=(None, 0, 0)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=10000)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    params = init_params(args.width, args.depth, args.seed)
    rng = np.random.default_rng(args.seed)
    x = jnp.asarray(rng.standard_normal((args.particles, 2)).astype(np.float32))
    t = jnp.asarray(rng.uniform(1e-3, 1.0, size=(args.particles,)).astype(np.float32))
    run = make_pass()
    jax.block_until_ready(run(params, x, t))  # compile
    seconds = best_time(lambda: run(params, x, t), args.repeats)
    dims = [3 + 2 * FREQUENCIES] + [args.width] * args.depth + [2]
    macs = sum(a * b for a, b in zip(dims[:-1], dims[1:]))
    macs = 3 * macs - 2 * dims[0] * dims[1]
    evals_per_s = args.particles / seconds
    report = {
        "bench": "divergence", "backend": "jax-cpu", "jax": jax.__version__, "particles": args.particles,
        "width": args.width, "depth": args.depth, "seconds": seconds, "evals_per_s": evals_per_s,
        "gflops": evals_per_s * 2 * macs / 1e9,
    }
    print(json.dumps(report) if args.json else report)


if __name__ == "__main__":
    main()

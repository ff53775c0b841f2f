#!/usr/bin/env bash
# The CPU-speed measurements behind docs/BENCHMARKS.md ("The CPU path at the machine's
# limit"), side by side in one run: `nde bench train` against the JAX + optax peer, `nde
# bench` (sampling) and `nde bench divergence` against their JAX peers, the matmul peak, one
# core each, and the portable kernels. Prints
# one JSON object per line; rounds interleave the runners so drift hits both alike.
#
#   PYTHON=/path/to/venv/bin/python3 bash bench/run_cpu.sh > bench/results-DATE.jsonl
#   ROUNDS=3 bash bench/run_cpu.sh
# Needs: cargo, and python3 with jax[cpu] and optax (pip install "jax[cpu]" optax).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin nde
nde=./target/release/nde
py=${PYTHON:-python3}
rounds=${ROUNDS:-2}
"$py" bench/peer_jax.py --particles 1000 --nfe 1 --width 16 --depth 1 --json --peak 2>/dev/null
for round in $(seq "$rounds"); do
    for shape in "64 3 128" "128 3 256" "128 3 512" "128 3 1024"; do
        read -r width depth batch <<<"$shape"
        steps=$((batch >= 1024 ? 60 : 200))
        $nde bench train --width "$width" --depth "$depth" --batch "$batch" --steps "$steps" --json
        $nde bench train --width "$width" --depth "$depth" --batch "$batch" --steps "$steps" --threads 1 --json
        "$py" bench/peer_jax_train.py --width "$width" --depth "$depth" --batch "$batch" --steps "$steps" --json 2>/dev/null
    done
    for shape in "64 2" "128 3"; do
        read -r width depth <<<"$shape"
        for particles in 10000 100000; do
            $nde bench --backend cpu --particles "$particles" --nfe 20 --width "$width" --depth "$depth" --json
            "$py" bench/peer_jax.py --particles "$particles" --nfe 20 --width "$width" --depth "$depth" --json 2>/dev/null
        done
        $nde bench divergence --particles 10000 --width "$width" --depth "$depth" --json
        "$py" bench/peer_jax_divergence.py --particles 10000 --width "$width" --depth "$depth" --json 2>/dev/null
    done
done
# One core each (taskset): the kernels alone, without either side's threading.
if command -v taskset >/dev/null; then
    for round in $(seq "$rounds"); do
        for shape in "64 3 128" "128 3 1024"; do
            read -r width depth batch <<<"$shape"
            taskset -c 0 $nde bench train --width "$width" --depth "$depth" --batch "$batch" --steps 100 --threads 1 --json
            taskset -c 0 "$py" bench/peer_jax_train.py --width "$width" --depth "$depth" --batch "$batch" --steps 100 --json 2>/dev/null
        done
    done
fi
# The portable kernels (no AVX2), the closest native relative of the browser's SIMD128 path.
NDE_PORTABLE_KERNELS=1 $nde bench train --width 64 --depth 3 --batch 128 --threads 1 --json
NDE_PORTABLE_KERNELS=1 $nde bench --backend cpu --particles 10000 --nfe 20 --width 64 --depth 2 --threads 1 --json
$nde bench --backend cpu --particles 10000 --nfe 20 --width 64 --depth 2 --threads 1 --json
# Where the processor has AVX-512: the same product through the AVX2 tile (NDE_NO_AVX512=1),
# interleaved with the default; the JSON's "instructions" says which ran.
if grep -q avx512f /proc/cpuinfo 2>/dev/null; then
    for round in $(seq "$rounds"); do
        for env in "" "NDE_NO_AVX512=1"; do
            env $env $nde bench --backend cpu --particles 100000 --nfe 20 --width 128 --depth 3 --json
            env $env $nde bench train --width 128 --depth 3 --batch 1024 --steps 60 --json
        done
    done
fi

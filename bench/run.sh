#!/usr/bin/env bash
# The measurements behind docs/BENCHMARKS.md, side by side in one run (speeds on shared
# machines drift: compare numbers from the same run). Prints one JSON object per line.
#
#   bash bench/run.sh            CPU executor vs the JAX peer (and the matmul peak), then lavapipe
#   ROUNDS=5 bash bench/run.sh   more interleaved rounds
# Needs: cargo, python3 with jax[cpu] (pip install "jax[cpu]").
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin nde
nde=./target/release/nde
rounds=${ROUNDS:-3}
for shape in "128 3" "64 2"; do
    read -r width depth <<<"$shape"
    for round in $(seq "$rounds"); do
        $nde bench --backend cpu --particles 10000 --nfe 20 --width "$width" --depth "$depth" --json
        python3 bench/peer_jax.py --particles 10000 --nfe 20 --width "$width" --depth "$depth" --json \
            $([ "$round" = 1 ] && [ "$width" = 128 ] && echo --peak) 2>/dev/null
    done
done
# The GPU executor on this machine's adapter (lavapipe here: a CPU emulating a GPU).
$nde bench --backend gpu --particles 2000 --nfe 20 --width 128 --depth 3 --repeats 1 --json 2>/dev/null ||
    echo '{"backend":"gpu","skipped":"no GPU adapter"}'

#!/usr/bin/env bash
# The GPU figures of docs/BENCHMARKS.md on a machine with a real GPU, in one go: the device
# tool's prepared script. It runs `nde` built here (cargo build --release --bin nde; carry
# target/release/nde) and its peers side by side:
#
# - sample: both GPU paths of `nde bench`, the PyTorch CUDA peer (eager, CUDA graph and, at
#   10^6 particles, torch.compile; TF32 off) and the JAX peer on the GPU, at 10^4, 10^5 and
#   10^6 particles for 64x2 and 128x3;
# - train: `nde bench train` on the GPU (runs of 64 steps a readback, and 1, the round trip;
#   the rows drawn on the GPU, and on the host at 64) and on every CPU core, the PyTorch CUDA eager peer and the JAX + optax peer on the GPU, at
#   batch 128, 512 and 4096 for 64x3 and 128x3.
#
# One JSON object per line on stdout; a runner that fails prints {"failed": ...} and the rest
# go on. The sections to run are the arguments (both when none):
#
#   bash bench/run_gpu.sh > bench/results-DATE-gpu.jsonl
#   bash bench/run_gpu.sh train > bench/results-DATE-gpu-train.jsonl
#
# TRAIN_BATCHES and TRAIN_STEPS (default "128 512 4096" and 300) shorten the training section,
# to check the script on a machine without a GPU.
#
# Natively wgpu needs the Vulkan loader: where `ldconfig -p | grep libvulkan` is empty, carry
# the .deb files in .gl/ (see the device tool's README); they are unpacked here.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -d .gl ] && ! ldconfig -p | grep -q libvulkan; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
nde=${NDE:-./target/release/nde}
failed() { echo "{\"failed\": \"$1\", \"status\": $2}"; }
# What the adapter offers (shader-f16, cooperative matrices and their shapes), for the record.
timeout 60 "$nde" info --json || failed "nde info" $?
sections=${*:-sample train}
peak=--peak
for shape in "64 2" "128 3"; do
    [[ " $sections " == *" sample "* ]] || break
    read -r width depth <<<"$shape"
    for particles in 10000 100000 1000000; do
        common=(--particles "$particles" --nfe 20 --width "$width" --depth "$depth")
        for path in op-major interpreter; do
            timeout 120 "$nde" bench --backend gpu --gpu-path "$path" "${common[@]}" --repeats 3 --json ||
                failed "nde $path ${common[*]}" $?
        done
        modes=eager,graph
        [ "$particles" = 1000000 ] && modes=eager,graph,compile
        timeout 240 python3 bench/peer_torch.py "${common[@]}" --modes "$modes" --json $peak ||
            failed "peer_torch ${common[*]}" $?
        peak=
        timeout 120 python3 bench/peer_jax.py "${common[@]}" --json || failed "peer_jax ${common[*]}" $?
    done
done
for shape in "64 3" "128 3"; do
    [[ " $sections " == *" train "* ]] || break
    read -r width depth <<<"$shape"
    for batch in ${TRAIN_BATCHES:-128 512 4096}; do
        common=(--batch "$batch" --width "$width" --depth "$depth" --steps "${TRAIN_STEPS:-300}" --repeats 3)
        for readback in 64 1; do
            timeout 120 "$nde" bench train --backend gpu --steps-per-readback "$readback" "${common[@]}" --json ||
                failed "nde train gpu $readback ${common[*]}" $?
        done
        # The rows drawn on the host and uploaded, against the GPU's own draw above.
        timeout 120 "$nde" bench train --backend gpu --draw host "${common[@]}" --json ||
            failed "nde train gpu draw host ${common[*]}" $?
        timeout 120 "$nde" bench train --backend cpu "${common[@]}" --json || failed "nde train cpu ${common[*]}" $?
        timeout 120 python3 bench/peer_torch_train.py "${common[@]}" --json || failed "peer_torch_train ${common[*]}" $?
        timeout 120 python3 bench/peer_jax_train.py "${common[@]}" --json || failed "peer_jax_train ${common[*]}" $?
    done
done

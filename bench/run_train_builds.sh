#!/usr/bin/env bash
# Two builds of `nde` side by side on this machine's adapter (lavapipe here): GPU training
# steps per second at the sizes of docs/BENCHMARKS.md, then the CPU trainer of the second
# build. One JSON object per line, each with the build it came from.
#
#   bash bench/run_train_builds.sh OLD_NDE NEW_NDE > bench/results-DATE-train-builds.jsonl
#
# A build without --steps-per-readback (before 2026-12-04) reads back after every step; the
# new build runs once that way (1) and once in runs of 64 (its default).
set -uo pipefail
cd "$(dirname "$0")/.."
[ -f scripts/env.sh ] && source scripts/env.sh
old=${1:?the older nde binary}
new=${2:?the newer nde binary}
tag() { sed "s/^{/{\"build\":\"$1\",/"; }
for shape in "64 3 128" "64 3 512" "64 3 4096" "128 3 1024" "128 3 4096"; do
    read -r width depth batch <<<"$shape"
    common=(--batch "$batch" --width "$width" --depth "$depth" --steps 20 --repeats 2 --json)
    "$old" bench train --backend gpu "${common[@]}" 2>/dev/null | tag old
    "$new" bench train --backend gpu --steps-per-readback 1 "${common[@]}" 2>/dev/null | tag new
    "$new" bench train --backend gpu "${common[@]}" 2>/dev/null | tag new
    "$new" bench train --backend cpu "${common[@]}" 2>/dev/null | tag new
done

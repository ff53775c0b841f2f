#!/usr/bin/env bash
# Runs the test layers and prints each one's pass/fail/skip counts, then a summary.
# Exit status is non-zero if any layer failed (or, with CI=true, skipped a GPU test).
#
#   bash scripts/test.sh                 every layer: native fuzz shaders gpu wasm e2e
#   bash scripts/test.sh native gpu      just those
#
# Layers:
#   native   cargo test: the library's unit tests and tests/*.rs not claimed by a layer below
#   fuzz     tests/fuzz.rs: 10^5 generated inputs per parser (link, CSV, mixture, weights, CLI)
#   shaders  tests/shaders_validate.rs: every shaders/*.wgsl validated by naga
#   gpu      tests/gpu_*.rs: compute kernels through wgpu on Vulkan (lavapipe in CI)
#   wasm     wasm-pack test --headless --chrome: the core and WebGPU compute in Chromium
#   e2e      trunk build, then tests/e2e/e2e.mjs drives the page in headless Chromium
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

layers=("$@")
[ ${#layers[@]} -gt 0 ] || layers=(native fuzz shaders gpu wasm e2e)
logs=target/test-logs
mkdir -p "$logs"

declare -A passed failed skipped status
overall=0

# Sums libtest's "test result: ok. 3 passed; 1 failed; 0 ignored" lines of a log.
count_libtest() { # log -> sets p f i
    read -r p f i < <(grep -aE "test result: (ok|FAILED)\. [0-9]+ passed; [0-9]+ failed; [0-9]+ ignored" "$1" |
        sed -E 's/.*\. ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored.*/\1 \2 \3/' |
        awk '{p += $1; f += $2; i += $3} END {print p + 0, f + 0, i + 0}')
}

finish_layer() { # name exit-code passed failed skipped
    local name=$1 code=$2
    passed[$name]=$3 failed[$name]=$4 skipped[$name]=$5
    local verdict=ok
    if [ "$code" -ne 0 ] || [ "$4" -gt 0 ]; then
        verdict=FAILED
    elif [ "$3" -eq 0 ] && [ "$5" -eq 0 ]; then
        verdict="FAILED (no tests ran)"
    elif [ "$5" -gt 0 ] && [ "${CI:-}" = true ]; then
        verdict="FAILED (skipped in CI, where the GPU must be there)"
    elif [ "$5" -gt 0 ]; then
        verdict="SKIPPED in part (not counted as passed)"
    fi
    status[$name]=$verdict
    case "$verdict" in ok | SKIPPED*) ;; *) overall=1 ;; esac
    printf '\n\033[1m== layer %-8s %s: %d passed, %d failed, %d skipped (log: %s/%s.log)\033[0m\n\n' \
        "$name" "$verdict" "$3" "$4" "$5" "$logs" "$name"
}

# Integration test files that a dedicated layer runs; everything else is "native".
native_test_args() {
    local args=(--lib) file name
    for file in tests/*.rs; do
        name=$(basename "$file" .rs)
        case "$name" in shaders_validate | fuzz | gpu_* | web_*) continue ;; esac
        args+=(--test "$name")
    done
    echo "${args[@]}"
}

gpu_test_args() {
    local args=() file
    for file in tests/gpu_*.rs; do args+=(--test "$(basename "$file" .rs)"); done
    echo "${args[@]}"
}

run_native() {
    # shellcheck disable=SC2046
    cargo test $(native_test_args) 2>&1 | tee "$logs/native.log"
    local code=${PIPESTATUS[0]}
    count_libtest "$logs/native.log"
    finish_layer native "$code" "$p" "$f" 0
}

run_fuzz() {
    # --nocapture: each campaign prints its "fuzz: ..." counts line, gathered below.
    cargo test --test fuzz -- --nocapture 2>&1 | tee "$logs/fuzz.log"
    local code=${PIPESTATUS[0]}
    count_libtest "$logs/fuzz.log"
    finish_layer fuzz "$code" "$p" "$f" 0
    grep -a "^fuzz: " "$logs/fuzz.log" | sed 's/^/   /' > "$logs/fuzz-counts.txt" || true
}

run_shaders() {
    cargo test --test shaders_validate -- --nocapture 2>&1 | tee "$logs/shaders.log"
    local code=${PIPESTATUS[0]}
    count_libtest "$logs/shaders.log"
    finish_layer shaders "$code" "$p" "$f" 0
}

run_gpu() {
    # --nocapture so that a test's SKIPPED line reaches the log; a skip is not a pass.
    # shellcheck disable=SC2046
    cargo test $(gpu_test_args) -- --nocapture --test-threads=1 2>&1 | tee "$logs/gpu.log"
    local code=${PIPESTATUS[0]}
    count_libtest "$logs/gpu.log"
    local s
    s=$(grep -ac "^SKIPPED " "$logs/gpu.log")
    if [ "$s" -gt 0 ]; then
        printf '\033[1;33m!! %d GPU test(s) SKIPPED: no Vulkan adapter (apt-get install mesa-vulkan-drivers)\033[0m\n' "$s"
    fi
    finish_layer gpu "$code" "$((p - s))" "$f" "$s"
}

run_wasm() {
    # The numerical tests keep the page busy for tens of seconds; the runner's default
    # timeout (20 s) would call that a hang.
    WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-900} wasm-pack test --headless --chrome 2>&1 | tee "$logs/wasm.log"
    local code=${PIPESTATUS[0]}
    count_libtest "$logs/wasm.log"
    finish_layer wasm "$code" "$p" "$f" 0
}

run_e2e() {
    {
        trunk build --release --offline && node tests/e2e/e2e.mjs dist target/e2e
    } 2>&1 | tee "$logs/e2e.log"
    local code=${PIPESTATUS[0]}
    read -r p f < <(grep -aE "^e2e result: [0-9]+ passed; [0-9]+ failed" "$logs/e2e.log" |
        sed -E 's/e2e result: ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/' | tail -n 1)
    finish_layer e2e "$code" "${p:-0}" "${f:-0}" 0
}

for layer in "${layers[@]}"; do
    case "$layer" in
    native | fuzz | shaders | gpu | wasm | e2e) "run_$layer" ;;
    *)
        echo "test.sh: unknown layer '$layer'; choose from: native fuzz shaders gpu wasm e2e" >&2
        exit 2
        ;;
    esac
done

printf '\n\033[1mTest layers\033[0m\n'
printf '%-8s %7s %7s %8s  %s\n' layer passed failed skipped verdict
for layer in "${layers[@]}"; do
    printf '%-8s %7d %7d %8d  %s\n' "$layer" "${passed[$layer]}" "${failed[$layer]}" "${skipped[$layer]}" "${status[$layer]}"
done
if [ -s "$logs/fuzz-counts.txt" ]; then
    printf '\n\033[1mFuzz inputs\033[0m\n'
    cat "$logs/fuzz-counts.txt"
fi
[ "$overall" -eq 0 ] && echo "all layers passed" || echo "SOME LAYERS FAILED"
exit "$overall"

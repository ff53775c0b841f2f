#!/usr/bin/env bash
# Installs what building, serving and testing need, and skips whatever is already there at
# the right version, so a second run takes seconds. Needs only the Rust toolchain, root (or
# sudo), and the package registries by name: crates.io, Debian's apt, npm.
#
#   bash scripts/setup.sh          everything (what `make test` needs)
#   bash scripts/setup.sh serve    only what `make serve` needs
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

want=${1:-all}

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# The wasm-bindgen CLI must be exactly the version the crate is pinned to in Cargo.toml.
wasm_bindgen_version=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
[ -n "$wasm_bindgen_version" ] || { echo "setup: cannot find the wasm-bindgen pin (wasm-bindgen = \"=x.y.z\") in Cargo.toml" >&2; exit 1; }
trunk_version=0.21.14

# 1. Debian packages: Chromium and its driver (browser tests), Mesa's lavapipe (native GPU tests).
# fonts-dejavu-core: the font `nde compare --plot` draws its text with.
apt_packages=(mesa-vulkan-drivers fonts-dejavu-core)
[ "$want" = serve ] || apt_packages+=(chromium chromium-driver)
missing=()
for package in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
else
    say "Debian packages present: ${apt_packages[*]}"
fi

# 2. The wasm target.
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "rust target wasm32-unknown-unknown present"
else
    say "adding rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
fi

# 3. Cargo-installed tools, each at a fixed version. `--locked` first, as their authors
# tested them; if this registry mirror lacks a locked dependency (seen: webpki-roots 1.0.11
# for wasm-bindgen-cli 0.2.130), resolve again without the lock file.
cargo_tool() { # binary, version-prefix-it-must-print, crate, version (empty: latest)
    local binary=$1 expect=$2 crate=$3 version=$4
    if command -v "$binary" >/dev/null && "$binary" --version 2>/dev/null | grep -q "$expect"; then
        say "$binary present: $("$binary" --version | head -n 1)"
        return
    fi
    local args=(--locked "$crate")
    [ -n "$version" ] && args+=(--version "$version")
    say "cargo install ${args[*]} (several minutes on 2 cores)"
    if ! cargo install "${args[@]}"; then
        say "the locked build of $crate failed; retrying with freshly resolved dependencies"
        cargo install "${args[@]:1}"
    fi
}
cargo_tool wasm-bindgen "wasm-bindgen $wasm_bindgen_version" wasm-bindgen-cli "$wasm_bindgen_version"
cargo_tool trunk "trunk $trunk_version" trunk "$trunk_version"
if [ "$want" != serve ]; then
    cargo_tool wasm-pack "wasm-pack" wasm-pack ""
    # 4. playwright-core for the end-to-end layer (it drives Debian's Chromium; no browser download).
    if [ -f tests/e2e/node_modules/playwright-core/package.json ] &&
        [ tests/e2e/node_modules/.package-lock.json -nt tests/e2e/package-lock.json ]; then
        say "playwright-core present"
    else
        say "npm ci in tests/e2e"
        (cd tests/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
    fi
fi
say "done"

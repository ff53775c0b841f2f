# Shared environment for the scripts: cargo's tools on PATH, a runtime dir for Mesa
# (it warns without one), and the Chromium driver for wasm-pack.
export PATH="$HOME/.cargo/bin:$PATH"
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "${XDG_RUNTIME_DIR}" ]; then
    export XDG_RUNTIME_DIR="/tmp/xdg-runtime-$(id -u)"
    mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
fi
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"

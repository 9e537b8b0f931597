#!/usr/bin/env bash
# Installs what `make run` and `make test` need, idempotently: the Rust
# components and the cargo tools. Safe to run again; does nothing when all is
# in place. Usage: scripts/setup.sh [run|test]
set -euo pipefail
purpose=${1:-test}

say() { printf 'setup: %s\n' "$*" >&2; }

if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        say "installing Rust with rustup (stable, minimal profile)"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
fi

# A C toolchain builds the -sys crates (and libFuzzer for the fuzz smoke run).
if ! command -v cc >/dev/null 2>&1 || ! command -v c++ >/dev/null 2>&1; then
    say "installing a C/C++ toolchain (Debian build-essential)"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq build-essential; else sudo apt-get update -qq && sudo apt-get install -y -qq build-essential; fi
fi

[ "$purpose" = run ] && exit 0

if command -v rustup >/dev/null 2>&1; then
    for component in rustfmt clippy; do
        if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
            say "adding rustup component $component"
            rustup component add "$component"
        fi
    done
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    say "installing cargo-fuzz (once, about a minute)"
    cargo install cargo-fuzz --locked --quiet
fi

# The Kafka-protocol broker the integration tests run against (about ten
# minutes to build, once; it stays in ~/.cargo/bin).
if ! command -v tansu >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/tansu" ]; then
    say "installing tansu, the Kafka-protocol test broker (once, about ten minutes)"
    cargo install tansu --locked --features libsql --quiet
fi

# The Mbed TLS test peer (DTLS Connection ID interop, crates/lwm2m-dtls/tests-peer)
# compiles Mbed TLS from source through bindgen: it needs clang, libclang,
# cmake and ninja.
if ! command -v cmake >/dev/null 2>&1 || ! command -v ninja >/dev/null 2>&1 \
    || ! command -v clang >/dev/null 2>&1 || ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1; then
    say "installing clang, libclang-dev, cmake and ninja-build (the Mbed TLS test peer)"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq clang libclang-dev cmake ninja-build; else sudo apt-get update -qq && sudo apt-get install -y -qq clang libclang-dev cmake ninja-build; fi
fi

# Node.js and npm run the independent LwM2M client (lwm2m-node-lib) in the
# interop tests; the tests install the npm package themselves.
if ! command -v npm >/dev/null 2>&1; then
    say "installing Node.js and npm (Debian packages)"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq nodejs npm; else sudo apt-get update -qq && sudo apt-get install -y -qq nodejs npm; fi
fi

# libcoap's command-line client forges raw CoAP in the transport tests.
if ! command -v coap-client-notls >/dev/null 2>&1; then
    say "installing libcoap3-bin (coap-client-notls)"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq libcoap3-bin; else sudo apt-get update -qq && sudo apt-get install -y -qq libcoap3-bin; fi
fi


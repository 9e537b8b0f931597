#!/usr/bin/env bash
# The protocol core crates must stay free of IO runtimes: no tokio, mio,
# socket or async-runtime crate in their normal dependency tree.
set -euo pipefail
status=0
for crate in lwm2m-core lwm2m-coap lwm2m-dtls; do
    tree=$(cargo tree -p "$crate" -e normal --prefix none --quiet)
    bad=$(printf '%s\n' "$tree" | grep -E '^(tokio|mio|async-std|smol|socket2|futures-io|tokio-util) ' | sort -u || true)
    if [ -n "$bad" ]; then
        printf 'sans-IO violation: %s depends on\n%s\n' "$crate" "$bad" >&2
        status=1
    else
        printf 'sans-IO check: %s has no IO runtime in its dependency tree (%s crates)\n' \
            "$crate" "$(printf '%s\n' "$tree" | sort -u | wc -l)"
    fi
done
exit $status

#!/usr/bin/env bash
# Runs the benchmarks and writes bench/results/<date>-<git-sha>.json and a
# Markdown table beside it. Each benchmark checks its own correctness first
# and exits non-zero instead of reporting a number for broken work.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
sha=$(git rev-parse --short HEAD 2>/dev/null || echo nogit)
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
out="bench/results/${stamp}-${sha}.json"
lines=$(mktemp)
trap 'rm -f "$lines"' EXIT

cargo bench -p lwm2m-core --bench codecs --quiet >"$lines"

{
    printf '{\n  "date": "%s",\n  "git_sha": "%s",\n  "cores": %s,\n  "load_average": "%s",\n  "results": [\n' \
        "$stamp" "$sha" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
    sed '$!s/$/,/; s/^/    /' "$lines"
    printf '  ]\n}\n'
} >"$out"

{
    echo "| format | payload bytes | encode ns | decode ns |"
    echo "|---|---|---|---|"
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print("| %s (%d) | %d | %.0f | %.0f |" % (r["format"], r["code"], r["payload_bytes"], r["encode_ns"], r["decode_ns"]))
' "$lines"
} >"${out%.json}.md"
cat "${out%.json}.md"
echo "results: $out"

#!/usr/bin/env bash
# Runs each fuzz target (all, or those named) to RUNS executions (default 10^6) with
# libFuzzer in one process (no -jobs: that forks and logs to ./fuzz-N.log), nice'd; grown corpora go to
# fuzz/corpus-run/<target> (not committed), crashes to fuzz/artifacts/<target>.
# Prints one summary line per target. Needs cargo-fuzz; works on stable Rust through
# RUSTC_BOOTSTRAP=1 (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
RUNS=${RUNS:-1000000}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(coco_json rle yolo_labels zip_import image_decode api_body)
fi
max_len() {
    case $1 in
        image_decode | zip_import) echo 65536 ;;
        *) echo 16384 ;;
    esac
}
export RUSTC_BOOTSTRAP=1
# Build once (all targets), then run the binaries directly so every target tests the
# same build.
if [ "${BUILD:-1}" = 1 ]; then
    nice -n 10 cargo fuzz build -s none -a
fi
bin=fuzz/target/x86_64-unknown-linux-gnu/release
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus-run/$t" "fuzz/artifacts/$t" "fuzz/logs"
    log="fuzz/logs/$t.log"
    start=$(date +%s)
    set +e
    nice -n 10 "$bin/$t" "$root/fuzz/corpus-run/$t" "$root/fuzz/corpus/$t" \
        -runs="$RUNS" -max_len="$(max_len "$t")" -timeout=10 \
        -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$root/fuzz/artifacts/$t/" >"$log" 2>&1
    rc=$?
    set -e
    secs=$(($(date +%s) - start))
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    rss=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    corpus=$(find "fuzz/corpus-run/$t" -type f | wc -l)
    echo "$t rc=$rc execs=$execs exec/s=$rate wall_s=$secs peak_rss_mb=$rss corpus=$corpus $(date -u +%F)"
done

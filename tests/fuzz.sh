#!/usr/bin/env bash
# The fuzz step of tests/run.sh: builds every target in fuzz/ with cargo-fuzz (address sanitizer,
# debug assertions; RUSTC_BOOTSTRAP=1 lets the stable toolchain take cargo-fuzz's nightly flags)
# and runs each for INVSYNC_FUZZ_SECONDS seconds (default 30), INVSYNC_FUZZ_JOBS at a time
# (default 2). Seeds come from fuzz/seeds/; what a run adds goes to fuzz/corpus/<target>/ (not in
# git). A crash, a leak, a timeout or running out of memory fails the step, and the input that did
# it is kept in fuzz/artifacts/<target>/ and printed with the command that replays it.
#
#   bash tests/fuzz.sh                      # every target
#   bash tests/fuzz.sh rcon_packet          # some targets
#   INVSYNC_FUZZ_SECONDS=240 bash tests/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${INVSYNC_FUZZ_SECONDS:-30}
jobs=${INVSYNC_FUZZ_JOBS:-2}
export RUSTC_BOOTSTRAP=1

# The seeds each target starts from (targets that read frames share them).
seeds_of() {
    case $1 in
        frame_parse | frame_parse_repaired) echo fuzz/seeds/frame ;;
        reassembler | reassembler_repaired) echo fuzz/seeds/stream ;;
        *) if [[ -d fuzz/seeds/$1 ]]; then echo "fuzz/seeds/$1"; fi ;;
    esac
}

cargo fuzz build
triple=$(rustc -vV | sed -n 's/^host: //p')
bin=fuzz/target/$triple/release
if (($#)); then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# Runs one target; prints one line, and on failure the end of its log and the saved input.
run_target() {
    local t=$1 artifacts=fuzz/artifacts/$1/ rc=0
    mkdir -p "fuzz/corpus/$t" "$artifacts"
    # shellcheck disable=SC2046 # the seed directory, when there is one, is its own argument
    "$bin/$t" "fuzz/corpus/$t" $(seeds_of "$t") -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$artifacts" -print_final_stats=1 \
        >"$logs/$t.log" 2>&1 || rc=$?
    local runs
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log")
    if ((rc == 0)); then
        printf '  %-22s %10s runs in %ss, nothing found\n' "$t" "${runs:-?}" "$seconds"
        return 0
    fi
    printf '  %-22s FAILED (exit %s) after %s runs; its log ends:\n' "$t" "$rc" "${runs:-?}"
    tail -n 40 "$logs/$t.log" | sed 's/^/    | /'
    local input
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$logs/$t.log" | tail -n 1)
    if [[ -n $input ]]; then
        echo "    the input is saved in $input"
        echo "    replay: RUSTC_BOOTSTRAP=1 cargo fuzz run $t $input"
    fi
    return 1
}

echo "running ${#targets[@]} fuzz targets for ${seconds}s each, $jobs at a time"
failed=0
running=0
for t in "${targets[@]}"; do
    if ((running >= jobs)); then
        wait -n || failed=1
        running=$((running - 1))
    fi
    run_target "$t" &
    running=$((running + 1))
done
while ((running > 0)); do
    wait -n || failed=1
    running=$((running - 1))
done
if ((failed)); then
    echo "a fuzz target found a problem (see above)" >&2
    exit 1
fi

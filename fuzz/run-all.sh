#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60) and prints a summary:
# executions, executions per second, coverage, features, corpus size, peak RSS and crashes.
#
#   fuzz/run-all.sh 600            # 10 minutes per target
#   TARGETS="gossip_rpc quic_endpoint" fuzz/run-all.sh 120
#
# Needs the nightly toolchain (`cargo +nightly`) and cargo-fuzz (installed here if missing).
# All targets are built once up front and the binaries are copied to $WORK/bin, so editing
# the source while a long batch runs does not change (or break) the targets under test.
# Seeds come from fuzz/corpus/<target> (kept small, committed); the growing working corpus
# lives in $WORK (default /tmp/leanp2p-fuzz) so the repository does not bloat. A crash leaves
# its reproducer in fuzz/artifacts/<target>/; after the fix, copy it to
# fuzz/regressions/<target>/ where the stable test `cargo test -p leanp2p-fuzz` replays it.
set -uo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

secs="${1:-60}"
work="${WORK:-/tmp/leanp2p-fuzz}"
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "run-all.sh: the nightly toolchain is required (cargo +nightly)" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked >&2 || { echo "run-all.sh: cannot install cargo-fuzz" >&2; exit 2; }
fi
targets="${TARGETS:-$(ls fuzz/fuzz_targets | sed 's/\.rs$//')}"

# One build for every target; snapshot the binaries this batch will run.
triple="x86_64-unknown-linux-gnu"
cargo +nightly fuzz build --features libfuzzer >&2 || { echo "run-all.sh: build failed" >&2; exit 2; }
bin="$work/bin.$$"
mkdir -p "$bin"
for t in $targets; do
  cp "target/$triple/release/$t" "$bin/$t" || { echo "run-all.sh: no binary for $t" >&2; exit 2; }
done
echo "run-all.sh: built $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo '+dirty'), ${secs}s per target: $targets" >&2

# Last number after `key` (e.g. "cov: 123") in a libFuzzer log.
last_num() { grep -o "$1 *[0-9]*" "$2" | tail -1 | grep -o '[0-9]*$'; }

status=0
summary=()
for t in $targets; do
  mkdir -p "$work/$t" "fuzz/artifacts/$t"
  log="$work/$t.log"
  start=$(date -u +%H:%M:%S)
  # The committed seeds are read as a second corpus directory; new units go to $work/$t.
  (cd "$work" && "$bin/$t" "$work/$t" "$repo/fuzz/corpus/$t" \
    -artifact_prefix="$repo/fuzz/artifacts/$t/" \
    -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1)
  rc=$?
  execs=$(last_num 'stat::number_of_executed_units:' "$log")
  rate=$(last_num 'stat::average_exec_per_sec:' "$log")
  rss=$(last_num 'stat::peak_rss_mb:' "$log")
  cov=$(last_num 'cov:' "$log")
  ft=$(last_num 'ft:' "$log")
  corpus=$(ls "$work/$t" | wc -l)
  crash="no"
  if [ $rc -ne 0 ]; then
    crash="YES (exit $rc; see $log and fuzz/artifacts/$t)"
    status=1
  fi
  line="$(printf '%-22s start=%s execs=%-9s exec/s=%-6s cov=%-5s ft=%-6s corpus=%-5s rss=%sMB crash=%s' \
    "$t" "$start" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "${rss:-?}" "$crash")"
  echo "$line" >&2
  summary+=("$line")
done
rm -rf "$bin"

echo "== fuzz summary (${secs}s per target)"
printf '%s\n' "${summary[@]}"
exit $status

#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60) and prints a summary:
# executions, coverage, corpus size and crashes per target.
#
#   fuzz/run-all.sh 600            # 10 minutes per target
#   TARGETS="gossip_rpc quic_endpoint" fuzz/run-all.sh 120
#
# Needs the nightly toolchain (`cargo +nightly`) and cargo-fuzz (installed here if missing).
# Seeds come from fuzz/corpus/<target> (kept small, committed); the growing working corpus
# lives in $WORK (default /tmp/leanp2p-fuzz) so the repository does not bloat. A crash leaves
# its reproducer in fuzz/artifacts/<target>/; after the fix, copy it to
# fuzz/regressions/<target>/ where the stable test `cargo test -p leanp2p-fuzz` replays it.
set -uo pipefail
cd "$(dirname "$0")/.."

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

status=0
summary=()
for t in $targets; do
  mkdir -p "$work/$t" "fuzz/artifacts/$t"
  cp -n fuzz/corpus/"$t"/* "$work/$t/" 2>/dev/null || true
  log="$work/$t.log"
  cargo +nightly fuzz run --features libfuzzer "$t" "$work/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  corpus=$(ls "$work/$t" | wc -l)
  crash="no"
  if [ $rc -ne 0 ]; then crash="YES (exit $rc; see $log and fuzz/artifacts/$t)"; status=1; fi
  summary+=("$(printf '%-24s execs=%-10s cov=%-6s ft=%-6s corpus=%-6s crash=%s' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "$crash")")
done

echo "== fuzz summary (${secs}s per target)"
printf '%s\n' "${summary[@]}"
exit $status

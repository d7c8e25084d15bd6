#!/usr/bin/env bash
# leanp2p against its baselines on loopback, in one run:
#   bulk QUIC streams        leanp2p perf  vs  quinn-perf          (MB/s)
#   gossip 300 KiB / 1 KiB   leanp2p perf  vs  libp2p-gossip-perf  (msgs/s, peak RSS)
#   node pacing deviation and 1,000-node simulator speed from the criterion benches.
# Each workload runs RUNS times per implementation; the table shows medians and the
# ratio against each target. Needs only the Rust toolchain (cargo); reads the JSON with
# jq or python3 when present, else with sed. See benches/README.md.
#
# Usage: benches/compare.sh [--quick] [--no-build] [--no-benches] [--runs N]
# Environment (all optional):
#   RUNS                   runs per workload and implementation (default 3; --quick: 1)
#   BULK_MIB, BULK_STREAMS total MiB per bulk run (256) and stream counts ("1 8")
#   BIG_SIZE, BIG_COUNT    large gossip: bytes per message (307200) and messages (200)
#   SMALL_SIZE, SMALL_COUNT small gossip: bytes per message (1024) and messages (20000)
#   RUN_SECS               per-run time limit handed to every perf binary (120)
#   BASELINE_GOSSIP_FLAGS  payload flags for libp2p-gossip-perf (default "--encoding raw
#                          --fill zeros": the bytes `leanp2p perf` publishes; use
#                          "--encoding snappy --fill random" for Ethereum-shaped payloads)
#   LEANP2P_BIN            use this leanp2p binary instead of building one
#   BASELINE_BIN_DIR       use quinn-perf / libp2p-gossip-perf from here instead of building
#   CARGO_TARGET_DIR       target dir for both builds (default: target/ and
#                          benches/baseline/target/)
#   OUT_DIR                where raw JSON lines and logs go (default: a fresh temp dir)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-3}
BULK_MIB=${BULK_MIB:-256}
BULK_STREAMS=${BULK_STREAMS:-"1 8"}
BIG_SIZE=${BIG_SIZE:-307200}
BIG_COUNT=${BIG_COUNT:-200}
SMALL_SIZE=${SMALL_SIZE:-1024}
SMALL_COUNT=${SMALL_COUNT:-20000}
RUN_SECS=${RUN_SECS:-120}
BASELINE_GOSSIP_FLAGS=${BASELINE_GOSSIP_FLAGS:---encoding raw --fill zeros}
BUILD=1
BENCHES=1

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) RUNS=1; BULK_MIB=64; BIG_COUNT=50; SMALL_COUNT=5000 ;;
    --no-build) BUILD=0 ;;
    --no-benches) BENCHES=0 ;;
    --runs) RUNS=$2; shift ;;
    -h|--help) awk 'NR > 1 && /^set -euo/ { exit } NR > 1' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

OUT_DIR=${OUT_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/leanp2p-compare.XXXXXX")}
mkdir -p "$OUT_DIR"
MAIN_TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BASE_TARGET=${CARGO_TARGET_DIR:-$ROOT/benches/baseline/target}

log() { echo "compare: $*" >&2; }

# ----- JSON field of a one-line object: jq, else python3, else sed (flat numbers) -----
# COMPARE_JSON=jq|python3|sed forces one (to test the fallbacks).
JSON_TOOL=${COMPARE_JSON:-}
if [ -z "$JSON_TOOL" ]; then
  for t in jq python3 sed; do
    if command -v "$t" >/dev/null 2>&1; then JSON_TOOL=$t; break; fi
  done
fi
if [ "$JSON_TOOL" = jq ]; then
  field() { jq -r --arg f "$2" '.[$f] // empty | tostring' <<<"$1" 2>/dev/null || true; }
elif [ "$JSON_TOOL" = python3 ]; then
  field() {
    python3 -c 'import json,sys
v=json.loads(sys.argv[1]).get(sys.argv[2])
print("" if v is None else v)' "$1" "$2" 2>/dev/null || true
  }
else
  field() { sed -n "s/.*\"$2\"[[:space:]]*:[[:space:]]*\(-\{0,1\}[0-9][0-9.eE+-]*\).*/\1/p" <<<"$1" | head -n1; }
fi

# Median of the numbers on stdin (blank lines ignored); empty if none.
median() { { grep -E '^-?[0-9]' || true; } | sort -g | awk '{v[NR]=$1} END {if (NR) print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

# ----- build -----
if [ -z "${LEANP2P_BIN:-}" ]; then
  LEANP2P_BIN=$MAIN_TARGET/release/leanp2p
  if [ "$BUILD" = 1 ]; then
    log "building leanp2p (release) into $MAIN_TARGET"
    (cd "$ROOT" && CARGO_TARGET_DIR=$MAIN_TARGET cargo build --release -p leanp2p-cli) >&2
  fi
fi
if [ -z "${BASELINE_BIN_DIR:-}" ]; then
  BASELINE_BIN_DIR=$BASE_TARGET/release
  if [ "$BUILD" = 1 ]; then
    # The baselines are their own workspace. Without a lock of their own they start from
    # the root lock, so rust-libp2p and quinn resolve to the versions interop tests use.
    [ -f "$ROOT/benches/baseline/Cargo.lock" ] || cp "$ROOT/Cargo.lock" "$ROOT/benches/baseline/Cargo.lock"
    log "building the baselines (release) into $BASE_TARGET"
    (cd "$ROOT/benches/baseline" && CARGO_TARGET_DIR=$BASE_TARGET cargo build --release) >&2
  fi
fi
for bin in "$LEANP2P_BIN" "$BASELINE_BIN_DIR/quinn-perf" "$BASELINE_BIN_DIR/libp2p-gossip-perf"; do
  [ -x "$bin" ] || { log "missing binary $bin (build failed, or --no-build without one)"; exit 1; }
done
if ! "$LEANP2P_BIN" perf --help >/dev/null 2>&1; then
  log "warning: '$LEANP2P_BIN perf' does not answer --help; its runs will likely fail"
fi

# ----- runs -----
# run NAME CMD...: RUNS times; each run's last JSON line goes to $OUT_DIR/NAME.jsonl.
run() {
  local name=$1; shift
  : >"$OUT_DIR/$name.jsonl"
  local i line
  for i in $(seq 1 "$RUNS"); do
    log "$name run $i/$RUNS: $*"
    if "$@" --run-secs "$RUN_SECS" >"$OUT_DIR/$name.$i.out" 2>"$OUT_DIR/$name.$i.err"; then :; else
      log "  exit $? (stderr: $OUT_DIR/$name.$i.err)"
    fi
    line=$(grep '^{' "$OUT_DIR/$name.$i.out" | tail -n1 || true)
    if [ -n "$line" ]; then echo "$line" >>"$OUT_DIR/$name.jsonl"; fi
  done
}

# med NAME FIELD: median of FIELD over NAME's runs.
med() {
  local line
  while IFS= read -r line; do field "$line" "$2"; done <"$OUT_DIR/$1.jsonl" | median
}

for k in $BULK_STREAMS; do
  run "ours_bulk_$k" "$LEANP2P_BIN" perf --workload bulk --streams "$k" --total-mib "$BULK_MIB"
  run "quinn_bulk_$k" "$BASELINE_BIN_DIR/quinn-perf" --workload bulk --streams "$k" --total-mib "$BULK_MIB"
done
run ours_gossip_big "$LEANP2P_BIN" perf --workload gossip --size "$BIG_SIZE" --count "$BIG_COUNT"
# shellcheck disable=SC2086 # BASELINE_GOSSIP_FLAGS is a list of flags
run libp2p_gossip_big "$BASELINE_BIN_DIR/libp2p-gossip-perf" --workload gossip --size "$BIG_SIZE" --count "$BIG_COUNT" $BASELINE_GOSSIP_FLAGS
run ours_gossip_small "$LEANP2P_BIN" perf --workload gossip --size "$SMALL_SIZE" --count "$SMALL_COUNT"
# shellcheck disable=SC2086
run libp2p_gossip_small "$BASELINE_BIN_DIR/libp2p-gossip-perf" --workload gossip --size "$SMALL_SIZE" --count "$SMALL_COUNT" $BASELINE_GOSSIP_FLAGS

# ----- criterion benches: pacing deviation, 1,000-node sim speed -----
PACING="n/a"; SIM1000="n/a"; SIM100="n/a"
if [ "$BENCHES" = 1 ]; then
  log "pacing bench (--quick)"
  if (cd "$ROOT" && CARGO_TARGET_DIR=$MAIN_TARGET cargo bench -p leanp2p-benches --bench pacing -- --quick) \
      >"$OUT_DIR/pacing.out" 2>"$OUT_DIR/pacing.err"; then
    # "pacing 100 Mbit/s, burst 64 KiB: achieved 99.998 Mbit/s (-0.002% vs configured), ..."
    PACING=$(sed -n 's/^pacing \([0-9]*\) Mbit\/s.*(\([-+0-9.]*%\) vs configured).*/\1 Mbit\/s \2/p' "$OUT_DIR/pacing.out" | paste -sd',' - | sed 's/,/, /g')
    [ -n "$PACING" ] || PACING="n/a"
  else
    log "  pacing bench failed ($OUT_DIR/pacing.err)"
  fi
  log "sim_scale bench (--quick; 1,000 nodes take minutes)"
  if (cd "$ROOT" && CARGO_TARGET_DIR=$MAIN_TARGET cargo bench -p leanp2p-benches --bench sim_scale -- --quick) \
      >"$OUT_DIR/sim_scale.out" 2>"$OUT_DIR/sim_scale.err"; then
    # "sim_scale nodes=1000: virtual_s_per_wall_s=0.0123 virtual_s_per_cpu_s=0.0456 (...)"
    sim_speed() {
      sed -n "s/^sim_scale nodes=$1: virtual_s_per_wall_s=\([0-9.]*\) virtual_s_per_cpu_s=\([0-9.a-z/]*\).*/\1 per wall s, \2 per CPU s/p" \
        "$OUT_DIR/sim_scale.out" | tail -n1
    }
    SIM100=$(sim_speed 100); SIM1000=$(sim_speed 1000)
  else
    log "  sim_scale bench failed ($OUT_DIR/sim_scale.err)"
  fi
fi

# ----- table -----
# row LABEL OURS THEIRS UNIT TARGET_OP TARGET: ratio = ours / theirs.
row() {
  local label=$1 ours=$2 theirs=$3 unit=$4 op=$5 target=$6 ratio verdict
  if [ -n "$ours" ] && [ -n "$theirs" ]; then
    ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }')
    verdict=$(awk -v r="$ratio" -v t="$target" -v op="$op" 'BEGIN {
      if (r == "n/a") print "n/a"; else if (op == ">=") print (r + 0 >= t ? "MET" : "missed"); else print (r + 0 <= t ? "MET" : "missed") }')
  else
    ratio="n/a"; verdict="n/a"
  fi
  printf '| %-38s | %12s | %12s | %-7s | %6s | %-8s | %-7s |\n' \
    "$label" "${ours:-n/a}" "${theirs:-n/a}" "$unit" "$ratio" "$op $target" "$verdict"
}

echo
echo "leanp2p vs baselines: medians of $RUNS run(s) each, loopback 127.0.0.1 ($(nproc 2>/dev/null || echo ?) cores)."
echo "Raw JSON and logs: $OUT_DIR; rust-libp2p payload flags: $BASELINE_GOSSIP_FLAGS"
echo
printf '| %-38s | %12s | %12s | %-7s | %6s | %-8s | %-7s |\n' metric leanp2p baseline unit ratio target verdict
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..40})" "$(printf -- '-%.0s' {1..14})" \
  "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..9})" "$(printf -- '-%.0s' {1..8})" \
  "$(printf -- '-%.0s' {1..10})" "$(printf -- '-%.0s' {1..9})"
for k in $BULK_STREAMS; do
  row "bulk ${BULK_MIB} MiB, $k stream(s) vs quinn" "$(med "ours_bulk_$k" mb_per_s)" "$(med "quinn_bulk_$k" mb_per_s)" MB/s ">=" 1.25
done
row "gossip ${BIG_SIZE} B x ${BIG_COUNT} vs rust-libp2p" "$(med ours_gossip_big msgs_per_s)" "$(med libp2p_gossip_big msgs_per_s)" msgs/s ">=" 3
row "gossip ${SMALL_SIZE} B x ${SMALL_COUNT} vs rust-libp2p" "$(med ours_gossip_small msgs_per_s)" "$(med libp2p_gossip_small msgs_per_s)" msgs/s ">=" 3
row "peak RSS, gossip ${BIG_SIZE} B" "$(med ours_gossip_big max_rss_kib)" "$(med libp2p_gossip_big max_rss_kib)" KiB "<=" 0.5
row "peak RSS, gossip ${SMALL_SIZE} B" "$(med ours_gossip_small max_rss_kib)" "$(med libp2p_gossip_small max_rss_kib)" KiB "<=" 0.5
echo
echo "Informational (no target):"
for k in $BULK_STREAMS; do
  echo "  bulk $k stream(s): cpu_s leanp2p $(med "ours_bulk_$k" cpu_s) / quinn $(med "quinn_bulk_$k" cpu_s);" \
       "peak RSS KiB leanp2p $(med "ours_bulk_$k" max_rss_kib) / quinn $(med "quinn_bulk_$k" max_rss_kib)"
done
echo "  gossip ${BIG_SIZE} B: cpu_s leanp2p $(med ours_gossip_big cpu_s) / rust-libp2p $(med libp2p_gossip_big cpu_s);" \
     "MB/s leanp2p $(med ours_gossip_big mb_per_s) / rust-libp2p $(med libp2p_gossip_big mb_per_s)"
echo "  gossip ${SMALL_SIZE} B: cpu_s leanp2p $(med ours_gossip_small cpu_s) / rust-libp2p $(med libp2p_gossip_small cpu_s)"
echo "  pacing deviation from configured rate (criterion pacing bench): $PACING"
echo "  simulator speed in virtual s (sim_scale bench): 100 nodes ${SIM100:-n/a}; 1000 nodes ${SIM1000:-n/a}"
echo
echo "Per CPU second (less sensitive to a busy machine than wall-clock rates; ratio = ours / baseline):"
per_cpu() { # NAME FIELD: median over runs of FIELD / cpu_s
  local line v c
  while IFS= read -r line; do
    v=$(field "$line" "$2"); c=$(field "$line" cpu_s)
    if [ -n "$v" ] && [ -n "$c" ]; then awk -v v="$v" -v c="$c" 'BEGIN { if (c > 0) printf "%.3f\n", v / c / 1e6 }'; fi
  done <"$OUT_DIR/$1.jsonl" | median
}
ratio() { if [ -n "$1" ] && [ -n "$2" ]; then awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; else echo n/a; fi; }
for k in $BULK_STREAMS; do
  a=$(per_cpu "ours_bulk_$k" bytes); b=$(per_cpu "quinn_bulk_$k" bytes)
  echo "  bulk $k stream(s): MB per CPU s leanp2p ${a:-n/a} / quinn ${b:-n/a} = $(ratio "$a" "$b")"
done
for w in big small; do
  a=$(per_cpu "ours_gossip_$w" bytes); b=$(per_cpu "libp2p_gossip_$w" bytes)
  echo "  gossip $w: payload MB per CPU s leanp2p ${a:-n/a} / rust-libp2p ${b:-n/a} = $(ratio "$a" "$b")"
done
echo
echo "The machine may be shared and noisy: compare runs made on the same machine at the same time."

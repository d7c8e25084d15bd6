#!/usr/bin/env bash
# leanp2p against its baselines on loopback, in one run, every ratio of issue 17 with its
# goal and verdict:
#   bulk QUIC streams         leanp2p perf  vs  quinn-perf          (MB/s)
#   gossip 300 KiB / 1 KiB    leanp2p perf  vs  libp2p-gossip-perf  (msgs/s, CPU per byte,
#                                                                    peak RSS)
#   two-process gossip        2 x leanp2p node  vs  2 x libp2p-gossip-node (msgs/s,
#                             delivered/published, receiver CPU per byte, receiver peak RSS)
#   pacing on real sockets    leanp2p perf --pace-mbit 100 / 1000 (deviation, burst),
#                             beside the criterion pacing bench (simulated clock)
#   simulator speed           sim_scale bench (virtual s per wall s at 1,000 nodes)
#   lossy links (--with-loss) leanp2p sim --nodes 50 --loss 0.2 --virtual-secs 60 (delivery)
# Each workload runs RUNS times per implementation; the table shows medians and the
# ratio against each target. Needs only the Rust toolchain (cargo); reads the JSON with
# jq or python3 when present, else with sed. See benches/README.md.
#
# Usage: benches/compare.sh [--quick] [--no-build] [--no-benches] [--with-loss] [--runs N]
#   --quick       1 run each, smaller workloads
#   --no-build    use the binaries already built
#   --no-benches  skip the criterion benches (pacing on a simulated clock, sim_scale)
#   --with-loss   also run the lossy-link simulation (about 2 minutes)
# Environment (all optional):
#   RUNS                   runs per workload and implementation (default 3; --quick: 1)
#   BULK_MIB, BULK_STREAMS total MiB per bulk run (256) and stream counts ("1 8")
#   BIG_SIZE, BIG_COUNT    large gossip: bytes per message (307200) and messages (200)
#   SMALL_SIZE, SMALL_COUNT small gossip: bytes per message (1024) and messages (20000)
#   NODE_BIG_COUNT, NODE_SMALL_COUNT  two-process run: messages of BIG_SIZE (200) and
#                          SMALL_SIZE (20000) bytes the dialer publishes
#   PACE_MBITS, PACE_MIB   pacing runs: rates in Mbit/s ("100 1000") and MiB per run (64)
#   LOSS_NODES, LOSS_SECS  lossy-link run: nodes (50) and virtual seconds (60)
#   RUN_SECS               per-run time limit handed to every perf binary and node (120)
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
NODE_BIG_COUNT=${NODE_BIG_COUNT:-200}
NODE_SMALL_COUNT=${NODE_SMALL_COUNT:-20000}
PACE_MBITS=${PACE_MBITS:-"100 1000"}
PACE_MIB=${PACE_MIB:-64}
LOSS_NODES=${LOSS_NODES:-50}
LOSS_SECS=${LOSS_SECS:-60}
RUN_SECS=${RUN_SECS:-120}
BASELINE_GOSSIP_FLAGS=${BASELINE_GOSSIP_FLAGS:---encoding raw --fill zeros}
BUILD=1
BENCHES=1
WITH_LOSS=0

while [ $# -gt 0 ]; do
  case "$1" in
    # The two-process run keeps the issue's counts (200 x 300 KiB, 20,000 x 1 KiB): they are
    # the issue's numbers and take seconds; the pacing runs keep 64 MiB (5 s at 100 Mbit/s).
    --quick) RUNS=1; BULK_MIB=64; BIG_COUNT=50; SMALL_COUNT=5000 ;;
    --no-build) BUILD=0 ;;
    --no-benches) BENCHES=0 ;;
    --with-loss) WITH_LOSS=1 ;;
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
# FIELD may be a dotted path into nested objects (`pacing.deviation_pct`). The sed fallback
# matches the last component only: its first occurrence in the line, or its last for a path
# through `sender.` (the only nested object that repeats its parent's names, and comes last).
if [ "$JSON_TOOL" = jq ]; then
  field() { jq -r --arg f "$2" 'getpath($f | split(".")) | if . == null then empty else tostring end' <<<"$1" 2>/dev/null || true; }
elif [ "$JSON_TOOL" = python3 ]; then
  field() {
    python3 -c 'import json,sys
v=json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    v=v.get(k) if isinstance(v, dict) else None
print("" if v is None else (str(v).lower() if isinstance(v, bool) else v))' "$1" "$2" 2>/dev/null || true
  }
else
  field() {
    local key=${2##*.} pick=1
    case "$2" in *sender.*) pick=0 ;; esac
    { grep -o "\"$key\"[[:space:]]*:[[:space:]]*\(-\{0,1\}[0-9][0-9.eE+-]*\|true\|false\)" <<<"$1" || true; } |
      awk -v first="$pick" 'first && NR == 1 { print; exit } { last = $0 } END { if (!first && NR) print last }' |
      sed 's/.*:[[:space:]]*//'
  }
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
for bin in "$LEANP2P_BIN" "$BASELINE_BIN_DIR/quinn-perf" "$BASELINE_BIN_DIR/libp2p-gossip-perf" \
    "$BASELINE_BIN_DIR/libp2p-gossip-node"; do
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

# ----- pacing on real sockets: the node pacer of the bulk client, measured at the server -----
for r in $PACE_MBITS; do
  run "ours_pace_$r" "$LEANP2P_BIN" perf --workload bulk --total-mib "$PACE_MIB" --pace-mbit "$r"
done

# ----- two-process gossip: a listener and a dialer, each its own process -----
# wait_line FILE PATTERN SECS: the first line of FILE matching PATTERN, waiting up to SECS.
wait_line() {
  local i line
  for i in $(seq 1 $(($3 * 10))); do
    line=$(grep -m1 -- "$2" "$1" 2>/dev/null || true)
    if [ -n "$line" ]; then echo "$line"; return 0; fi
    sleep 0.1
  done
  return 1
}

# node_pair IMPL SIZE COUNT NAME: RUNS runs of a listener expecting COUNT messages and a
# dialer publishing COUNT x SIZE bytes back to back (lean block topic, SHA-256 message ids,
# raw payloads). The listener exits once all arrived (or at RUN_SECS); then the dialer is
# stopped (SIGTERM). One line per run in NAME.jsonl: msgs_per_s (first to last receipt at
# the listener), received, published, delivered (received / published), the listener's
# cpu_s, max_rss_kib and bytes. Both listeners print one JSON line per message.
node_pair() {
  local impl=$1 size=$2 count=$3 name=$4 i
  : >"$OUT_DIR/$name.jsonl"
  for i in $(seq 1 "$RUNS"); do
    local lo="$OUT_DIR/$name.$i.listen.out" le="$OUT_DIR/$name.$i.listen.err"
    local dout="$OUT_DIR/$name.$i.dial.out" derr="$OUT_DIR/$name.$i.dial.err"
    local lpid dpid addr
    log "$name run $i/$RUNS: $impl node pair, $count x $size B"
    if [ "$impl" = ours ]; then
      "$LEANP2P_BIN" node --listen /ip4/127.0.0.1/udp/0/quic-v1 --no-discovery --msg-id sha256 \
        --gossip-encoding raw --expect-messages "$count" --exit-when-done --linger-ms 0 --json \
        --run-secs "$RUN_SECS" >"$lo" 2>"$le" &
    else
      "$BASELINE_BIN_DIR/libp2p-gossip-node" --role listen --expect "$count" --msg-id sha256 \
        --encoding raw --run-secs "$RUN_SECS" >"$lo" 2>"$le" &
    fi
    lpid=$!
    addr=$(wait_line "$lo" '"event":"listening"' 20 | sed -n 's/.*"addr":"\([^"]*\)".*/\1/p' || true)
    if [ -z "$addr" ]; then
      log "  the listener printed no address ($le)"
      kill "$lpid" 2>/dev/null || true; wait "$lpid" 2>/dev/null || true
      continue
    fi
    if [ "$impl" = ours ]; then
      "$LEANP2P_BIN" node --listen /ip4/127.0.0.1/udp/0/quic-v1 --no-discovery --dial "$addr" \
        --msg-id sha256 --gossip-encoding raw --publish-count "$count" --publish-size "$size" \
        --publish-interval-ms 0 --quiet-gossip --json --run-secs "$RUN_SECS" >"$dout" 2>"$derr" &
    else
      "$BASELINE_BIN_DIR/libp2p-gossip-node" --role dial --peer "$addr" --count "$count" \
        --size "$size" --msg-id sha256 --encoding raw --run-secs "$RUN_SECS" >"$dout" 2>"$derr" &
    fi
    dpid=$!
    if wait "$lpid"; then :; else log "  listener exit $? ($le)"; fi
    kill -TERM "$dpid" 2>/dev/null || true
    wait "$dpid" 2>/dev/null || true
    local summary done_line received published cpu rss bytes first last rate delivered
    summary=$(grep '"event":"summary"' "$lo" | tail -n1 || true)
    done_line=$(grep '"event":"publish_done"' "$dout" | tail -n1 || true)
    received=$(field "$summary" gossip_received)
    bytes=$(field "$summary" gossip_received_bytes)
    rss=$(field "$summary" max_rss_kib)
    cpu=$(field "$summary" cpu_s)
    if [ -z "$cpu" ]; then
      cpu=$(awk -v u="$(field "$summary" cpu_user_s)" -v s="$(field "$summary" cpu_sys_s)" \
        'BEGIN { if (u != "" && s != "") printf "%.3f", u + s }')
    fi
    published=$(field "$done_line" published)
    if [ -z "$published" ]; then
      published=$(field "$(grep '"event":"summary"' "$dout" | tail -n1 || true)" published)
    fi
    first=$(grep '"event":"gossip"' "$lo" | head -n1 | sed -n 's/.*"t_ms":\([0-9.]*\).*/\1/p' || true)
    last=$(grep '"event":"gossip"' "$lo" | tail -n1 | sed -n 's/.*"t_ms":\([0-9.]*\).*/\1/p' || true)
    rate=$(awk -v n="$received" -v a="$first" -v b="$last" \
      'BEGIN { if (n > 1 && b > a) printf "%.3f", (n - 1) * 1000 / (b - a) }')
    delivered=$(awk -v r="$received" -v p="$published" 'BEGIN { if (p > 0) printf "%.4f", r / p }')
    if [ -z "$summary" ]; then log "  no listener summary ($lo, $le)"; continue; fi
    printf '{"msgs_per_s":%s,"received":%s,"published":%s,"delivered":%s,"cpu_s":%s,"max_rss_kib":%s,"bytes":%s}\n' \
      "${rate:-null}" "${received:-null}" "${published:-null}" "${delivered:-null}" "${cpu:-null}" \
      "${rss:-null}" "${bytes:-null}" >>"$OUT_DIR/$name.jsonl"
  done
}
node_pair ours "$BIG_SIZE" "$NODE_BIG_COUNT" ours_node_big
node_pair libp2p "$BIG_SIZE" "$NODE_BIG_COUNT" libp2p_node_big
node_pair ours "$SMALL_SIZE" "$NODE_SMALL_COUNT" ours_node_small
node_pair libp2p "$SMALL_SIZE" "$NODE_SMALL_COUNT" libp2p_node_small

# ----- lossy links (--with-loss): the simulator with the default congestion controller -----
LOSS_DELIVERY=""
if [ "$WITH_LOSS" = 1 ]; then
  log "lossy-link sim: $LOSS_NODES nodes, 20 % loss, $LOSS_SECS virtual s (takes minutes)"
  if "$LEANP2P_BIN" sim --nodes "$LOSS_NODES" --loss 0.2 --virtual-secs "$LOSS_SECS" --json \
      >"$OUT_DIR/sim_loss.out" 2>"$OUT_DIR/sim_loss.err"; then :; else
    log "  exit $? (stderr: $OUT_DIR/sim_loss.err)"
  fi
  LOSS_DELIVERY=$(field "$(grep '^{' "$OUT_DIR/sim_loss.out" | tail -n1 || true)" delivery_ratio)
  if [ -n "$LOSS_DELIVERY" ]; then LOSS_DELIVERY=$(awk -v d="$LOSS_DELIVERY" 'BEGIN { printf "%.4f", d }'); fi
fi

# ----- criterion benches: pacing on a simulated clock, simulator speed -----
SIM_ROWS=""
if [ "$BENCHES" = 1 ]; then
  log "pacing bench (--quick)"
  if (cd "$ROOT" && CARGO_TARGET_DIR=$MAIN_TARGET cargo bench -p leanp2p-benches --bench pacing -- --quick) \
      >"$OUT_DIR/pacing.out" 2>"$OUT_DIR/pacing.err"; then :; else
    log "  pacing bench failed ($OUT_DIR/pacing.err)"
  fi
  log "sim_scale bench (--quick; 1,000 nodes take minutes)"
  if (cd "$ROOT" && CARGO_TARGET_DIR=$MAIN_TARGET cargo bench -p leanp2p-benches --bench sim_scale -- --quick) \
      >"$OUT_DIR/sim_scale.out" 2>"$OUT_DIR/sim_scale.err"; then :; else
    log "  sim_scale bench failed ($OUT_DIR/sim_scale.err)"
  fi
  # "sim_scale nodes=1000: virtual_s_per_wall_s=0.0123 virtual_s_per_cpu_s=0.0456 (...)": the
  # last figure per node count, as "NODES WALL CPU" lines.
  SIM_ROWS=$(sed -n 's/^sim_scale nodes=\([0-9]*\): virtual_s_per_wall_s=\([0-9.]*\) virtual_s_per_cpu_s=\([0-9.a-z/]*\).*/\1 \2 \3/p' \
    "$OUT_DIR/sim_scale.out" 2>/dev/null | awk '{ v[$1] = $0 } END { for (n in v) print v[n] }' | sort -n || true)
fi
# bench_pacing RATE: the pacing bench's deviation in % at RATE Mbit/s
# ("pacing 100 Mbit/s, burst 64 KiB: achieved 99.998 Mbit/s (-0.002% vs configured), ...").
bench_pacing() {
  sed -n "s/^pacing $1 Mbit\/s.*(\([-+0-9.]*\)% vs configured).*/\1/p" "$OUT_DIR/pacing.out" 2>/dev/null | tail -n1 || true
}

# ----- table -----
line_fmt='| %-56s | %12s | %12s | %-9s | %6s | %-10s | %-7s |\n'
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
  # shellcheck disable=SC2059
  printf "$line_fmt" "$label" "${ours:-n/a}" "${theirs:-n/a}" "$unit" "$ratio" "$op $target" "$verdict"
}
# goal LABEL VALUE REFERENCE UNIT OP TARGET: the verdict compares VALUE itself with TARGET
# (OP ">=", "<=", "|x|<=" for an absolute value, or "info": no goal); REFERENCE is shown
# beside it ("-": none).
goal() {
  local label=$1 value=$2 ref=$3 unit=$4 op=$5 target=$6 verdict
  if [ "$op" = info ]; then
    verdict="-"; op="-"; target=""
  elif [ -n "$value" ]; then
    verdict=$(awk -v v="$value" -v t="$target" -v op="$op" 'BEGIN {
      a = v + 0; if (op == "|x|<=") { if (a < 0) a = -a; print (a <= t ? "MET" : "missed") }
      else if (op == ">=") print (a >= t ? "MET" : "missed"); else print (a <= t ? "MET" : "missed") }')
  else
    verdict="n/a"
  fi
  # shellcheck disable=SC2059
  printf "$line_fmt" "$label" "${value:-n/a}" "${ref:-n/a}" "$unit" "-" "$op${target:+ $target}" "$verdict"
}
# per_byte NAME: median over runs of CPU nanoseconds per payload byte (cpu_s / bytes).
per_byte() {
  local line c b
  while IFS= read -r line; do
    c=$(field "$line" cpu_s); b=$(field "$line" bytes)
    if [ -n "$c" ] && [ -n "$b" ]; then awk -v c="$c" -v b="$b" 'BEGIN { if (b > 0) printf "%.3f\n", c * 1e9 / b }'; fi
  done <"$OUT_DIR/$1.jsonl" | median
}
# burst_ratio NAME [SIDE]: median over runs of the largest measured burst / the configured
# burst; SIDE "sender." reads the sender-side measurement instead of the receive side.
burst_ratio() {
  local line m b
  while IFS= read -r line; do
    m=$(field "$line" "pacing.${2:-}max_burst_bytes"); b=$(field "$line" pacing.burst_bytes)
    if [ -n "$m" ] && [ -n "$b" ]; then awk -v m="$m" -v b="$b" 'BEGIN { if (b > 0) printf "%.3f\n", m / b }'; fi
  done <"$OUT_DIR/$1.jsonl" | median
}

echo
echo "leanp2p vs baselines: medians of $RUNS run(s) each, loopback 127.0.0.1 ($(nproc 2>/dev/null || echo ?) cores)."
echo "Raw JSON and logs: $OUT_DIR; rust-libp2p payload flags (perf runs): $BASELINE_GOSSIP_FLAGS"
echo
# shellcheck disable=SC2059
printf "$line_fmt" metric leanp2p baseline unit ratio target verdict
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..58})" "$(printf -- '-%.0s' {1..14})" \
  "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..11})" "$(printf -- '-%.0s' {1..8})" \
  "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..9})"
for k in $BULK_STREAMS; do
  row "bulk ${BULK_MIB} MiB, $k stream(s) vs quinn" "$(med "ours_bulk_$k" mb_per_s)" "$(med "quinn_bulk_$k" mb_per_s)" MB/s ">=" 1.25
done
row "perf gossip ${BIG_SIZE} B x ${BIG_COUNT}" "$(med ours_gossip_big msgs_per_s)" "$(med libp2p_gossip_big msgs_per_s)" msgs/s ">=" 3
row "perf gossip ${SMALL_SIZE} B x ${SMALL_COUNT}" "$(med ours_gossip_small msgs_per_s)" "$(med libp2p_gossip_small msgs_per_s)" msgs/s ">=" 3
row "perf gossip ${BIG_SIZE} B: CPU per byte" "$(per_byte ours_gossip_big)" "$(per_byte libp2p_gossip_big)" "ns/B" "<=" 0.4
row "perf gossip ${SMALL_SIZE} B: CPU per byte" "$(per_byte ours_gossip_small)" "$(per_byte libp2p_gossip_small)" "ns/B" "<=" 0.4
row "perf gossip ${BIG_SIZE} B: peak RSS" "$(med ours_gossip_big max_rss_kib)" "$(med libp2p_gossip_big max_rss_kib)" KiB "<=" 0.5
row "perf gossip ${SMALL_SIZE} B: peak RSS" "$(med ours_gossip_small max_rss_kib)" "$(med libp2p_gossip_small max_rss_kib)" KiB "<=" 0.5
for w in big small; do
  if [ "$w" = big ]; then sz=$BIG_SIZE; n=$NODE_BIG_COUNT; else sz=$SMALL_SIZE; n=$NODE_SMALL_COUNT; fi
  row "2 procs ${sz} B x ${n}: msgs/s" "$(med "ours_node_$w" msgs_per_s)" "$(med "libp2p_node_$w" msgs_per_s)" msgs/s ">=" 3
  goal "2 procs ${sz} B x ${n}: delivered/published" "$(med "ours_node_$w" delivered)" "$(med "libp2p_node_$w" delivered)" ratio ">=" 1
  row "2 procs ${sz} B x ${n}: receiver CPU per byte" "$(per_byte "ours_node_$w")" "$(per_byte "libp2p_node_$w")" "ns/B" "<=" 0.4
  row "2 procs ${sz} B x ${n}: receiver peak RSS" "$(med "ours_node_$w" max_rss_kib)" "$(med "libp2p_node_$w" max_rss_kib)" KiB "<=" 0.5
done
for r in $PACE_MBITS; do
  goal "pacing ${r} Mbit/s, real sockets: deviation" "$(med "ours_pace_$r" pacing.deviation_pct)" "$(bench_pacing "$r")" "% (bench)" "|x|<=" 3
  goal "pacing ${r} Mbit/s: max burst / configured (receiver)" "$(burst_ratio "ours_pace_$r")" "-" "x" "<=" 1
  goal "pacing ${r} Mbit/s: max burst / configured (sender)" "$(burst_ratio "ours_pace_$r" sender.)" "-" "x" "<=" 1
done
if [ -n "$SIM_ROWS" ]; then
  while read -r nodes wall cpu; do
    if [ "$nodes" = 1000 ]; then
      goal "sim ${nodes} nodes: virtual s per wall s" "$wall" "$cpu" "s (CPU s)" ">=" 1
    else
      goal "sim ${nodes} nodes: virtual s per wall s" "$wall" "$cpu" "s (CPU s)" "info" "-"
    fi
  done <<<"$SIM_ROWS"
else
  goal "sim 1000 nodes: virtual s per wall s" "" "" "s (CPU s)" ">=" 1
fi
if [ "$WITH_LOSS" = 1 ]; then
  goal "sim ${LOSS_NODES} nodes, 20 % loss, ${LOSS_SECS} s: delivery" "$LOSS_DELIVERY" "-" ratio ">=" 1
else
  goal "sim ${LOSS_NODES} nodes, 20 % loss: delivery (--with-loss)" "" "-" ratio ">=" 1
fi
echo
echo "Columns: baseline = quinn-perf / libp2p-gossip-perf / libp2p-gossip-node medians; for the"
echo "pacing rows the criterion bench's deviation on a simulated clock; for the sim rows virtual s"
echo "per CPU s. 'info' rows have no goal. n/a = not run or failed (see $OUT_DIR)."
echo
echo "Informational (no target):"
for k in $BULK_STREAMS; do
  echo "  bulk $k stream(s): cpu_s leanp2p $(med "ours_bulk_$k" cpu_s) / quinn $(med "quinn_bulk_$k" cpu_s);" \
       "peak RSS KiB leanp2p $(med "ours_bulk_$k" max_rss_kib) / quinn $(med "quinn_bulk_$k" max_rss_kib)"
done
echo "  perf gossip ${BIG_SIZE} B: cpu_s leanp2p $(med ours_gossip_big cpu_s) / rust-libp2p $(med libp2p_gossip_big cpu_s);" \
     "MB/s leanp2p $(med ours_gossip_big mb_per_s) / rust-libp2p $(med libp2p_gossip_big mb_per_s)"
echo "  perf gossip ${SMALL_SIZE} B: cpu_s leanp2p $(med ours_gossip_small cpu_s) / rust-libp2p $(med libp2p_gossip_small cpu_s)"
for w in big small; do
  echo "  2 procs $w: received/published leanp2p $(med "ours_node_$w" received)/$(med "ours_node_$w" published)," \
       "rust-libp2p $(med "libp2p_node_$w" received)/$(med "libp2p_node_$w" published); receiver cpu_s" \
       "leanp2p $(med "ours_node_$w" cpu_s) / rust-libp2p $(med "libp2p_node_$w" cpu_s)"
done
for r in $PACE_MBITS; do
  echo "  pacing $r Mbit/s: achieved $(med "ours_pace_$r" pacing.achieved_mbit) Mbit/s at the receiver," \
       "$(med "ours_pace_$r" pacing.sender.achieved_mbit) at the sender; max burst receiver" \
       "$(med "ours_pace_$r" pacing.max_burst_bytes) B, sender $(med "ours_pace_$r" pacing.sender.max_burst_bytes) B" \
       "(configured $(med "ours_pace_$r" pacing.burst_bytes) B)," \
       "pacer waits $(med "ours_pace_$r" pacing.pacer_waits), samples $(med "ours_pace_$r" pacing.samples)"
done
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
  echo "  perf gossip $w: payload MB per CPU s leanp2p ${a:-n/a} / rust-libp2p ${b:-n/a} = $(ratio "$a" "$b")"
done
echo
echo "The machine may be shared and noisy: compare runs made on the same machine at the same time."

#!/usr/bin/env bash
# Fleet mode: (1) the agent's CPU per request when publishing (run --publish) against a full
# local mirror (run --shadow, comparing) in the same command, over the same paced wrk load on a
# production nginx, interleaved; (2) exchanges per second through one broker with one and with
# two workers replaying to a shadow nginx, from a stream filled beforehand. A third mode,
# capture (run --sample 0: capture and HTTP parsing only, nothing selected), is the floor.
# Usage: bash bench/fleet.sh [seconds] [rate] [rounds]   (needs wrk, nginx, nats-server, root)
source "$(dirname "$0")/lib.sh"
SECS=${1:-10}; RATE=${2:-3000}; ROUNDS=${3:-2}
PROD=20280; SHADOW=20281; NATS=20282
CONNS=50
HZ=$(getconf CLK_TCK)
NATSDIR="$OUT/fleet-nats"; rm -rf "$NATSDIR"; mkdir -p "$NATSDIR"
printf 'listen: 127.0.0.1:%s\nmax_payload: 8388608\njetstream { store_dir: "%s" }\n' $NATS "$NATSDIR/store" >"$NATSDIR/nats.conf"
nats-server -c "$NATSDIR/nats.conf" >"$NATSDIR/nats.log" 2>&1 &
PIDS+=($!)
start_nginx prod $PROD
start_nginx shadow $SHADOW
awk -v c=$CONNS -v r="$RATE" 'BEGIN { printf "function delay() return %d end\n", c * 1000 / r - 1 }' >"$OUT/fleet-pace.lua"

# stream_state: "messages pending unacked" of the stream and the consumer $1 (0 0 0 when none).
stream_state() {
  (cd "$ROOT" && node -e '
    const { connect } = require("@nats-io/transport-node"); const { jetstreamManager } = require("@nats-io/jetstream");
    (async () => { const nc = await connect({ servers: process.argv[1] }); const jsm = await jetstreamManager(nc);
      const s = await jsm.streams.info("SHADOWTAP").catch(() => null); const c = await jsm.consumers.info("SHADOWTAP", process.argv[2]).catch(() => null);
      console.log(`${s ? s.state.messages : 0} ${c ? c.num_pending : 0} ${c ? c.num_ack_pending : 0}`); await nc.close(); })();' "nats://127.0.0.1:$NATS" "${1:-none}")
}

# agent_round MODE: one shadowtap run under the paced load; prints "mode seen cpu_s µs/request".
agent_round() {
  local mode=$1 args
  case $mode in
    publish) args=(--publish "nats://127.0.0.1:$NATS") ;;
    mirror) args=(--shadow "http://127.0.0.1:$SHADOW") ;;
    # The floor: capture and HTTP only, nothing selected (every request sampledOut).
    capture) args=(--shadow "http://127.0.0.1:$SHADOW" --sample 0) ;;
  esac
  $SHADOWTAP run -i lo -p $PROD "${args[@]}" --admin off --stats-interval 0 --summary-json "$OUT/fleet-$mode.json" >"$OUT/fleet-$mode.log" 2>&1 &
  local st=$!
  for _ in $(seq 100); do grep -q 'capture started' "$OUT/fleet-$mode.log" && break; sleep 0.1; done
  sleep 1
  local t0; t0=$(cpu_ticks $st)
  wrk -t1 -c$CONNS -d"${SECS}s" -s "$OUT/fleet-pace.lua" "http://127.0.0.1:$PROD/api/items?id=7" >"$OUT/fleet-wrk.txt"
  sleep 1
  local t1; t1=$(cpu_ticks $st)
  kill -TERM $st; wait $st || true
  node -e '
    const s = require(process.argv[1]); const cpu = (process.argv[2] - process.argv[3]) / process.argv[4];
    const done = s.published ?? s.replayed;
    console.log(`${process.argv[5].padEnd(8)} ${String(s.seen).padStart(7)} ${String(done).padStart(9)} ${cpu.toFixed(2).padStart(7)} ${(cpu / s.seen * 1e6).toFixed(1).padStart(10)}`);
  ' "$OUT/fleet-$mode.json" "$t1" "$t0" "$HZ" "$mode"
}

echo "(1) agent CPU per request at ~$RATE req/s for ${SECS}s (CPU counted over the load only)" | tee "$OUT/fleet-bench.txt"
printf '%-8s %7s %9s %7s %10s\n' mode seen published cpu_s us/request | tee -a "$OUT/fleet-bench.txt"
for _ in $(seq "$ROUNDS"); do
  for mode in publish mirror capture; do agent_round $mode | tee -a "$OUT/fleet-bench.txt"; done
done

echo "(2) exchanges/s through one broker (stream filled first, workers replay to nginx)" | tee -a "$OUT/fleet-bench.txt"
printf '%-8s %9s %8s %12s\n' workers exchanges seconds exchanges/s | tee -a "$OUT/fleet-bench.txt"
for workers in 1 2; do
  consumer="bench-$workers-$RANDOM"
  read -r messages _ _ < <(stream_state "$consumer")
  WP=()
  start=$(date +%s.%N)
  for i in $(seq "$workers"); do
    $SHADOWTAP worker --from "nats://127.0.0.1:$NATS" --consumer "$consumer" --shadow "http://127.0.0.1:$SHADOW" --out "$OUT/fleet-w$workers-$i" \
      --admin off --stats-interval 0 --max-waiting 1000 --max-ack-pending 4000 >"$OUT/fleet-w$workers-$i.log" 2>&1 &
    WP+=($!); PIDS+=($!)
  done
  sleep 1
  while :; do
    read -r _ pending unacked < <(stream_state "$consumer")
    [ "$pending" = 0 ] && [ "$unacked" = 0 ] && break
    sleep 0.2
  done
  end=$(date +%s.%N)
  for p in "${WP[@]}"; do kill -TERM "$p"; wait "$p" || true; done
  awk -v w=$workers -v n="$messages" -v s="$start" -v e="$end" 'BEGIN { printf "%-8s %9d %8.1f %12.0f\n", w, n, e - s, n / (e - s) }' | tee -a "$OUT/fleet-bench.txt"
done

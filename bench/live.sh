#!/usr/bin/env bash
# Live mirror capacity: wrk drives a production nginx on loopback at paced rates (and flat out)
# while shadowtap mirrors to a shadow nginx. Both nginx access logs are the ground truth.
# Usage: bash bench/live.sh [seconds-per-rate] [rates...]    (needs wrk, nginx, root)
# EXTRA_ARGS adds run flags, e.g. EXTRA_ARGS=--no-compare to mirror without comparing.
source "$(dirname "$0")/lib.sh"
SECONDS_PER_RATE=${1:-10}; shift || true
RATES=${*:-"10000 20000 30000 max"}
PROD=20180; SHADOW=20181
CONNS=200
printf "%-8s %10s %10s %10s %10s %10s %8s %8s %10s %s\n" target wrk_req/s prod_served st_seen replayed shadow_got kdrop qdrop compared notReplayed | tee "$OUT/live-bench.txt"
for rate in $RATES; do
  rm -f "$OUT"/prod-access.log "$OUT"/shadow-access.log
  PIDS=()
  ACCESS_LOG="$OUT/prod-access.log" start_nginx prod $PROD
  ACCESS_LOG="$OUT/shadow-access.log" start_nginx shadow $SHADOW
  $SHADOWTAP run -i lo -p $PROD -s http://127.0.0.1:$SHADOW --summary-json "$OUT/live-summary.json" \
    --stats-interval 0 --concurrency 64 ${EXTRA_ARGS:-} >"$OUT/live-run.log" 2>&1 &
  ST=$!
  for _ in $(seq 50); do grep -q 'capture started' "$OUT/live-run.log" && break; sleep 0.1; done
  if [ "$rate" = max ]; then
    script=/dev/null
  else
    # Each connection waits delay ms between requests: rate ~ CONNS * 1000 / delay.
    script="$OUT/pace.lua"
    awk -v c=$CONNS -v r="$rate" 'BEGIN { printf "function delay() return %d end\n", c * 1000 / r - 1 }' >"$script"
  fi
  wrk -t2 -c$CONNS -d"${SECONDS_PER_RATE}s" -s "$script" "http://127.0.0.1:$PROD/api/items?id=7" >"$OUT/wrk-live.txt"
  sleep 1
  kill -TERM $ST; wait $ST || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
  node -e '
    const s = require(process.argv[1]);
    const fs = require("fs");
    const lines = (f) => fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").filter(Boolean).length : 0;
    const wrk = fs.readFileSync(process.argv[2], "utf8");
    const rps = (wrk.match(/Requests\/sec:\s+([\d.]+)/) || [0, 0])[1];
    const nr = Object.entries(s.notReplayed).map(([k, v]) => k + "=" + v).join(",") || "-";
    const compared = s.compare ? `${s.compare.exchanges - s.compare.busy}` : "off";
    const row = [process.argv[3], Math.round(rps), lines(process.argv[4]), s.seen, s.replayed, lines(process.argv[5]),
      s.capture.kernelDropped, s.capture.queueDropped, compared, nr];
    console.log(row.map((x, i) => i < 9 ? String(x).padEnd(i ? 10 : 8) : x).join(" "));
  ' "$OUT/live-summary.json" "$OUT/wrk-live.txt" "$rate" "$OUT/prod-access.log" "$OUT/shadow-access.log" | tee -a "$OUT/live-bench.txt"
done

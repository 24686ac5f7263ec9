#!/usr/bin/env bash
# Soak: shadowtap mirrors a production nginx on loopback under flat-out wrk load for N minutes;
# its resident memory is sampled every 10 s and the accounting is checked at the end.
# Usage: bash bench/soak.sh [minutes]    (needs wrk, nginx, root)
#   RATE=15000 paces production at that many req/s (wrk -c200, as bench/peer.sh does; default:
#   wrk -c64 flat out); COMPARE=1 runs with comparison (--out DIR), as shadowtap's defaults do;
#   ST_ARGS="--pipeline 8" adds options to shadowtap's.
source "$(dirname "$0")/lib.sh"
MINUTES=${1:-10}
SECS=$(awk -v m="$MINUTES" 'BEGIN { printf "%d", m * 60 }')
PROD=20280; SHADOW=20281
rm -f "$OUT"/soak-prod.log "$OUT"/soak-shadow.log
ACCESS_LOG="$OUT/soak-prod.log" start_nginx soak-prod $PROD
ACCESS_LOG="$OUT/soak-shadow.log" start_nginx soak-shadow $SHADOW
COMPARE_ARGS=()
[ "${COMPARE:-0}" = 1 ] && { rm -rf "$OUT/soak-cmp"; COMPARE_ARGS=(--out "$OUT/soak-cmp"); }
$SHADOWTAP run -i lo -p $PROD -s http://127.0.0.1:$SHADOW --summary-json "$OUT/soak-summary.json" \
  --stats-interval 60 "${COMPARE_ARGS[@]}" ${ST_ARGS:-} >"$OUT/soak-run.log" 2>&1 &
ST=$!
for _ in $(seq 50); do grep -q 'capture started' "$OUT/soak-run.log" && break; sleep 0.1; done
if [ -n "${RATE:-}" ]; then
  awk -v r="$RATE" 'BEGIN { printf "function delay() return %d end\n", 200 * 1000 / r - 1 }' >"$OUT/soak-pace.lua"
  wrk -t2 -c200 -d"${SECS}s" -s "$OUT/soak-pace.lua" "http://127.0.0.1:$PROD/api/items?id=3" >"$OUT/wrk-soak.txt" &
else
  wrk -t1 -c64 -d"${SECS}s" "http://127.0.0.1:$PROD/api/items?id=3" >"$OUT/wrk-soak.txt" &
fi
WRK=$!
echo "minute rss_mb" | tee "$OUT/soak-rss.txt"
start=$(date +%s)
while kill -0 $WRK 2>/dev/null; do
  rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$ST/status)
  echo "$(awk -v s=$(( $(date +%s) - start )) 'BEGIN {printf "%.2f", s/60}') $rss" | tee -a "$OUT/soak-rss.txt"
  sleep 10
done
sleep 1
HWM=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$ST/status)
kill -TERM $ST; wait $ST || true
SERVED=$(wc -l <"$OUT/soak-prod.log"); SHADOW_GOT=$(wc -l <"$OUT/soak-shadow.log")
node -e '
  const s = require(process.argv[1]);
  const fs = require("fs");
  const [served, shadowGot] = [+process.argv[3], +process.argv[4]];
  const rss = fs.readFileSync(process.argv[2], "utf8").trim().split("\n").slice(2).map((l) => +l.split(" ")[1]);
  const nr = Object.values(s.notReplayed).reduce((a, b) => a + b, 0);
  console.log(`requests: production served ${served}, seen ${s.seen}, replayed ${s.replayed}, shadow got ${shadowGot}, ` +
    `not replayed ${JSON.stringify(s.notReplayed)}; balances: ${s.seen === s.replayed + nr}`);
  console.log(`capture: ${s.capture.packets} packets, kernel drops ${s.capture.kernelDropped}, queue drops ${s.capture.queueDropped}`);
  const third = Math.max(1, Math.floor(rss.length / 3));
  const avg = (a) => (a.reduce((x, y) => x + y, 0) / a.length).toFixed(1);
  console.log(`peak RSS (VmHWM) ${process.argv[5]} MB; production ${process.argv[6]} req/s (wrk)`);
  console.log(`rss MB after warm-up: first third avg ${avg(rss.slice(0, third))}, last third avg ${avg(rss.slice(-third))}, max ${Math.max(...rss)}`);
' "$OUT/soak-summary.json" "$OUT/soak-rss.txt" "$SERVED" "$SHADOW_GOT" "$HWM" \
  "$(awk '/Requests\/sec:/ {printf "%d", $2}' "$OUT/wrk-soak.txt")" | tee "$OUT/soak.txt"
rm -f "$OUT"/soak-prod.log "$OUT"/soak-shadow.log

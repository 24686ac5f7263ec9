#!/usr/bin/env bash
# Live capacity of an h2c mirror: h2load drives a production nginx speaking HTTP/2 cleartext on
# loopback at paced rates (and flat out) while shadowtap mirrors to a shadow nginx (h2c too); both
# access logs are the ground truth. Side by side in one command: no mirror, shadowtap defaults
# (comparison on), shadowtap --no-compare, and GoReplay 1.2.0 when built (bench/peer.sh builds it;
# it does not parse HTTP/2, so what it sends the shadow shows what a passive HTTP/1 mirror gets).
# Usage: bash bench/h2-live.sh [seconds-per-rung] [rates...]   e.g. bash bench/h2-live.sh 8 2000 5000 max
# Columns: h2load's req/s; requests production served and the shadow got (minus warm-up);
# shadow/production in %; mirror CPU ms per 1,000 requests the shadow got; peak RSS.
source "$(dirname "$0")/lib.sh"
SECS=${1:-8}; shift || true
RATES=${*:-"2000 5000 max"}
PROD=20280; SHADOW=20281
CLIENTS=8; STREAMS=8
GOR=${GOR:-${PEER_DIR:-/var/tmp/shadowtap-peer}/goreplay/gor}
TOOLS="none st st-nocmp"; [ -x "$GOR" ] && TOOLS="$TOOLS gor"
HZ=$(getconf CLK_TCK)
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
REPORT=$OUT/h2-live.txt
printf '%-6s %-9s %9s %9s %9s %7s %11s %8s\n' rate tool 'req/s' prod shadow '%' 'cpu_ms/1k' rss_mb | tee "$REPORT"
for rate in $RATES; do
  for tool in $TOOLS; do
    rm -f "$OUT/h2-prod.log" "$OUT/h2-shadow.log"
    PIDS=()
    LISTEN_OPTS=http2 ACCESS_LOG="$OUT/h2-prod.log" start_nginx h2prod $PROD
    LISTEN_OPTS=http2 ACCESS_LOG="$OUT/h2-shadow.log" start_nginx h2shadow $SHADOW
    M=
    case $tool in
      st)       $SHADOWTAP run -i lo -p $PROD -s http://127.0.0.1:$SHADOW --out "$OUT/h2-cmp" --stats-interval 0 >"$OUT/h2-$tool.log" 2>&1 & M=$! ;;
      st-nocmp) $SHADOWTAP run -i lo -p $PROD -s http://127.0.0.1:$SHADOW --no-compare --stats-interval 0 >"$OUT/h2-$tool.log" 2>&1 & M=$! ;;
      gor)      "$GOR" --input-raw lo:$PROD --output-http http://127.0.0.1:$SHADOW >"$OUT/h2-$tool.log" 2>&1 & M=$! ;;
    esac
    # Warm-up: single requests until the mirror delivers one (GoReplay never does: 10 s at most).
    for _ in $(seq 20); do
      h2load -n 1 -c 1 "http://127.0.0.1:$PROD/warmup" >/dev/null 2>&1 || true
      sleep 0.5
      [ -z "$M" ] || [ "$(lines "$OUT/h2-shadow.log")" -gt 0 ] && break
    done
    sleep 0.5
    p0=$(lines "$OUT/h2-prod.log"); s0=$(lines "$OUT/h2-shadow.log")
    c0=0; [ -n "$M" ] && c0=$(cpu_ticks $M)
    pace=(); [ "$rate" != max ] && pace=(--rps $((rate / CLIENTS)))
    h2load -c $CLIENTS -m $STREAMS -D "$SECS" "${pace[@]}" "http://127.0.0.1:$PROD/api/items?id=7" >"$OUT/h2load.txt" 2>&1 || true
    last=-1
    for _ in $(seq 40); do now=$(lines "$OUT/h2-shadow.log"); [ "$now" = "$last" ] && break; last=$now; sleep 0.5; done
    c1=0; rss=0
    if [ -n "$M" ]; then c1=$(cpu_ticks $M); rss=$(awk '/^VmHWM:/ {print $2}' /proc/$M/status); kill -TERM $M; wait $M 2>/dev/null || true; fi
    cleanup; wait 2>/dev/null || true
    p=$(( $(lines "$OUT/h2-prod.log") - p0 )); s=$(( $(lines "$OUT/h2-shadow.log") - s0 ))
    rps=$(awk '/^finished in/ {print int($4)}' "$OUT/h2load.txt")
    awk -v r="$rate" -v t="$tool" -v q="$rps" -v p=$p -v s=$s -v c=$((c1 - c0)) -v hz=$HZ -v m="${M:-}" -v rss=$rss 'BEGIN {
      pct = p > 0 ? 100 * s / p : 0; cpu = (m == "" || s == 0) ? "-" : sprintf("%.0f", 1000 * c / hz / s * 1000)
      printf "%-6s %-9s %9s %9d %9d %6.1f%% %11s %8s\n", r, t, q, p, s, pct, cpu, m == "" ? "-" : sprintf("%.0f", rss / 1024) }' | tee -a "$REPORT"
  done
done

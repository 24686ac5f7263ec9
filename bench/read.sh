#!/usr/bin/env bash
# Offline parsing speed: shadowtap read vs tshark's HTTP dissector vs libpcap's raw read
# (tcpdump -r -w /dev/null), on one pcap of >= 500k packets recorded from wrk on loopback.
# Usage: bash bench/read.sh [seconds-of-load]   (needs wrk, nginx, tcpdump, tshark)
source "$(dirname "$0")/lib.sh"
PORT=20080
PCAP=$OUT/read-bench.pcap
LOAD_SECONDS=${1:-8}

if [ ! -s "$PCAP" ]; then
  start_nginx prod $PORT
  tcpdump -i lo -s 0 -B 262144 -w "$PCAP" "tcp port $PORT" 2>"$OUT/tcpdump.err" &
  TD=$!
  sleep 1
  wrk -t1 -c32 -d"${LOAD_SECONDS}s" "http://127.0.0.1:$PORT/api/items?id=1" >"$OUT/wrk-read.txt"
  sleep 0.5; kill -INT $TD; wait $TD || true
  cat "$OUT/tcpdump.err" | tail -3
fi
PACKETS=$(capinfos -c -M "$PCAP" | awk '/Number of packets/ {print $NF}')
echo "pcap: $PCAP, $PACKETS packets"

EXCHANGES=$($SHADOWTAP read --file "$PCAP" --port $PORT | wc -l)
TSHARK_REQS=$(tshark -r "$PCAP" -d tcp.port==$PORT,http -Y http.request -T fields -e http.request.uri 2>/dev/null | wc -l)
echo "exchanges found: shadowtap $EXCHANGES, tshark $TSHARK_REQS"

RAW=$(cpu_seconds tcpdump -r "$PCAP" -w /dev/null)
TSH=$(cpu_seconds tshark -r "$PCAP" -d tcp.port==$PORT,http -Y http.request -T fields -e http.request.method -e http.request.uri)
ST=$(cpu_seconds $SHADOWTAP read --file "$PCAP" --port $PORT)

awk -v p="$PACKETS" -v x="$EXCHANGES" -v raw="$RAW" -v tsh="$TSH" -v st="$ST" 'BEGIN {
  printf "%-34s %10s %14s %14s\n", "reader (CPU seconds, user+sys)", "seconds", "packets/s", "exchanges/s";
  printf "%-34s %10.3f %14.0f %14s\n", "tcpdump -r -w /dev/null (libpcap)", raw, p/raw, "-";
  printf "%-34s %10.3f %14.0f %14.0f\n", "tshark HTTP dissector", tsh, p/tsh, x/tsh;
  printf "%-34s %10.3f %14.0f %14.0f\n", "shadowtap read", st, p/st, x/st;
  printf "shadowtap vs tshark: %.1fx exchanges/s; shadowtap vs libpcap raw read: %.2fx packets/s\n", tsh/st, raw/st;
}' | tee "$OUT/read-bench.txt"

#!/usr/bin/env bash
# Offline `read` of two shadowtap builds side by side with tshark and GoReplay, in one command,
# on one pcap: per CPU-second ratios before and after, from the same run.
#   shadowtap read --file PCAP --port 20080 (JSON lines to /dev/null), BEFORE and AFTER builds
#     interleaved ROUNDS times (order flipped every round), median CPU of each;
#   tshark's HTTP dissector (-Y http.request -T fields), once;
#   GoReplay 1.2.0 --input-raw-engine pcap_file --output-null, once, when built by bench/peer.sh
#     ($PEER_DIR/goreplay/gor; it never exits at the end of a file: stopped once its CPU time
#     stands still for 2 s, its CPU read from /proc then, as bench/peer.sh does).
# Requests found: shadowtap's lines, tshark's rows, GoReplay's request payloads (--output-stdout).
#
# Usage: bash bench/read-ab.sh BEFORE_DIR AFTER_DIR [rounds] [pcap]
#   BEFORE_DIR, AFTER_DIR: built checkouts (DIR/dist/src/cli/main.js with its capture addon).
#   pcap: default bench/out/read-bench.pcap (recorded by bench/read.sh when missing).
source "$(dirname "$0")/lib.sh"
BEFORE=${1:?BEFORE_DIR}; AFTER=${2:?AFTER_DIR}; ROUNDS=${3:-3}
PCAP=${4:-$OUT/read-bench.pcap}
PORT=20080
PEER_DIR=${PEER_DIR:-/var/tmp/shadowtap-peer}
GOR=$PEER_DIR/goreplay/gor
HZ=$(getconf CLK_TCK)
[ -s "$PCAP" ] || bash "$ROOT/bench/read.sh" >&2

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "pcap $PCAP ($(capinfos -c -M "$PCAP" | awk '/Number of packets/ {print $NF}') packets); load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
N_BEFORE=$(node "$BEFORE/dist/src/cli/main.js" read --file "$PCAP" --port $PORT 2>/dev/null | wc -l)
N_AFTER=$(node "$AFTER/dist/src/cli/main.js" read --file "$PCAP" --port $PORT 2>/dev/null | wc -l)
B=(); A=()
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then
    B+=("$(cpu_seconds node "$BEFORE/dist/src/cli/main.js" read --file "$PCAP" --port $PORT)")
    A+=("$(cpu_seconds node "$AFTER/dist/src/cli/main.js" read --file "$PCAP" --port $PORT)")
  else
    A+=("$(cpu_seconds node "$AFTER/dist/src/cli/main.js" read --file "$PCAP" --port $PORT)")
    B+=("$(cpu_seconds node "$BEFORE/dist/src/cli/main.js" read --file "$PCAP" --port $PORT)")
  fi
  echo "round $r: before ${B[-1]} s, after ${A[-1]} s" >&2
done
ST_B=$(printf '%s\n' "${B[@]}" | median); ST_A=$(printf '%s\n' "${A[@]}" | median)
TSH_N=$(tshark -r "$PCAP" -d tcp.port==$PORT,http -Y http.request -T fields -e http.request.uri 2>/dev/null | wc -l)
TSH=$(cpu_seconds tshark -r "$PCAP" -d tcp.port==$PORT,http -Y http.request -T fields -e http.request.method -e http.request.uri)
GOR_CPU=-; GOR_N=-
if [ -x "$GOR" ]; then
  GOR_CPU=$(gor_file "$PCAP" $PORT --output-null "$OUT/read-ab-gor.out")
  gor_file "$PCAP" $PORT --output-stdout "$OUT/read-ab-gor.out" >/dev/null
  GOR_N=$(gor_requests "$OUT/read-ab-gor.out")
  rm -f "$OUT/read-ab-gor.out"
fi

awk -v b="$ST_B" -v bn="$N_BEFORE" -v a="$ST_A" -v an="$N_AFTER" -v tsh="$TSH" -v tshn="$TSH_N" -v gor="$GOR_CPU" -v gorn="$GOR_N" \
    -v bruns="${B[*]}" -v aruns="${A[*]}" 'BEGIN {
  printf "%-44s %8s %10s %12s %9s %11s %9s\n", "reader (CPU s = user+sys)", "CPU s", "requests", "requests/s", "us/req", "vs tshark", "vs gor";
  tr = tshn / tsh; gr = (gor != "-") ? gorn / gor : 0
  row("tshark HTTP dissector", tsh, tshn)
  if (gor != "-") row("GoReplay 1.2.0 pcap_file --output-null", gor, gorn)
  row("shadowtap read, before (median)", b, bn)
  row("shadowtap read, after (median)", a, an)
  printf "before runs: %s; after runs: %s; after/before CPU: %.3f\n", bruns, aruns, a / b
}
function row(name, cpu, n) {
  printf "%-44s %8.3f %10d %12.0f %9.2f %10.2fx %8s\n", name, cpu, n, n / cpu, 1e6 * cpu / n, (n / cpu) / tr, gr ? sprintf("%.2fx", (n / cpu) / gr) : "-"
}' | tee "$OUT/read-ab.txt"

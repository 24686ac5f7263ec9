#!/usr/bin/env bash
# Offline HTTP/2 (h2c) parsing speed: shadowtap read vs tshark's HTTP/2 dissector, CPU seconds
# each, on one capture of a node:http2 server answering a node:http2 client (8 multiplexed
# connections, GETs and POSTs with 0–4 KB bodies, varied headers) on loopback.
# Usage: bash bench/h2-read.sh [requests]   (needs tcpdump, tshark, capinfos)
source "$(dirname "$0")/lib.sh"
PORT=20443
REQUESTS=${1:-50000}
PCAP=$OUT/h2-read-bench-$REQUESTS.pcap

if [ ! -s "$PCAP" ]; then
  tcpdump -i lo -s 0 -B 262144 --immediate-mode -U -w "$PCAP" "tcp port $PORT" 2>"$OUT/tcpdump.err" &
  TD=$!
  sleep 1
  node - "$PORT" "$REQUESTS" <<'NODE'
const http2 = require('node:http2');
const [port, total] = process.argv.slice(2).map(Number);
const server = http2.createServer();
server.on('stream', (stream, headers) => {
  stream.resume();
  stream.on('end', () => {
    stream.respond({ ':status': 200, 'content-type': 'application/json', 'cache-control': 'no-store' });
    stream.end(JSON.stringify({ ok: true, path: headers[':path'] }));
  });
});
server.listen(port, '127.0.0.1', async () => {
  const sessions = Array.from({ length: 8 }, () => http2.connect(`http://127.0.0.1:${port}`));
  let next = 0;
  const one = (s, i) => new Promise((resolve, reject) => {
    const post = i % 3 === 0;
    const req = s.request({ ':method': post ? 'POST' : 'GET', ':path': `/api/items/${i % 500}?page=${i % 7}`,
      'user-agent': 'h2-bench/1', accept: 'application/json', 'x-request-id': `r-${i}`, cookie: `s=${i % 50}` },
      { endStream: !post });
    req.on('error', reject);
    req.resume();
    req.on('end', resolve);
    if (post) req.end(Buffer.alloc((i * 37) % 4096, 120));
  });
  const worker = async (s) => { for (let i = next++; i < total; i = next++) await one(s, i); };
  await Promise.all(sessions.flatMap((s) => Array.from({ length: 16 }, () => worker(s))));
  for (const s of sessions) s.close();
  server.close();
});
NODE
  sleep 0.5; kill -INT $TD; wait $TD || true
  tail -3 "$OUT/tcpdump.err"
fi
PACKETS=$(capinfos -c -M "$PCAP" | awk '/Number of packets/ {print $NF}')
echo "pcap: $PCAP, $PACKETS packets"

EXCHANGES=$($SHADOWTAP read --file "$PCAP" --port $PORT | wc -l)
TSHARK_ARGS=(-r "$PCAP" -n -d "tcp.port==$PORT,http2" -Y "http2.headers.method" -T fields -e http2.headers.method -e http2.headers.path -E occurrence=a -E aggregator=/s)
TSHARK_REQS=$(tshark "${TSHARK_ARGS[@]}" 2>/dev/null | awk -F'\t' '{ n += split($1, m, " ") } END { print n + 0 }')
echo "requests found: shadowtap $EXCHANGES, tshark $TSHARK_REQS"

TSH=$(cpu_seconds tshark "${TSHARK_ARGS[@]}")
ST=$(cpu_seconds $SHADOWTAP read --file "$PCAP" --port $PORT)

awk -v p="$PACKETS" -v x="$EXCHANGES" -v tsh="$TSH" -v st="$ST" 'BEGIN {
  printf "%-34s %10s %14s %14s\n", "reader (CPU seconds, user+sys)", "seconds", "packets/s", "exchanges/s";
  printf "%-34s %10.3f %14.0f %14.0f\n", "tshark HTTP/2 dissector", tsh, p/tsh, x/tsh;
  printf "%-34s %10.3f %14.0f %14.0f\n", "shadowtap read", st, p/st, x/st;
  printf "shadowtap vs tshark: %.1fx exchanges per CPU-second\n", tsh/st;
}' | tee "$OUT/h2-read-bench.txt"

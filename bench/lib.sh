# Shared helpers for the bench scripts (sourced). Everything stays on loopback.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$ROOT/bench/out}
mkdir -p "$OUT"
SHADOWTAP="node ${SHADOWTAP_NODE_FLAGS:-} $ROOT/dist/src/cli/main.js"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# start_nginx NAME PORT: a one-worker nginx answering a small JSON body on 127.0.0.1:PORT.
# With ACCESS_LOG=path it logs every request there (the ground truth of what it served); with
# LISTEN_OPTS=http2 it speaks HTTP/2 cleartext (h2c, prior knowledge) only.
start_nginx() {
  local name=$1 port=$2 dir="$OUT/nginx-$1"
  mkdir -p "$dir"
  cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log ${ACCESS_LOG:-off};
  keepalive_requests 1000000;
  client_body_temp_path $dir/body;
  server {
    listen 127.0.0.1:$port reuseport backlog=4096 ${LISTEN_OPTS:-};
    location / { default_type application/json; return 200 '{"ok":true,"name":"$name"}'; }
  }
}
CONF
  nginx -c "$dir/nginx.conf" -g 'daemon off;' &
  PIDS+=($!)
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && return 0; sleep 0.1; done
  echo "nginx $name did not start" >&2; return 1
}

# cpu_seconds CMD...: runs CMD, prints user+sys CPU seconds of it (stdout of CMD discarded).
cpu_seconds() {
  local TIMEFORMAT='%U %S'
  { time "$@" >/dev/null 2>"$OUT/last.err"; } 2>&1 | awk '{printf "%.3f\n", $1 + $2}'
}

# utime+stime of a process, all its threads, in clock ticks (0 once it is gone).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# gor_file PCAP PORT MODE OUT: GoReplay ($GOR) over a pcap; it never exits at EOF, so it is
# stopped once its CPU time and its output file (OUT) stand still for 2 s. Prints its CPU
# seconds at that point.
gor_file() {
  local pcap=$1 port=$2 mode=$3 out=$4 pid last=-1 now same=0 ticks=0
  "$GOR" --input-raw-engine pcap_file --input-raw "$pcap:$port" "$mode" >"$out" 2>"$out.err" &
  pid=$!
  while kill -0 $pid 2>/dev/null; do
    sleep 0.25
    now="$(cpu_ticks $pid):$(stat -c %s "$out")"
    if [ "$now" = "$last" ]; then same=$((same + 1)); [ $same -ge 8 ] && break; else same=0; ticks=${now%%:*}; fi
    last=$now
  done
  kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
  awk -v t=$ticks -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.3f\n", t / hz }'
}

# gor_requests FILE: requests in GoReplay's --output-stdout (each is a "1 <id> <start ns>
# <latency ns>" line, then the request line).
gor_requests() {
  awk '{ sub(/\r$/, "") } prev ~ /^1 [0-9a-f]+ [0-9]+ [0-9]+$/ && /^[A-Z]+ [^ ]+ HTTP\/1\.[01]$/ { n++ } { prev = $0 } END { print n + 0 }' "$1"
}

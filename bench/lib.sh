# Shared helpers for the bench scripts (sourced). Everything stays on loopback.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$ROOT/bench/out}
mkdir -p "$OUT"
SHADOWTAP="node $ROOT/dist/src/cli/main.js"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# start_nginx NAME PORT: a one-worker nginx answering a small JSON body on 127.0.0.1:PORT.
# With ACCESS_LOG=path it logs every request there (the ground truth of what it served).
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
    listen 127.0.0.1:$port reuseport backlog=4096;
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

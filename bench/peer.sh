#!/usr/bin/env bash
# Side by side with a peer (issue 11, "Measured side by side"): shadowtap against GoReplay 1.2.0,
# live on loopback and offline on one pcap, in one command.
#
# Usage: GOREPLAY_GIT=/path/to/goreplay.git bash bench/peer.sh [seconds-per-rung] [rates...]
#        e.g. bash bench/peer.sh 8 5000 10000 15000 max        (root; wrk, nginx, tcpdump, tshark)
#
# GoReplay is built at run time OUTSIDE the repository, in $PEER_DIR (default
# /var/tmp/shadowtap-peer), only when $PEER_DIR/goreplay/gor is not there yet:
#   GOREPLAY_GIT  a git directory holding GoReplay's public history (github.com/buger/goreplay,
#                 e.g. a bare clone or the agent's fetched snapshot .../buger+goreplay/repo);
#                 `git archive v1.2.0` of it is unpacked into $PEER_DIR/goreplay/src.
#   Built with Debian's golang-go (apt-get install -y golang-go when `go` is missing) from the
#   modules vendored in that tag: GOFLAGS=-mod=vendor GOPROXY=off, so nothing is downloaded;
#   `-tags netgo` as in GoReplay's Makefile (release-bin); the main package is the repo root;
#   cgo links Debian's libpcap (libpcap-dev). Nothing of GoReplay lands in this repository.
#   Without GOREPLAY_GIT and without a built binary the GoReplay rows are skipped (SKIP_GOR=1 does
#   that on purpose).
#
# Live (the ladder): for every rate (paced like live.sh: wrk -t2 -c200 with a per-request delay;
# "max" = flat out) and every tool, a fresh production nginx and shadow nginx (one worker each,
# access logs = ground truth) on 127.0.0.1, the mirror started, warmed up with single requests
# until the shadow has seen one (those are subtracted), then wrk for the rung, then a drain wait
# until the shadow log stops growing (at most 10 s). Tools, in an order rotated by one per rung so
# load drift hits all alike:
#   none      no mirror
#   st        shadowtap defaults: run -i lo -p PROD -s http://127.0.0.1:SHADOW --out DIR
#             (with comparison; the shadow answers "name":"shadow" where production says "prod",
#             so every exchange differs and is diffed)
#   st-nocmp  the same with --no-compare and no --out
#   st-unit   st at the CPU weight its systemd unit gives it (CPUWeight=20 against production's
#             default 100): nice 7, whose scheduler weight (215) is about a fifth of nice 0's (1024)
#   st-pipe   st with --pipeline $PIPE (PIPE=8 by default): the oldest connection with room takes
#             each request, so the requests of one turn share a write (answers to requests written
#             behind an unanswered one are compared but not timed); only with PEER_TOOLS
#   st-w1     st with --workers 1: replay and comparison on a worker thread (the default, 0, keeps
#             them on the capture thread)
#   gor       gor --input-raw lo:PROD --output-http http://127.0.0.1:SHADOW   (GoReplay defaults;
#             the capture names lo, like shadowtap's -i lo: `:PROD` would open every interface)
#   gor-w256  the same with --output-http-workers 256
# Columns: wrk's req/s; requests production served and the shadow got (access-log lines, minus
# warm-up); shadow/production in %; the mirror process's CPU seconds (utime+stime of all its
# threads from /proc/PID/stat) from the end of warm-up to the end of the drain, per 1,000
# requests the shadow got; its peak RSS (VmHWM); for shadowtap its own seen/replayed/not-replayed
# (summary JSON, over the process's life: the warm-up requests and any WARM_SECONDS load
# included). GoReplay keeps no such count, so what it lost shows only in the shadow's log. mainCpu (shadowtap) is the CPU seconds of its
# main thread alone over the same span: capture, parsing and the policy; without --workers, replay
# and comparison too. The CPU covers capturing and parsing every
# production request, so a mirror that sheds load pays more per request that reached the shadow.
# With comparison, p50 and p99 are the report's latency estimates in µs, production / shadow, both
# timed from the capture (the shadow's only from answers not queued behind another, with st-pipe).
#
# Offline: the pcap of bench/read.sh (bench/out/read-bench.pcap, port 20080; read.sh is run first
# when it is missing), read by `shadowtap read` (JSON line per exchange to /dev/null), tshark's HTTP
# dissector and GoReplay (--input-raw-engine pcap_file --input-raw FILE:20080 --output-null).
# CPU seconds of one process each; requests found counted in a second run of each (shadowtap's
# lines, tshark's http.request rows, GoReplay's --output-stdout request payloads). GoReplay 1.2.0
# does not exit at the end of a pcap file: the script stops it once its CPU time and output have
# not moved for 2 s and takes its CPU time from /proc at that point.
#
# WARM_SECONDS=N (default 0): before the counted rung, each mirror carries N seconds of the rung's
# own load, then the drain; counts and CPU start after it. A fresh node process spends a second or
# so of CPU on V8's compiler threads while its code gets hot, once per start; with 8-s rungs that
# is a fifth to a third of what the counted window shows. N > 0 measures the steady state a
# long-running daemon is in (GoReplay is warmed the same way).
#
# ROUNDS=N (default 1) runs the whole ladder N times (the tools' order rotating on) and adds a
# table of medians and ranges per rung and tool, with each tool's CPU per mirrored request as a
# ratio to GoReplay (256 workers)'s in the same round: the box's drift between runs is several
# tens of per cent, so one run's ratio is only a sample.
#
# ST_ARGS="..." adds options to every shadowtap row; SHADOWTAP_NODE_FLAGS="..." flags for its node
# (e.g. --cpu-prof --cpu-prof-dir=DIR, which NODE_OPTIONS refuses).
# SKIP_OFFLINE=1 runs only the ladder; PEER_TOOLS="st gor" runs only those tools of it.
# Tables are printed and written to bench/out/peer.txt (raw rows: bench/out/peer-live.tsv).
source "$(dirname "$0")/lib.sh"
SECONDS_PER_RATE=${1:-10}; shift || true
RATES=${*:-"5000 10000 15000 20000 max"}
PROD=20190; SHADOW=20191
PIPE=${PIPE:-8}
ST_ARGS=${ST_ARGS:-}
WARM_SECONDS=${WARM_SECONDS:-0}
ROUNDS=${ROUNDS:-1}
CONNS=200
READ_PORT=20080
PCAP=$OUT/read-bench.pcap
PEER_DIR=${PEER_DIR:-/var/tmp/shadowtap-peer}
GOR_TAG=v1.2.0
GOR_DIR=$PEER_DIR/goreplay
GOR=$GOR_DIR/gor
REPORT=$OUT/peer.txt
HZ=$(getconf CLK_TCK)

log() { echo "$*" >&2; }

# ---------------------------------------------------------------- GoReplay, built outside the repo
build_gor() {
  [ "${SKIP_GOR:-0}" = 1 ] && return 1
  [ -x "$GOR" ] && return 0
  if [ -z "${GOREPLAY_GIT:-}" ]; then
    log "GoReplay: $GOR is not built and GOREPLAY_GIT is not set; GoReplay rows skipped"; return 1
  fi
  local commit
  commit=$(git --git-dir="$GOREPLAY_GIT" rev-parse --verify "$GOR_TAG^{commit}") || {
    log "GoReplay: no tag $GOR_TAG in $GOREPLAY_GIT"; return 1; }
  if ! command -v go >/dev/null; then
    log "GoReplay: installing golang-go"
    DEBIAN_FRONTEND=noninteractive apt-get install -y golang-go >"$OUT/peer-apt.log" 2>&1 || {
      log "GoReplay: apt-get install golang-go failed (see $OUT/peer-apt.log)"; return 1; }
  fi
  rm -rf "$GOR_DIR/src"; mkdir -p "$GOR_DIR/src"
  git --git-dir="$GOREPLAY_GIT" archive "$commit" | tar -x -C "$GOR_DIR/src"
  local cmd=(go build -mod=vendor -tags netgo -ldflags "-X main.VERSION=${GOR_TAG#v}" -o "$GOR" .)
  log "GoReplay: building $GOR_TAG ($commit) with $(go version)"
  if ! (cd "$GOR_DIR/src" && env GOFLAGS=-mod=vendor GOPROXY=off GOSUMDB=off \
        GOPATH="$PEER_DIR/gopath" GOCACHE="$PEER_DIR/gocache" "${cmd[@]}") >"$GOR_DIR/build.log" 2>&1; then
    log "GoReplay: build failed, see $GOR_DIR/build.log"; tail -20 "$GOR_DIR/build.log" >&2; rm -f "$GOR"; return 1
  fi
  printf 'tag %s\ncommit %s\n%s\nbuild: cd %s && GOFLAGS=-mod=vendor GOPROXY=off %s\n' \
    "$GOR_TAG" "$commit" "$(go version)" "$GOR_DIR/src" "${cmd[*]}" >"$GOR_DIR/BUILD"
}
HAVE_GOR=0
if build_gor; then HAVE_GOR=1; fi

# ---------------------------------------------------------------- helpers
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
# CPU ticks of the main thread alone (capture, parsing, the traffic policy; with --workers 0
# replay and comparison too): its task has the process's id.
main_ticks() { awk '{print $14 + $15}' "/proc/$1/task/$1/stat" 2>/dev/null || echo 0; }
peak_rss_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

start_mirror() {   # start_mirror TOOL -> sets MIRROR (pid, empty for none)
  local tool=$1 log="$OUT/peer-$1.log"
  MIRROR=
  rm -rf "$OUT/peer-cmp" "$OUT/peer-summary.json"
  case $tool in
    none) return 0 ;;
    st)       $SHADOWTAP run -i lo -p $PROD -s http://127.0.0.1:$SHADOW --out "$OUT/peer-cmp" $ST_ARGS \
                --summary-json "$OUT/peer-summary.json" >"$log" 2>&1 & ;;
    st-nocmp) $SHADOWTAP run -i lo -p $PROD -s http://127.0.0.1:$SHADOW --no-compare $ST_ARGS \
                --summary-json "$OUT/peer-summary.json" >"$log" 2>&1 & ;;
    st-unit)  nice -n 7 $SHADOWTAP run -i lo -p $PROD -s http://127.0.0.1:$SHADOW --out "$OUT/peer-cmp" $ST_ARGS \
                --summary-json "$OUT/peer-summary.json" >"$log" 2>&1 & ;;
    st-pipe)  $SHADOWTAP run -i lo -p $PROD -s http://127.0.0.1:$SHADOW --out "$OUT/peer-cmp" --pipeline $PIPE $ST_ARGS \
                --summary-json "$OUT/peer-summary.json" >"$log" 2>&1 & ;;
    st-w1)    $SHADOWTAP run -i lo -p $PROD -s http://127.0.0.1:$SHADOW --out "$OUT/peer-cmp" --workers 1 $ST_ARGS \
                --summary-json "$OUT/peer-summary.json" >"$log" 2>&1 & ;;
    gor)      "$GOR" --input-raw lo:$PROD --output-http http://127.0.0.1:$SHADOW >"$log" 2>&1 & ;;
    gor-w256) "$GOR" --input-raw lo:$PROD --output-http http://127.0.0.1:$SHADOW \
                --output-http-workers 256 >"$log" 2>&1 & ;;
  esac
  MIRROR=$!
}

# warm_up: single requests to production until the shadow has one (the mirror is capturing and
# sending), then waits for the shadow to have all of them; prints "prod shadow" counts to subtract.
warm_up() {
  local p s
  for _ in $(seq 60); do
    curl -s -o /dev/null "http://127.0.0.1:$PROD/warmup" || true
    sleep 0.5
    [ "$(lines "$OUT/peer-shadow.log")" -gt 0 ] && break
  done
  for _ in $(seq 20); do
    p=$(lines "$OUT/peer-prod.log"); s=$(lines "$OUT/peer-shadow.log")
    [ "$s" -ge "$p" ] && break; sleep 0.25
  done
  sleep 0.5
  echo "$(lines "$OUT/peer-prod.log") $(lines "$OUT/peer-shadow.log")"
}

# drain: wait until the shadow's log has not grown for 1 s (at most 10 s; then says so).
drain() {
  local last=-1 now same=0
  for _ in $(seq 40); do
    now=$(lines "$OUT/peer-shadow.log")
    if [ "$now" = "$last" ]; then same=$((same + 1)); [ $same -ge 4 ] && return 0; else same=0; fi
    last=$now; sleep 0.25
  done
  log "drain: the shadow's log still grew after 10 s${1:+ ($1)}"
}

run_one() {   # run_one TOOL RATE -> appends a row to peer-live.tsv
  local tool=$1 rate=$2 base_p=0 base_s=0 c0=0 c1=0 m0=0 m1=0 rss=0 script
  rm -f "$OUT/peer-prod.log" "$OUT/peer-shadow.log"
  PIDS=()
  ACCESS_LOG="$OUT/peer-prod.log" start_nginx prod $PROD
  ACCESS_LOG="$OUT/peer-shadow.log" start_nginx shadow $SHADOW
  if [ "$rate" = max ]; then
    script=/dev/null
  else
    script="$OUT/peer-pace.lua"   # each connection waits delay ms between requests
    awk -v c=$CONNS -v r="$rate" 'BEGIN { printf "function delay() return %d end\n", c * 1000 / r - 1 }' >"$script"
  fi
  start_mirror "$tool"
  if [ -n "$MIRROR" ]; then
    read -r base_p base_s < <(warm_up)
    if [ "$WARM_SECONDS" -gt 0 ]; then
      # Steady state: the rung's own load first, uncounted (a JIT compiles what it runs then).
      wrk -t2 -c$CONNS -d"${WARM_SECONDS}s" -s "$script" "http://127.0.0.1:$PROD/api/items?id=7" >/dev/null
      drain "after the warm-up load: what the mirror still sends counts in the rung"
      base_p=$(lines "$OUT/peer-prod.log"); base_s=$(lines "$OUT/peer-shadow.log")
    fi
    c0=$(cpu_ticks $MIRROR); m0=$(main_ticks $MIRROR)
  fi
  wrk -t2 -c$CONNS -d"${SECONDS_PER_RATE}s" -s "$script" "http://127.0.0.1:$PROD/api/items?id=7" >"$OUT/peer-wrk.txt"
  local load; load=$(loadavg)
  if [ -n "$MIRROR" ]; then
    drain
    c1=$(cpu_ticks $MIRROR); m1=$(main_ticks $MIRROR); rss=$(peak_rss_kb $MIRROR)
    kill -TERM $MIRROR 2>/dev/null || true; wait $MIRROR 2>/dev/null || true
  else
    sleep 1
  fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
  local rps prod shadow st="-"
  rps=$(awk '/Requests\/sec:/ {printf "%d", $2}' "$OUT/peer-wrk.txt")
  prod=$(( $(lines "$OUT/peer-prod.log") - base_p ))
  shadow=$(( $(lines "$OUT/peer-shadow.log") - base_s ))
  [ "$tool" = none ] && shadow=0
  if [ -s "$OUT/peer-summary.json" ]; then
    st=$(node -e '
      const s = require(process.argv[1]);
      const nr = Object.entries(s.notReplayed || {}).map(([k, v]) => k + "=" + v).join(",") || "-";
      const busy = s.compare ? `,diffed=${s.compare.exchanges - s.compare.busy},busy=${s.compare.busy}` : "";
      console.log(`seen=${s.seen},replayed=${s.replayed},kdrop=${s.capture.kernelDropped},qdrop=${s.capture.queueDropped}${busy},mainCpu=${process.argv[2]},notReplayed:${nr}`);
    ' "$OUT/peer-summary.json" "$(awk -v t=$((m1 - m0)) -v hz=$HZ 'BEGIN { printf "%.2f", t / hz }')")
  fi
  if [ -s "$OUT/peer-cmp/results.json" ]; then   # latency p50/p99 in µs, production / shadow (report's own estimates)
    st="$st,$($SHADOWTAP report "$OUT/peer-cmp" --json 2>/dev/null | node -e '
      const e = JSON.parse(require("fs").readFileSync(0, "utf8")).targets[0].endpoints.find((x) => x.key === "GET /api/items");
      const q = (side, k) => (side && side[k] != null ? side[k] : "-");
      console.log(e ? `p50=${q(e.production, "p50")}/${q(e.shadow, "p50")},p99=${q(e.production, "p99")}/${q(e.shadow, "p99")}` : "p50=-");
    ' || echo "p50=?")"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rate" "$tool" "$rps" "$prod" "$shadow" \
    "$(awk -v t=$((c1 - c0)) -v hz=$HZ 'BEGIN { printf "%.2f", t / hz }')" "$rss" "$load" "$st" "$ROUND" >>"$OUT/peer-live.tsv"
}

# ---------------------------------------------------------------- live ladder
TOOLS=(none st st-w1 st-nocmp)
[ $HAVE_GOR = 1 ] && TOOLS+=(gor gor-w256)
[ -n "${PEER_TOOLS:-}" ] && read -r -a TOOLS <<<"$PEER_TOOLS"
: >"$OUT/peer-live.tsv"
LOAD_START=$(loadavg)
i=0
for ROUND in $(seq "$ROUNDS"); do
  for rate in $RATES; do
    n=${#TOOLS[@]}
    order=()
    # (+ ROUND: with as many rungs as tools, i alone would give a rung the same order each round)
    for j in $(seq 0 $((n - 1))); do order+=("${TOOLS[$(( (i + ROUND - 1 + j) % n ))]}"); done
    log "round $ROUND, rung $rate: ${order[*]}"
    for tool in "${order[@]}"; do run_one "$tool" "$rate"; done
    i=$((i + 1))
  done
done
LOAD_END=$(loadavg)

# ---------------------------------------------------------------- offline, one pcap
if [ "${SKIP_OFFLINE:-0}" != 1 ]; then
[ -s "$PCAP" ] || bash "$ROOT/bench/read.sh" >&2

log "offline: $PCAP"
ST_N=$($SHADOWTAP read --file "$PCAP" --port $READ_PORT | wc -l)
TSH_N=$(tshark -r "$PCAP" -d tcp.port==$READ_PORT,http -Y http.request -T fields -e http.request.uri 2>/dev/null | wc -l)
ST_CPU=$(cpu_seconds $SHADOWTAP read --file "$PCAP" --port $READ_PORT)
TSH_CPU=$(cpu_seconds tshark -r "$PCAP" -d tcp.port==$READ_PORT,http -Y http.request -T fields -e http.request.method -e http.request.uri)
GOR_N=-; GOR_CPU=-
if [ $HAVE_GOR = 1 ]; then
  GOR_CPU=$(gor_file "$PCAP" $READ_PORT --output-null "$OUT/peer-gor.out")
  gor_file "$PCAP" $READ_PORT --output-stdout "$OUT/peer-gor.out" >/dev/null
  GOR_N=$(gor_requests "$OUT/peer-gor.out")
  rm -f "$OUT/peer-gor.out"
fi
PACKETS=$(capinfos -c -M "$PCAP" | awk '/Number of packets/ {print $NF}')
fi

# ---------------------------------------------------------------- tables
{
  echo "# bench/peer.sh $SECONDS_PER_RATE $RATES   ($(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, node $(node --version))"
  if [ $HAVE_GOR = 1 ] && [ -f "$GOR_DIR/BUILD" ]; then sed 's/^/# GoReplay /' "$GOR_DIR/BUILD"; fi
  echo "# load average (1/5/15 min) at start $LOAD_START, at end of the ladder $LOAD_END"
  echo
  echo "## Live: wrk -t2 -c$CONNS -> production nginx :$PROD -> mirror -> shadow nginx :$SHADOW, ${SECONDS_PER_RATE}s per rung"
  [ "$WARM_SECONDS" -gt 0 ] && echo "   each mirror first carried ${WARM_SECONDS}s of the rung's own load, not counted (steady state)"
  echo "   shadow % = shadow nginx's requests / production nginx's requests; CPU s per 1k = mirror process utime+stime / (shadow got / 1000)"
  awk -F'\t' '
    BEGIN { printf "%-6s %-9s %9s %9s %9s %8s %8s %11s %9s %-15s %s\n", "rung", "tool", "wrk_req/s", "prod", "shadow", "shadow%", "cpu_s", "cpu_s/1k", "peakRSS", "load1/5/15", "shadowtap own count" }
    { pct = ($2 == "none") ? "-" : ($4 ? sprintf("%.1f", 100 * $5 / $4) : "-")
      per = ($2 == "none" || !$5) ? "-" : sprintf("%.3f", $6 / ($5 / 1000))
      rss = ($2 == "none") ? "-" : sprintf("%.0fMB", $7 / 1024)
      cpu = ($2 == "none") ? "-" : $6
      if ($1 != last && NR > 1) print ""
      last = $1
      printf "%-6s %-9s %9d %9d %9s %8s %8s %11s %9s %-15s %s\n", $1, $2, $3, $4, ($2 == "none") ? "-" : $5, pct, cpu, per, rss, $8, $9 }
  ' "$OUT/peer-live.tsv"
  if [ "$ROUNDS" -gt 1 ]; then
    echo
    echo "## Over $ROUNDS rounds: median [lowest-highest] per rung and tool"
    echo "   cpu/1k ratio = the tool's CPU s per 1k mirrored / gor-w256's at the same rung in the same round"
    awk -F'\t' '
      function sorted(list,    n, a, k, j, t) {   # "x y z" -> a[1..n] ascending, returns n
        n = split(list, a, " "); for (k = 2; k <= n; k++) { t = a[k]; for (j = k - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
        for (k = 1; k <= n; k++) S[k] = a[k]; return n }
      function summary(list, fmt,    n) {
        if (list == "") return "-"
        n = sorted(list)
        return sprintf(fmt " [" fmt "-" fmt "]", (n % 2) ? S[(n + 1) / 2] : (S[n / 2] + S[n / 2 + 1]) / 2, S[1], S[n]) }
      $2 != "none" && $5 > 0 { per[$1 SUBSEP $2 SUBSEP $10] = $6 / ($5 / 1000) }
      { key = $1 SUBSEP $2; if (!(key in seen)) { seen[key] = 1; order[++n] = key }
        rps[key] = rps[key] " " $3
        if ($2 != "none" && $4 > 0) pct[key] = pct[key] " " 100 * $5 / $4
        if ($2 != "none" && $5 > 0) cpu[key] = cpu[key] " " $6 / ($5 / 1000)
        rounds[$1 SUBSEP $2 SUBSEP $10] = 1 }
      END {
        for (r in rounds) { split(r, k, SUBSEP); g = k[1] SUBSEP "gor-w256" SUBSEP k[3]
          if ((r in per) && (g in per) && per[g] > 0) ratio[k[1] SUBSEP k[2]] = ratio[k[1] SUBSEP k[2]] " " per[r] / per[g] }
        printf "%-6s %-9s %-24s %-26s %-26s %s\n", "rung", "tool", "wrk_req/s", "shadow%", "cpu_s/1k", "cpu/1k ratio to gor-w256"
        for (i = 1; i <= n; i++) { split(order[i], k, SUBSEP)
          if (k[1] != last && i > 1) print ""
          last = k[1]
          printf "%-6s %-9s %-24s %-26s %-26s %s\n", k[1], k[2], summary(rps[order[i]], "%.0f"), summary(pct[order[i]], "%.1f"),
            summary(cpu[order[i]], "%.3f"), (k[2] == "gor-w256") ? "-" : summary(ratio[order[i]], "%.2f") } }
    ' "$OUT/peer-live.tsv"
  fi
  [ "${SKIP_OFFLINE:-0}" = 1 ] && exit 0
  echo
  echo "## Offline: $PCAP ($PACKETS packets, port $READ_PORT), one process each, CPU s = user+sys"
  awk -v st="$ST_CPU" -v stn="$ST_N" -v tsh="$TSH_CPU" -v tshn="$TSH_N" -v gor="$GOR_CPU" -v gorn="$GOR_N" 'BEGIN {
    printf "%-52s %8s %10s %12s %9s\n", "reader", "CPU s", "requests", "requests/s", "vs tshark";
    tr = tshn / tsh
    printf "%-52s %8.3f %10d %12.0f %8.2fx\n", "tshark HTTP dissector (-Y http.request -T fields)", tsh, tshn, tr, 1;
    printf "%-52s %8.3f %10d %12.0f %8.2fx\n", "shadowtap read (JSON line per exchange)", st, stn, stn / st, (stn / st) / tr;
    if (gor != "-") {
      printf "%-52s %8.3f %10d %12.0f %8.2fx\n", "GoReplay 1.2.0 pcap_file --output-null", gor, gorn, gorn / gor, (gorn / gor) / tr;
      printf "shadowtap vs GoReplay per CPU-second: %.2fx\n", (stn / st) / (gorn / gor);
    }
  }'
  echo "(requests: shadowtap = exchanges (request+response) written, tshark = http.request rows, GoReplay = requests printed by a second --output-stdout run)"
} | tee "$REPORT"

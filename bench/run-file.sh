#!/usr/bin/env bash
# A/B CPU cost of two shadowtap builds on the same pcap, interleaved so that load drift on the
# box hits both alike. Three measurements, each run once per build per round (the order of the
# two builds flips every round: A B, B A, A B, ...):
#   read       read --file PCAP --port 20080                       (parse only; stdout to /dev/null)
#   replay     run --file PCAP ... --shadow NGINX --no-compare     (parse + replay every request)
#   compare    run --file PCAP ... --shadow NGINX --out FRESH_DIR  (parse + replay + comparison)
# Cost is user+sys CPU seconds of the shadowtap process (/usr/bin/time), also per request:
# per exchange found (read) or per request replayed (run). A pcap run waits for the shadow, so it
# replays every request; the replayed counts of both builds are checked to be equal.
#
# Usage: bash bench/run-file.sh BEFORE_DIR AFTER_DIR [rounds]      (rounds default 5)
#   BEFORE_DIR, AFTER_DIR: built checkouts (DIR/dist/src/cli/main.js; the capture addon found
#   the way DIR's src/capture/native.ts finds it: DIR/native/build/Release/shadowtap_pcap.node,
#   a symlink to an existing build will do, or SHADOWTAP_PCAP_ADDON for both). E.g.
#     git worktree add /tmp/st-before def9bc4 && cd /tmp/st-before &&
#       ln -s /work/main/node_modules node_modules && node_modules/.bin/tsc -p . ;
#       mkdir -p native/build && ln -s /work/main/native/build/Release native/build/Release
#   The pcap is bench/out/read-bench.pcap (the one bench/read.sh records; recorded here the same
#   way if missing). Needs nginx (the shadow), and wrk + tcpdump only to record the pcap.
#
# Notes on what is measured:
# - A --file source never wire-times (no shadow traffic in a file), so --out adds only the
#   comparison. The comparison only diffs in event-loop idle time (--compare-cpu; the budget is
#   min(share, 0.9 - other loop use)), and reading a file keeps the loop busy, so most exchanges
#   are skipped as 'busy' and how many get diffed depends on timing: the table shows the
#   number diffed and the diffs' own CPU (compare.cpuMs) so the two builds' work can be judged.
# - Per-run rows (with the 1-minute load average at each run's start, the shadow nginx's CPU and
#   the CPU everything else on the box used meanwhile: box - shadowtap - nginx) go to
#   bench/out/run-file-runs.tsv, the table to bench/out/run-file.txt.
source "$(dirname "$0")/lib.sh"
BEFORE=${1:?usage: bash bench/run-file.sh BEFORE_DIR AFTER_DIR [rounds]}
AFTER=${2:?usage: bash bench/run-file.sh BEFORE_DIR AFTER_DIR [rounds]}
ROUNDS=${3:-5}
PORT=20080          # the port read.sh records
SHADOW=20481
PCAP=$OUT/read-bench.pcap
WORK=$OUT/run-file
RUNS=$OUT/run-file-runs.tsv

# SHADOWTAP_* variables are option values to shadowtap: keep the caller's out of both builds
# (except the addon path, which applies to both alike).
for v in $(env | sed -n 's/^\(SHADOWTAP_[A-Z0-9_]*\)=.*/\1/p'); do
  [ "$v" = SHADOWTAP_PCAP_ADDON ] || unset "$v"
done

declare -A DIR=([before]=$(cd "$BEFORE" && pwd) [after]=$(cd "$AFTER" && pwd))
for b in before after; do
  main=${DIR[$b]}/dist/src/cli/main.js
  [ -f "$main" ] || { echo "$b: $main missing (build it: tsc -p ${DIR[$b]})" >&2; exit 1; }
  addon=${SHADOWTAP_PCAP_ADDON:-${DIR[$b]}/native/build/Release/shadowtap_pcap.node}
  [ -f "$addon" ] || { echo "$b: capture addon $addon missing (symlink an existing native/build/Release)" >&2; exit 1; }
  echo "$b: ${DIR[$b]} ($(git -C "${DIR[$b]}" log -1 --format='%h %s' 2>/dev/null | cut -c1-70))"
done

if [ ! -s "$PCAP" ]; then   # as bench/read.sh records it
  start_nginx prod $PORT
  tcpdump -i lo -s 0 -B 262144 -w "$PCAP" "tcp port $PORT" 2>"$OUT/tcpdump.err" &
  TD=$!
  sleep 1
  wrk -t1 -c32 -d8s "http://127.0.0.1:$PORT/api/items?id=1" >"$OUT/wrk-read.txt"
  sleep 0.5; kill -INT $TD; wait $TD || true
  kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true; PIDS=()
fi
PACKETS=$(capinfos -c -M "$PCAP" | awk '/Number of packets/ {print $NF}')
echo "pcap: $PCAP, $PACKETS packets; $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

start_nginx shadow $SHADOW
NGINX=${PIDS[-1]}
mkdir -p "$WORK"
TICK=$(getconf CLK_TCK)
# CPU ticks (user+nice+system+irq+softirq+steal) of the whole box, and of the shadow nginx.
box_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
nginx_ticks() {
  local p t=0
  for p in $NGINX $(cat /proc/$NGINX/task/*/children 2>/dev/null); do
    t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat 2>/dev/null || echo 0)))
  done
  echo $t
}

# one BUILD MEASUREMENT ROUND: runs it, appends a row to $RUNS.
one() {
  local b=$1 m=$2 r=$3 main=${DIR[$1]}/dist/src/cli/main.js
  local sum=$WORK/$m-$b-$r.json log=$WORK/$m-$b-$r.log tm=$WORK/time
  local load box0 ng0; load=$(cut -d' ' -f1 /proc/loadavg)
  rm -f "$sum"
  box0=$(box_ticks); ng0=$(nginx_ticks)
  case $m in
    read) /usr/bin/time -f '%U %S %e' -o "$tm" node "$main" read --file "$PCAP" --port $PORT \
            --summary-json "$sum" >/dev/null 2>"$log" ;;
    replay) /usr/bin/time -f '%U %S %e' -o "$tm" node "$main" run --file "$PCAP" --port $PORT \
            --shadow http://127.0.0.1:$SHADOW --no-compare --stats-interval 0 --admin off \
            --summary-json "$sum" >"$log" 2>&1 ;;
    compare) rm -rf "$WORK/out-$b"
            /usr/bin/time -f '%U %S %e' -o "$tm" node "$main" run --file "$PCAP" --port $PORT \
            --shadow http://127.0.0.1:$SHADOW --stats-interval 0 --admin off \
            --summary-json "$sum" --out "$WORK/out-$b" >"$log" 2>&1 ;;
  esac
  local box=$(( $(box_ticks) - box0 )) ng=$(( $(nginx_ticks) - ng0 ))
  node -e '
    const [sum, m, b, r, load, tick, box, ng, u, s, e] = process.argv.slice(1);
    const j = require(sum);
    // read: exchanges found (requests completed); run: requests replayed.
    const count = m === "read" ? j.http.requests : j.replayed;
    const c = j.compare;
    const row = [r, m, b, (+u + +s).toFixed(2), u, s, e, count, j.seen,
      c ? c.exchanges - c.busy : "-", c ? Math.round(c.cpuMs) : "-", j.error ? "error" : "-", load,
      (ng / tick).toFixed(2), Math.max(0, box / tick - ng / tick - u - s).toFixed(2)];
    console.log(row.join("\t"));
  ' "$sum" "$m" "$b" "$r" "$load" "$TICK" "$box" "$ng" $(cat "$tm") >>"$RUNS"
  tail -1 "$RUNS"
}

printf 'round\tmeasurement\tbuild\tcpu_s\tuser_s\tsys_s\twall_s\tcount\tseen\tdiffed\tdiff_cpu_ms\terror\tload1\tnginx_cpu_s\tothers_cpu_s\n' | tee "$RUNS"
# Warm-up (page cache, disk): one untimed read per build.
for b in before after; do node "${DIR[$b]}/dist/src/cli/main.js" read --file "$PCAP" --port $PORT >/dev/null 2>&1; done
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then order="before after"; else order="after before"; fi
  for m in read replay compare; do
    for b in $order; do one "$b" "$m" "$r"; done
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").slice(1).map((l) => l.split("\t"));
  const med = (a) => { const s = [...a].sort((x, y) => x - y), n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
  const f = (x, d = 2) => x.toFixed(d);
  const out = [];
  out.push(["measurement", "build", "n", "cpu_s median", "min", "max", "µs/req median", "min", "max", "count(s)", "diffed median", "diff cpu ms"].join(" | "));
  const odd = [];
  for (const m of ["read", "replay", "compare"]) {
    const per = {};
    for (const b of ["before", "after"]) {
      const rs = rows.filter((x) => x[1] === m && x[2] === b);
      const cpu = rs.map((x) => +x[3]), us = rs.map((x) => +x[3] * 1e6 / +x[7]);
      const counts = [...new Set(rs.map((x) => x[7]))];
      const diffed = rs.map((x) => +x[9]).filter((x) => !isNaN(x)), dcpu = rs.map((x) => +x[10]).filter((x) => !isNaN(x));
      per[b] = { cpu, us, counts, rs };
      out.push([m, b, rs.length, f(med(cpu)), f(Math.min(...cpu)), f(Math.max(...cpu)), f(med(us)), f(Math.min(...us)), f(Math.max(...us)),
        counts.join(","), diffed.length ? med(diffed) : "-", dcpu.length ? med(dcpu) : "-"].join(" | "));
      if (rs.some((x) => x[7] !== x[8])) odd.push(`${m} ${b}: count differs from requests seen in some run`);
      if (rs.some((x) => x[11] !== "-")) odd.push(`${m} ${b}: a run ended with an error`);
    }
    const a = per.after, z = per.before;
    // paired: each round compares the two runs made next to each other.
    const paired = z.rs.map((x, i) => a.rs[i] && +a.rs[i][3] / +x[3]);
    out.push([m, "after/before", "", f(med(a.cpu) / med(z.cpu), 3), "", "", f(med(a.us) / med(z.us), 3), "", "",
      `paired per round: median ${f(med(paired), 3)}, ${f(Math.min(...paired), 3)}..${f(Math.max(...paired), 3)}`, "", ""].join(" | "));
    if (a.counts.join() !== z.counts.join()) odd.push(`${m}: counts differ between builds (before ${z.counts}, after ${a.counts})`);
  }
  const loads = rows.map((x) => +x[12]), others = rows.map((x) => +x[14] / +x[6]);
  out.push(`load average (1 min) at run starts: median ${f(med(loads))}, ${f(Math.min(...loads))}..${f(Math.max(...loads))}`);
  out.push(`CPU used by other processes during a run (box - shadowtap - shadow nginx), cores: median ${f(med(others))}, ${f(Math.min(...others))}..${f(Math.max(...others))}`);
  for (const o of odd) out.push("ODD: " + o);
  console.log(out.join("\n"));
' "$RUNS" | tee "$OUT/run-file.txt"
rm -rf "$WORK"/out-before "$WORK"/out-after

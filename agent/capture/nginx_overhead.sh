#!/usr/bin/env bash
# Measures what the capture probes cost nginx under wrk (the performance budget in design.md):
# nginx (1 worker, 48-byte JSON) on 127.0.0.1, `wrk -t1 -c20`, interleaved rounds without probes,
# with tracepoints and with raw tracepoints, tracing every process on the host. Prints req/s and
# CPU per request (nginx worker + wrk + agent), which the other jobs on a shared machine disturb
# less than req/s does. Run as root from the workspace:
#   bazel build //agent/capture:capture_benchmark && agent/capture/nginx_overhead.sh [rounds] [secs]
# MODES picks the rounds' modes (default "none tracepoints raw_tracepoints"); a mode with the
# suffix "+nomatch" attaches with a port filter (port 1) that matches none of nginx's traffic:
#   MODES="none raw_tracepoints+nomatch" agent/capture/nginx_overhead.sh 3 4
# and the suffix "@old" runs $BENCH_OLD (an earlier build, probes included) instead of $BENCH, so
# a before/after comparison comes from one interleaved run:
#   BENCH_OLD=/tmp/bench_before MODES="none raw_tracepoints+nomatch@old raw_tracepoints+nomatch" ...
set -euo pipefail
rounds=${1:-3}
secs=${2:-4}
bench=${BENCH:-bazel-bin/agent/capture/capture_benchmark}
dir=$(mktemp -d /tmp/ht_nginx.XXXXXX)
port=${PORT:-18089}
mkdir -p "$dir/logs"
cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$port;
    location / { default_type application/json; return 200 '{"status":"ok","service":"bench","value":12345}'; }
  }
}
CONF
nginx -c "$dir/nginx.conf" -p "$dir" >/dev/null 2>&1 &
master=$!
trap 'kill $master 2>/dev/null; wait $master 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
worker=$(pgrep -P "$master" | head -1)

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# One run: prints "req/s cpu_us_per_request agent_us_per_request nginx_us_per_request".
run() {
  local mode=$1 agent_pid="" before after wrk_out agent_cpu=0 agent_before=0 agent_after=0
  if [[ $mode != none ]]; then
    local filter=() binary=$bench attach=${mode%@old}
    [[ $mode == *@old ]] && binary=${BENCH_OLD:?BENCH_OLD names the earlier build}
    [[ $attach == *+nomatch ]] && filter=(--filter_ports=1)
    "$binary" --hold=$((secs + 2)) --mode="${attach%+nomatch}" "${filter[@]}" >"$dir/agent.out" 2>&1 &
    agent_pid=$!
    # Loaded and attached (the verifier may take seconds on a busy machine); its CPU is counted
    # only while wrk runs, not the verifier's.
    for _ in $(seq 300); do grep -q '^attached' "$dir/agent.out" && break; sleep 0.1; done
    grep -q '^attached' "$dir/agent.out" || { cat "$dir/agent.out" >&2; exit 1; }
    agent_before=$(ticks "$agent_pid")
  fi
  before=$(ticks "$worker")
  wrk_out=$(/usr/bin/time -f "CPU %U %S" wrk -t1 -c20 -d"${secs}s" "http://127.0.0.1:$port/" 2>&1)
  after=$(ticks "$worker")
  if [[ -n $agent_pid ]]; then
    agent_after=$(ticks "$agent_pid")
    wait "$agent_pid"
    agent_cpu=$(awk -v a="$agent_before" -v b="$agent_after" -v hz="$hz" 'BEGIN {print (b - a) / hz}')
  fi
  local rps requests wrk_cpu
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$wrk_out")
  requests=$(awk '/requests in/ {print $1}' <<<"$wrk_out")
  wrk_cpu=$(awk '/^CPU/ {print $2 + $3}' <<<"$wrk_out")
  awk -v r="$rps" -v n="$requests" -v w="$wrk_cpu" -v a="$agent_cpu" -v t=$((after - before)) \
    -v hz="$hz" 'BEGIN { printf "%.0f %.2f %.2f %.3f\n", r, (t / hz + w + a) * 1e6 / n, a * 1e6 / n, t / hz * 1e6 / n }'
}

read -r -a modes <<<"${MODES:-none tracepoints raw_tracepoints}"
[[ ${modes[0]} == none ]] || { echo "MODES must start with none (the baseline)" >&2; exit 2; }
declare -A rps cpu ngx
for mode in "${modes[@]}"; do rps[$mode]=""; cpu[$mode]=""; ngx[$mode]=""; done
for r in $(seq "$rounds"); do
  for mode in "${modes[@]}"; do
    read -r x y z n < <(run "$mode")
    rps[$mode]+="$x "
    cpu[$mode]+="$y "
    ngx[$mode]+="$n "
    echo "round $r $mode: $x req/s, $y us CPU/request (agent $z, nginx worker $n)" >&2
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
base_rps=$(median <<<"${rps[none]}")
base_cpu=$(median <<<"${cpu[none]}")
base_ngx=$(median <<<"${ngx[none]}")
for mode in "${modes[@]}"; do
  m_rps=$(median <<<"${rps[$mode]}")
  m_cpu=$(median <<<"${cpu[$mode]}")
  m_ngx=$(median <<<"${ngx[$mode]}")
  awk -v m="$mode" -v r="$m_rps" -v c="$m_cpu" -v br="$base_rps" -v bc="$base_cpu" \
    -v g="$m_ngx" -v bg="$base_ngx" \
    'BEGIN { printf "%-24s median %7.0f req/s (ratio %.2f)  %6.2f us CPU/request (ratio %.2f)  nginx %5.3f us/request (ratio %.3f)\n", m, r, r / br, c, bc / c, g, bg / g }'
done

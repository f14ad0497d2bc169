#!/usr/bin/env bash
# Smoke test of the benchmark: `run_bench.py --smoke` (1 round of 2 s, baseline + httptrace all
# to jsonl) must finish and write a CSV with both rows, and httptrace must have recorded some of
# nginx's exchanges. It asserts nothing about speed: CI machines are noisy.
# Usage (from the sh_test): bench_smoke_test.sh RUN_BENCH.py AGENT_BIN CTL_BIN
set -euo pipefail
run_bench=$1 agent=$PWD/$2 ctl=$PWD/$3
# Skips only where BPF cannot load; where capabilities are required (CI) that is a failure.
absent=
[[ $(id -u) -eq 0 ]] || absent="needs root to load BPF programs"
[[ -e /sys/kernel/btf/vmlinux ]] || absent="kernel has no BTF (/sys/kernel/btf/vmlinux)"
if [[ -n $absent ]]; then
  if [[ ${HTTPTRACE_REQUIRE_CAPABILITIES:-} == 1 ]]; then
    echo "FAIL: capability missing where it is required (HTTPTRACE_REQUIRE_CAPABILITIES=1): $absent"
    exit 1
  fi
  echo "SKIP: $absent"
  exit 0
fi
for tool in nginx wrk; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool missing (scripts/setup.sh)"; exit 1; }
done
out=${TEST_TMPDIR:-$(mktemp -d)}/bench-out
/usr/bin/python3 "$run_bench" --smoke --out "$out" --agent-bin "$agent" --ctl-bin "$ctl"

csv=$out/bench.csv
[[ -s $csv ]] || { echo "FAIL: no $csv"; exit 1; }
/usr/bin/python3 - "$csv" <<'PY'
import csv, sys
rows = {r["config"]: r for r in csv.DictReader(open(sys.argv[1]))}
for config in ("baseline", "ht_jsonl"):
    assert config in rows, "no %s row in the CSV: %s" % (config, sorted(rows))
    assert float(rows[config]["rps_median"]) > 0, "%s served nothing" % config
ht = rows["ht_jsonl"]
assert int(ht["served"]) > 0, "nginx logged no request"
assert ht["completeness"] and float(ht["completeness"]) > 0, "httptrace recorded nothing"
assert ht["tracer_cpu_s_per_10k"], "no CPU figure for the tracer"
print("bench smoke: baseline %s req/s, httptrace %s req/s, completeness %s" % (
    rows["baseline"]["rps_median"], ht["rps_median"], ht["completeness"]))
PY
for f in bench.md runs.csv; do [[ -s $out/$f ]] || { echo "FAIL: no $out/$f"; exit 1; }; done
echo PASS

#!/usr/bin/env bash
# Regenerates the plain manifests in deploy/kubernetes/ from the Helm chart with default values.
# With --check, renders them and fails (showing the diff) when the file differs: the test
# //deploy:chart_test runs that, so the manifests cannot drift from the chart.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/deploy/kubernetes/httptrace.yaml
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
{
  echo "# httptrace: plain manifests for clusters without Helm. GENERATED from deploy/helm/httptrace"
  echo "# with default values by scripts/render_manifests.sh; do not edit. Before applying:"
  echo "#   kubectl create namespace httptrace"
  echo "#   kubectl label namespace httptrace pod-security.kubernetes.io/enforce=privileged"
  echo "#   kubectl -n httptrace create secret generic httptrace-tls \\"
  echo "#     --from-file=tls.crt --from-file=tls.key --from-file=ca.crt"
  "$root/deploy/helm/render.sh" -name httptrace -namespace httptrace "$root/deploy/helm/httptrace"
} >"$tmp"
if [[ ${1:-} == --check ]]; then
  if ! diff -u "$out" "$tmp"; then
    echo "deploy/kubernetes/httptrace.yaml differs from the chart: run scripts/render_manifests.sh" >&2
    exit 1
  fi
  exit 0
fi
cp "$tmp" "$out"
echo "wrote $out" >&2

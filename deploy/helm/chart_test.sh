#!/usr/bin/env bash
# Renders the Helm chart (deploy/helm/render: text/template + sprig) with its default values and
# with each value that changes the objects' shape, validates every rendered object and the plain
# manifests against the Kubernetes API schemas (deploy/validate: kubernetes-models), and checks
# that deploy/kubernetes/ equals the chart rendered with default values.
#
# Needs Debian's Go and sprig sources and the npm packages in deploy/validate/node_modules, all
# installed by scripts/setup.sh; it runs outside Bazel's sandbox (tag "local") to find them.
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }

# Runfiles are symlinks into the source tree; resolve them to find deploy/validate/node_modules.
src=$(cd "$(dirname "$(readlink -f deploy/validate/package.json)")/../.." && pwd)
chart=$src/deploy/helm/httptrace
render=$src/deploy/helm/render.sh
validate() { node "$src/deploy/validate/validate.mjs" "$@"; }
[[ -d $src/deploy/validate/node_modules/kubernetes-models ]] ||
  fail "kubernetes-models missing: run scripts/setup.sh (npm ci --prefix deploy/validate)"
command -v go >/dev/null || fail "go missing: run scripts/setup.sh"

work=${TEST_TMPDIR:-$(mktemp -d)}
export RENDER_CACHE_DIR=$work/render-cache

echo "== the renderer's own tests (go test)"
(cd "$src/deploy/helm/render" && GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= \
  GOCACHE="$RENDER_CACHE_DIR/gocache" go test .)

echo "== plain manifests equal the chart with default values"
"$src/scripts/render_manifests.sh" --check

echo "== plain manifests and rendered variants validate"
validate "$src/deploy/kubernetes/httptrace.yaml"
variants=(
  "default:"
  "privileged:-set securityContext.privileged=true"
  "no-tls:-set tls.enabled=false"
  "no-cri:-set cri.enabled=false"
  "crio-hostsocket:-set cri.socket=/var/run/crio/crio.sock -set agent.socketHostPath=/run/httptrace"
  "renamed:-name prod -namespace tracing -set nameOverride=tracer -set tls.secretName=mine"
  "values-file:-f $work/values-file.in"
  "otlp:-f $work/otlp.in"
  "policy:-f $work/policy.in"
)
cat >"$work/policy.in" <<'YAML'
policy:
  enabled: true
  rules:
    - name: platform
      callers: {cert_subjects: ["CN=platform"]}
      verbs: [status, list, capture, export]
    - name: team-a
      callers: {cert_sans: [team-a.example.com]}
      verbs: [status, list, capture]
      namespaces: [team-a]
      bodies: false
      max_body_bytes: 1024
YAML
cat >"$work/otlp.in" <<'YAML'
otlp:
  endpoint: otlps://collector.observability:4317
  namespaces: [shop, payments]
  ports: [8080]
  metricsInterval: 30s
  tls:
    secretName: collector-ca
    clientCert: true
  headersSecret:
    name: collector-auth
YAML
cat >"$work/values-file.in" <<'YAML'
priorityClassName: system-node-critical
podAnnotations:
  example.com/team: observability
agent:
  extraArgs: ["--idle-timeout=5m"]
tolerations:
  - key: dedicated
    operator: Equal
    value: tracing
    effect: NoSchedule
YAML
for variant in "${variants[@]}"; do
  name=${variant%%:*}
  # shellcheck disable=SC2086  # the flags are word lists on purpose
  "$render" ${variant#*:} "$chart" >"$work/$name.yaml"
  validate "$work/$name.yaml"
done

echo "== the objects say what the chart promises"
d=$work/default.yaml
for want in 'hostPID: true' '- --node-name=$(NODE_NAME)' 'fieldPath: spec.nodeName' \
  '- --tls-client-ca=/etc/httptrace/tls/ca.crt' 'clusterIP: None' 'secretName: httptrace-tls' \
  '- operator: Exists' 'privileged: false' '- BPF' '- PERFMON' 'drop: ["ALL"]' \
  '"httptracectl", "--agent", "unix:///run/httptrace/agent.sock", "status"' \
  'path: /sys/kernel/tracing' 'path: /run/containerd/containerd.sock' \
  'automountServiceAccountToken: false'; do
  grep -qF -- "$want" "$d" || fail "default render lacks: $want"
done
# Every added capability carries a comment saying why.
awk '/add:/{on=1; next} on && /^ *- [A-Z_]+$/{ if (prev !~ /#/) { print "uncommented: " $0; bad=1 } }
     on && !/^ *(#|- [A-Z_]+$)/{on=0} {prev=$0} END{exit bad}' "$d" ||
  fail "a capability without a comment"
grep -qF 'privileged: true' "$work/privileged.yaml" || fail "privileged value ignored"
if grep -qF 'capabilities:' "$work/privileged.yaml"; then fail "privileged keeps capabilities"; fi
if grep -qE 'kind: Service$|7443' "$work/no-tls.yaml"; then fail "no-tls still serves TCP"; fi
grep -qF 'name: tracer' "$work/renamed.yaml" && grep -qF 'namespace: tracing' "$work/renamed.yaml" &&
  grep -qF 'secretName: mine' "$work/renamed.yaml" || fail "names and namespace not applied"
grep -qF 'priorityClassName: system-node-critical' "$work/values-file.yaml" &&
  grep -qF 'example.com/team: observability' "$work/values-file.yaml" &&
  grep -qF -- '- "--idle-timeout=5m"' "$work/values-file.yaml" &&
  grep -qF 'value: tracing' "$work/values-file.yaml" || fail "values file not applied"
o=$work/otlp.yaml
for want in '- --otlp-endpoint=otlps://collector.observability:4317' '- --otlp-namespace=shop' \
  '- --otlp-namespace=payments' '- --otlp-port=8080' '- --otlp-metrics-interval=30s' \
  '- --otlp-ca-file=/etc/httptrace/otlp-tls/ca.crt' '- --otlp-key-file=/etc/httptrace/otlp-tls/tls.key' \
  'secretName: collector-ca' 'name: OTEL_EXPORTER_OTLP_HEADERS' 'name: collector-auth'; do
  grep -qF -- "$want" "$o" || fail "otlp render lacks: $want"
done
if grep -qF -- '--otlp' "$d"; then fail "default render exports"; fi
grep -qF 'type: Socket' "$work/crio-hostsocket.yaml" &&
  grep -qF 'path: /var/run/crio/crio.sock' "$work/crio-hostsocket.yaml" || fail "CRI-O socket"
# The selector must match the pod template's labels (the API server rejects it otherwise; the
# schemas cannot say so).
python3 - "$d" <<'PY' || fail "selector does not match the template labels"
import sys, re
text = open(sys.argv[1]).read()
ds = text[text.index("kind: DaemonSet"):]
sel = re.search(r"matchLabels:\n((?:\s{6}\S.*\n)+)", ds).group(1)
labels = re.search(r"template:\n\s+metadata:\n\s+labels:\n((?:\s{8}\S.*\n)+)", ds).group(1)
want = {l.strip() for l in sel.splitlines()}
have = {l.strip() for l in labels.splitlines()}
sys.exit(0 if want <= have else 1)
PY

echo "== the policy: a ConfigMap from values, mounted, passed with --policy, read by the agent"
p=$work/policy.yaml
for want in 'kind: ConfigMap' 'name: httptrace-policy' '- --policy=/etc/httptrace/policy/policy.json' \
  'mountPath: /etc/httptrace/policy' 'configMap:'; do
  grep -qF -- "$want" "$p" || fail "policy render lacks: $want"
done
if grep -qE -- '--policy|kind: ConfigMap' "$d"; then fail "default render has a policy"; fi
# The ConfigMap's policy.json, as the agent will read it from the mount.
python3 - "$p" "$work/policy.json" <<'PY' || fail "no policy.json in the ConfigMap"
import re, sys
text = open(sys.argv[1]).read()
block = re.search(r"\n  policy.json: \|\n((?:    .*\n)+)", text).group(1)
open(sys.argv[2], "w").write("".join(line[4:] + "\n" for line in block.splitlines()))
PY
agent=$(readlink -f agent/httptrace-agent)
checked=$("$agent" --policy "$work/policy.json" --check-policy) || fail "the agent refused the rendered policy"
[[ $checked == "$work/policy.json (3 rule(s): platform, team-a, chart-probes): valid" ]] ||
  fail "unexpected: $checked"
# ... and the agent is not vacuous about it: a misspelled key is refused.
sed 's/"namespaces"/"namespace"/' "$work/policy.json" >"$work/typo-policy.json"
if "$agent" --policy "$work/typo-policy.json" --check-policy 2>"$work/policy.err"; then
  fail "the agent accepted a misspelled policy key"
fi
grep -qF 'rule "team-a": unknown key "namespace"' "$work/policy.err" ||
  fail "unexpected: $(cat "$work/policy.err")"

echo "== NOTES.txt tells how to start a capture"
"$render" -notes -namespace httptrace "$chart" >"$work/notes.txt"
grep -qF -- '--agents-dns httptrace.httptrace.svc:7443' "$work/notes.txt" || fail "NOTES: agents-dns"
grep -qF 'start --namespace default' "$work/notes.txt" || fail "NOTES: start"

echo "== the validator is not vacuous: a wrong type is rejected"
"$render" -set agent.port=not-a-port "$chart" >"$work/bad.yaml"
if validate "$work/bad.yaml" 2>"$work/bad.err"; then fail "validator accepted a string port"; fi
grep -q 'containerPort must be integer' "$work/bad.err" || fail "unexpected: $(cat "$work/bad.err")"
echo "== ... and so is a misspelled field (strict, like kubectl --validate=strict)"
sed 's/hostPID: true/hostPid: true/; s/- name: NODE_NAME/- nme: NODE_NAME/' "$d" >"$work/typo.yaml"
if validate "$work/typo.yaml" 2>"$work/typo.err"; then fail "validator accepted unknown fields"; fi
grep -qF 'data.spec.template.spec.hostPid: unknown field' "$work/typo.err" &&
  grep -qF 'containers[0].env[0].nme: unknown field' "$work/typo.err" ||
  fail "unexpected: $(cat "$work/typo.err")"
echo "PASS"

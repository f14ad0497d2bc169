// render: renders a Helm chart the way `helm template` does, for the subset of Helm that the
// httptrace chart uses. There is no helm binary on the build machines; Helm itself is Go's
// text/template plus the sprig function library, and so is this program.
//
// Supported:
//   - Chart.yaml (.Chart.Name, .Chart.Version, .Chart.AppVersion, .Chart.Description),
//     values.yaml deep-merged with -f FILE (repeatable, later wins) and --set a.b=v (repeatable;
//     scalar values only: true/false/null/integers/strings, as Helm's --set parses them),
//   - .Release.Name, .Release.Namespace, .Release.Service ("Helm"), .Release.IsInstall (true),
//     .Release.IsUpgrade (false), .Values,
//   - every sprig text function Helm has (sprig.TxtFuncMap without env/expandenv, as in Helm),
//     plus Helm's include, required, fail, toYaml, fromYaml, toJson, fromJson,
//   - templates/*.yaml and templates/*.tpl (files starting with "_" only define templates),
//     missing values render as empty (Helm's default, non-strict mode), output documents sorted
//     by Helm's install order of kinds, each with Helm's "# Source:" line,
//   - templates/NOTES.txt, printed instead of the manifests with --notes.
//
// Built by deploy/helm/render.sh in GOPATH mode against Debian's Go sources (/usr/share/gocode:
// sprig 3.2.3, yaml.v2), offline. toYaml uses yaml.v2 where Helm uses sigs.k8s.io/yaml (YAML via
// JSON): both sort map keys and write lists flush with their key; they differ on corner cases
// such as how long strings fold and how non-string map keys print, which this chart avoids.
// Not supported (the chart must not use them): .Capabilities, .Files, .Template, lookup, tpl,
// subcharts and dependencies, values.schema.json, hooks, --set with lists or nested braces,
// --set-string/--set-file, CRDs. A template that calls one of these fails to render.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v2"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// Helm's install order (pkg/releaseutil/kind_sorter.go), for the kinds a chart may hold.
var installOrder = []string{
	"PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
	"PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
	"ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
	"CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
	"ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
	"DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
	"HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
	"APIService",
}

func main() {
	var valueFiles, sets multiFlag
	release := flag.String("name", "httptrace", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	notes := flag.Bool("notes", false, "print the rendered NOTES.txt instead of the manifests")
	flag.Var(&valueFiles, "f", "values file merged over values.yaml (repeatable)")
	flag.Var(&sets, "set", "a.b.c=value (repeatable; scalars only)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: render [-name R] [-namespace N] [-f values.yaml]... [-set k=v]... [-notes] CHART_DIR\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	out, err := render(flag.Arg(0), *release, *namespace, valueFiles, sets, *notes)
	if err != nil {
		fmt.Fprintf(os.Stderr, "render: %v\n", err)
		os.Exit(1)
	}
	os.Stdout.WriteString(out)
}

func readYAML(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw interface{}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if raw == nil {
		return map[string]interface{}{}, nil
	}
	m, ok := normalize(raw).(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("%s: not a mapping", path)
	}
	return m, nil
}

// normalize turns yaml.v2's map[interface{}]interface{} into map[string]interface{}, as Helm's
// values are (Helm parses YAML through JSON).
func normalize(v interface{}) interface{} {
	switch t := v.(type) {
	case map[interface{}]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, val := range t {
			m[fmt.Sprint(k)] = normalize(val)
		}
		return m
	case []interface{}:
		for i := range t {
			t[i] = normalize(t[i])
		}
		return t
	}
	return v
}

// merge copies src over dst; mappings merge key by key, anything else replaces (Helm's rule).
func merge(dst, src map[string]interface{}) {
	for k, v := range src {
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

func parseScalar(s string) interface{} {
	switch s {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	return s
}

func applySet(values map[string]interface{}, expr string) error {
	eq := strings.Index(expr, "=")
	if eq <= 0 {
		return fmt.Errorf("--set %q: want key=value", expr)
	}
	if strings.ContainsAny(expr[:eq], "[]{}") || strings.ContainsAny(expr[eq+1:], "{},") {
		return fmt.Errorf("--set %q: only scalar values and dotted keys are supported", expr)
	}
	keys := strings.Split(expr[:eq], ".")
	m := values
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = parseScalar(expr[eq+1:])
	return nil
}

func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func funcMap(t **template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	f["toYaml"] = toYAML
	f["fromYaml"] = func(s string) map[string]interface{} {
		var raw interface{}
		if err := yaml.Unmarshal([]byte(s), &raw); err != nil {
			return map[string]interface{}{"Error": err.Error()}
		}
		m, _ := normalize(raw).(map[string]interface{})
		return m
	}
	f["toJson"] = func(v interface{}) string {
		data, _ := json.Marshal(v)
		return string(data)
	}
	f["fromJson"] = func(s string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		if err := (*t).ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	f["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return v, errors.New(msg)
		}
		return v, nil
	}
	f["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	for _, name := range []string{"lookup", "tpl"} {
		n := name
		f[n] = func(...interface{}) (string, error) {
			return "", fmt.Errorf("%s is not supported by this renderer", n)
		}
	}
	return f
}

func kindRank(doc string) int {
	var head struct {
		Kind string `yaml:"kind"`
	}
	_ = yaml.Unmarshal([]byte(doc), &head)
	for i, k := range installOrder {
		if k == head.Kind {
			return i
		}
	}
	return len(installOrder)
}

func render(chartDir, release, namespace string, valueFiles, sets []string,
	notes bool) (string, error) {
	chartMeta, err := readYAML(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return "", err
	}
	values, err := readYAML(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return "", err
	}
	for _, file := range valueFiles {
		over, err := readYAML(file)
		if err != nil {
			return "", err
		}
		merge(values, over)
	}
	for _, s := range sets {
		if err := applySet(values, s); err != nil {
			return "", err
		}
	}
	chartName := fmt.Sprint(chartMeta["name"])
	str := func(k string) string {
		if v, ok := chartMeta[k]; ok && v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	data := map[string]interface{}{
		"Values": values,
		"Release": map[string]interface{}{
			"Name": release, "Namespace": namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Chart": map[string]interface{}{
			"Name": chartName, "Version": str("version"), "AppVersion": str("appVersion"),
			"Description": str("description"),
		},
	}

	files, err := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	var t *template.Template
	t = template.New(chartName).Funcs(funcMap(&t)).Option("missingkey=zero")
	var names []string
	for _, file := range files {
		base := filepath.Base(file)
		if !strings.HasSuffix(base, ".yaml") && !strings.HasSuffix(base, ".tpl") &&
			base != "NOTES.txt" {
			continue
		}
		text, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		name := chartName + "/templates/" + base
		if _, err := t.New(name).Parse(string(text)); err != nil {
			return "", err
		}
		if !strings.HasPrefix(base, "_") {
			names = append(names, name)
		}
	}

	type doc struct {
		source string
		body   string
		rank   int
		index  int
	}
	var docs []doc
	for _, name := range names {
		isNotes := strings.HasSuffix(name, "/NOTES.txt")
		if isNotes != notes {
			continue
		}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		// Helm's non-strict mode: a missing value prints as nothing.
		out := strings.ReplaceAll(buf.String(), "<no value>", "")
		if notes {
			return out, nil
		}
		for _, part := range strings.Split(out, "\n---") {
			part = strings.TrimPrefix(part, "---")
			if strings.TrimSpace(part) == "" {
				continue
			}
			docs = append(docs, doc{name, strings.Trim(part, "\n"), kindRank(part), len(docs)})
		}
	}
	sort.SliceStable(docs, func(i, j int) bool { return docs[i].rank < docs[j].rank })
	var b strings.Builder
	for _, d := range docs {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", d.source, d.body)
	}
	return b.String(), nil
}

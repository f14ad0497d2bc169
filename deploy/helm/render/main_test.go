package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeChart makes a chart directory from name -> content.
func writeChart(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRendersLikeHelmTemplate(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"Chart.yaml":             "name: demo\nversion: 1.2.3\nappVersion: \"4.5\"\n",
		"values.yaml":            "replicas: 1\nlabels:\n  b: two\n  a: one\nmissing: {}\n",
		"templates/_helpers.tpl": `{{- define "demo.name" -}}{{ .Release.Name }}-{{ .Chart.Name }}{{- end }}`,
		// A Deployment file sorted after the ServiceAccount by Helm's install order.
		"templates/a-deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "demo.name" . }}
  labels:
    {{- toYaml .Values.labels | nindent 4 }}
spec:
  replicas: {{ .Values.replicas }}
  note: "{{ .Values.missing.nothing }}"
  version: {{ .Chart.AppVersion | quote }}
  ns: {{ .Release.Namespace | default "x" | upper }}
`,
		"templates/b-sa.yaml":  "{{- if true }}\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa\n{{- end }}\n",
		"templates/empty.yaml": "{{- if false }}\nkind: Secret\n{{- end }}\n",
		"templates/NOTES.txt":  "Installed {{ .Release.Name }}.\n",
	})
	values := filepath.Join(t.TempDir(), "over.yaml")
	os.WriteFile(values, []byte("labels:\n  c: three\n"), 0o644)
	out, err := render(dir, "rel", "ns1", []string{values}, []string{"replicas=3"}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := `---
# Source: demo/templates/b-sa.yaml
apiVersion: v1
kind: ServiceAccount
metadata:
  name: sa
---
# Source: demo/templates/a-deploy.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: rel-demo
  labels:
    a: one
    b: two
    c: three
spec:
  replicas: 3
  note: ""
  version: "4.5"
  ns: NS1
`
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	notes, err := render(dir, "rel", "ns1", nil, nil, true)
	if err != nil || notes != "Installed rel.\n" {
		t.Errorf("notes = %q, %v", notes, err)
	}
}

func TestUnsupportedAndFailingTemplatesAreErrors(t *testing.T) {
	for name, body := range map[string]string{
		"tpl":      `{{ tpl "x" . }}`,
		"lookup":   `{{ lookup "v1" "Pod" "" "" }}`,
		"required": `{{ required "need .Values.x" .Values.x }}`,
		"files":    `{{ .Files.Get "x" }}`,
	} {
		dir := writeChart(t, map[string]string{
			"Chart.yaml": "name: demo\nversion: 1\n", "values.yaml": "",
			"templates/x.yaml": body,
		})
		if _, err := render(dir, "r", "n", nil, nil, false); err == nil {
			t.Errorf("%s: rendered without error", name)
		}
	}
}

func TestSetOnlyTakesScalars(t *testing.T) {
	values := map[string]interface{}{}
	if err := applySet(values, "a.b=true"); err != nil || values["a"].(map[string]interface{})["b"] != true {
		t.Errorf("a.b=true: %v %v", err, values)
	}
	for _, bad := range []string{"a={x}", "a[0]=1", "novalue"} {
		if err := applySet(values, bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if !strings.Contains(toYAML(map[string]interface{}{"k": []interface{}{"x"}}), "k:\n- x") {
		t.Errorf("toYaml list style differs from Helm's")
	}
}

package nbformat

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// smallNotebook has a setup cell, a markdown cell, a cell tagged "parameters"
// and a last code cell, as the notebooks in notebooks/ do.
const smallNotebook = `{
 "cells": [
  {"cell_type": "code", "id": "setup", "metadata": {}, "execution_count": null, "outputs": [], "source": ["!*go work init\n", "%goworkfix"]},
  {"cell_type": "markdown", "id": "md", "metadata": {}, "source": "# Title <b>"},
  {"cell_type": "code", "id": "params", "metadata": {"tags": ["parameters"]}, "execution_count": null, "outputs": [], "source": "steps := nb.ParamInt(\"steps\", 10)"},
  {"cell_type": "code", "id": "last", "metadata": {}, "execution_count": null, "outputs": [], "source": "%%\nfmt.Println(steps)"}
 ],
 "metadata": {"kernelspec": {"name": "gonb"}},
 "nbformat": 4,
 "nbformat_minor": 5
}`

type testCell struct {
	ID       string         `json:"id"`
	CellType string         `json:"cell_type"`
	Metadata map[string]any `json:"metadata"`
	Source   any            `json:"source"`
}

func cellsOf(t *testing.T, nbJSON []byte) []testCell {
	t.Helper()
	var n struct {
		Cells    []testCell     `json:"cells"`
		Metadata map[string]any `json:"metadata"`
	}
	if err := json.Unmarshal(nbJSON, &n); err != nil {
		t.Fatalf("injected notebook is not JSON: %v\n%s", err, nbJSON)
	}
	if n.Metadata["kernelspec"] == nil {
		t.Errorf("notebook metadata lost: %v", n.Metadata)
	}
	return n.Cells
}

func ids(cells []testCell) []string {
	var s []string
	for _, c := range cells {
		s = append(s, c.ID)
	}
	return s
}

func TestInjectParams(t *testing.T) {
	params := []EnvVar{{"DIFFLAB_PARAM_STEPS", "100"}, {"DIFFLAB_PARAM_EVAL_N", `a "quoted" value\with backslash`}}
	got, err := InjectParams([]byte(smallNotebook), params)
	if err != nil {
		t.Fatal(err)
	}
	cells := cellsOf(t, got)
	if want := []string{"setup", "md", "params", "injected-parameters", "last"}; !slices.Equal(ids(cells), want) {
		t.Fatalf("InjectParams cells = %v, want %v", ids(cells), want)
	}
	inj := cells[3]
	var src string
	for _, l := range inj.Source.([]any) {
		src += l.(string)
	}
	for _, want := range []string{
		`%env DIFFLAB_PARAM_STEPS "100"`,
		`%env DIFFLAB_PARAM_EVAL_N "a \"quoted\" value\\with backslash"`,
	} {
		if !strings.Contains(src, want) {
			t.Errorf("injected cell:\n%s\nlacks %s", src, want)
		}
	}
	if tags := inj.Metadata["tags"].([]any); len(tags) != 1 || tags[0] != InjectedTag {
		t.Errorf("injected cell tags = %v, want [%s]", tags, InjectedTag)
	}
	if !strings.Contains(string(got), "<b>") {
		t.Errorf("InjectParams escaped HTML in the notebook's text")
	}

	// A second run replaces the injected cell instead of adding another.
	again, err := InjectParams(got, []EnvVar{{"DIFFLAB_PARAM_STEPS", "5"}})
	if err != nil {
		t.Fatal(err)
	}
	cells = cellsOf(t, again)
	if want := []string{"setup", "md", "params", "injected-parameters", "last"}; !slices.Equal(ids(cells), want) {
		t.Fatalf("second InjectParams cells = %v, want %v", ids(cells), want)
	}
	if s, _ := json.Marshal(cells[3].Source); strings.Contains(string(s), "STEPS \\\"100") || !strings.Contains(string(s), "STEPS \\\"5") {
		t.Errorf("second injection source = %s, want only steps = 5", s)
	}
	// A run without parameters of a notebook that kept an injected cell (an executed
	// copy saved over its source) drops that cell: its values must not apply.
	clean, err := InjectParams(again, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"setup", "md", "params", "last"}; !slices.Equal(ids(cellsOf(t, clean)), want) {
		t.Errorf("InjectParams with no params over an injected cell: cells = %v, want %v", ids(cellsOf(t, clean)), want)
	}
}

func TestInjectParamsWithoutParametersCell(t *testing.T) {
	untagged := strings.Replace(smallNotebook, `"tags": ["parameters"]`, `"tags": []`, 1)
	got, err := InjectParams([]byte(untagged), []EnvVar{{"DIFFLAB_PARAM_STEPS", "1"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"setup", "injected-parameters", "md", "params", "last"}; !slices.Equal(ids(cellsOf(t, got)), want) {
		t.Errorf("InjectParams without a parameters cell: cells = %v, want %v", ids(cellsOf(t, got)), want)
	}
	same, err := InjectParams([]byte(smallNotebook), nil)
	if err != nil || string(same) != smallNotebook {
		t.Errorf("InjectParams with no params changed the notebook (err %v)", err)
	}
	if _, err := InjectParams([]byte(`{"cells": 3}`), []EnvVar{{"A", "b"}}); err == nil {
		t.Errorf("InjectParams of a non-notebook: want an error")
	}
}

// executed is an executed notebook with a failed shell cell, a Go error, a PNG
// and an HTML table.
const executed = `{
 "cells": [
  {"cell_type": "code", "id": "a", "metadata": {}, "source": "", "outputs": [
    {"output_type": "stream", "name": "stderr", "text": ["warning: something\n", "exit status 1\n"]}]},
  {"cell_type": "code", "id": "b", "metadata": {}, "source": "", "outputs": [
    {"output_type": "error", "ename": "ERROR", "evalue": "undefined: x\nmore", "traceback": []}]},
  {"cell_type": "code", "id": "c", "metadata": {}, "source": "", "outputs": [
    {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgo="}},
    {"output_type": "display_data", "metadata": {}, "data": {"text/html": ["<table>\n", "<tr></tr></table>"]}},
    {"output_type": "stream", "name": "stdout", "text": "exit status 1 is fine on stdout\n"}]}
 ],
 "metadata": {"difflab": {"expect": [
   {"mime": "image/png"}, {"mime": "text/html", "contains": "<table"},
   {"mime": "image/png", "min": 2}, {"mime": "text/markdown"}]}},
 "nbformat": 4, "nbformat_minor": 5
}`

func TestCheck(t *testing.T) {
	got, err := Check([]byte(executed))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`cell 0 (a): a shell command failed: exit status 1`,
		`cell 1 (b) failed: ERROR: undefined: x ...`,
		`expected at least 2 output(s) of image/png, found 1`,
		`expected at least 1 output(s) of text/markdown, found 0`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Check =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	clean, err := Check([]byte(smallNotebook))
	if err != nil || len(clean) != 0 {
		t.Errorf("Check(unexecuted, no expectations) = %v, %v; want no problems", clean, err)
	}
	if _, err := Check([]byte("not json")); err == nil {
		t.Errorf("Check(not json): want an error")
	}
}

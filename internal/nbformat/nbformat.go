// Package nbformat reads and edits Jupyter notebooks (nbformat 4 JSON) for
// "difflab nb run": it injects parameters into a notebook the way papermill
// does, as a cell tagged "injected-parameters" after the one tagged
// "parameters", and checks an executed notebook for failed cells and for the
// outputs its metadata expects. Fields it does not read are kept as they are.
package nbformat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Cell tags of parameter injection, as papermill names them.
const (
	// ParametersTag marks the cell whose defaults the injected cell overrides.
	ParametersTag = "parameters"
	// InjectedTag marks the cell InjectParams inserts; a second run replaces it.
	InjectedTag = "injected-parameters"
)

// notebook is the part of the nbformat 4 JSON that parameter injection and the
// checks read. Unknown fields are kept as they are.
type notebook map[string]json.RawMessage

type cell map[string]json.RawMessage

func (c cell) str(key string) string {
	var s string
	json.Unmarshal(c[key], &s)
	return s
}

func (c cell) tags() []string {
	var md struct {
		Tags []string `json:"tags"`
	}
	json.Unmarshal(c["metadata"], &md)
	return md.Tags
}

func readCells(nbJSON []byte) (notebook, []cell, error) {
	var n notebook
	if err := json.Unmarshal(nbJSON, &n); err != nil {
		return nil, nil, fmt.Errorf("not a notebook: %v", err)
	}
	var cells []cell
	if err := json.Unmarshal(n["cells"], &cells); err != nil || n["cells"] == nil {
		return nil, nil, fmt.Errorf("not a notebook: no cells")
	}
	return n, cells, nil
}

// EnvVar is an environment variable that InjectParams sets in the notebook's
// kernel. difflab's notebooks read their parameters from DIFFLAB_PARAM_KEY
// variables (pkg/nb: nb.Param, nb.ParamEnv).
type EnvVar struct{ Name, Value string }

// InjectParams returns the notebook nbJSON with a code cell tagged
// "injected-parameters" that sets each of vars with the GoNB special command
//
//	%env NAME "VALUE"
//
// inserted after the cell tagged "parameters", or after the
// first code cell when none is tagged. A cell injected by an earlier run (an
// executed notebook saved over its source) is removed first, also when vars is
// empty now, so that its values never leak into this run. With no
// parameters and no such cell the notebook is returned unchanged.
func InjectParams(nbJSON []byte, vars []EnvVar) ([]byte, error) {
	n, cells, err := readCells(nbJSON)
	if err != nil {
		return nil, err
	}
	kept := cells[:0:0]
	for _, c := range cells {
		if !slices.Contains(c.tags(), InjectedTag) {
			kept = append(kept, c)
		}
	}
	if len(vars) == 0 && len(kept) == len(cells) {
		return nbJSON, nil
	}
	at := -1
	for i, c := range kept {
		if c.str("cell_type") == "code" && (at < 0 || slices.Contains(c.tags(), ParametersTag)) {
			at = i
			if slices.Contains(c.tags(), ParametersTag) {
				break
			}
		}
	}
	var lines []string
	lines = append(lines, "// Parameters injected by difflab nb run.")
	for _, v := range vars {
		lines = append(lines, fmt.Sprintf("%%env %s %s", v.Name, quoteGoNB(v.Value)))
	}
	for i := range lines[:len(lines)-1] {
		lines[i] += "\n"
	}
	if len(vars) == 0 {
		return writeCells(n, kept)
	}
	inj := cell{}
	set := func(k string, v any) { inj[k], _ = json.Marshal(v) }
	set("cell_type", "code")
	set("execution_count", nil)
	set("metadata", map[string]any{"tags": []string{InjectedTag}})
	set("outputs", []any{})
	set("source", lines)
	if hasIDs(kept) {
		set("id", "injected-parameters")
	}
	cells = append(kept[:at+1:at+1], append([]cell{inj}, kept[at+1:]...)...)
	return writeCells(n, cells)
}

// writeCells returns the notebook n with its cells replaced, indented by one space
// like Jupyter, without escaping HTML.
func writeCells(n notebook, cells []cell) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(cells); err != nil {
		return nil, err
	}
	n["cells"] = b.Bytes()
	b = bytes.Buffer{}
	enc = json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func hasIDs(cells []cell) bool { return len(cells) > 0 && cells[0]["id"] != nil }

// quoteGoNB quotes s for a GoNB special command: inside double quotes a
// backslash escapes the next character, with \n and \t for newline and tab.
func quoteGoNB(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

// Expectation is one output a notebook declares it must produce, in its
// metadata "difflab": {"expect": [...]}.
type Expectation struct {
	// MIME type of the output, e.g. "image/png" or "text/html".
	MIME string `json:"mime"`
	// Contains, when set, must occur in the output's text (base64 for images).
	Contains string `json:"contains,omitempty"`
	// Min is the least number of such outputs. Default 1.
	Min int `json:"min,omitempty"`
}

// shellFailure matches what GoNB prints to stderr when a !command exits non-zero.
var shellFailure = regexp.MustCompile(`(?m)^exit status \d+\s*$`)

// Check checks an executed notebook: no cell has an error output, no
// shell cell's command failed (GoNB reports "exit status N" on stderr, which
// nbconvert does not count as an error), and every output declared in the
// metadata "difflab": {"expect": [...]} is there. It returns one line per
// problem; the error is for a file that is not a notebook.
func Check(nbJSON []byte) (problems []string, err error) {
	n, cells, err := readCells(nbJSON)
	if err != nil {
		return nil, err
	}
	var md struct {
		Difflab struct {
			Expect []Expectation `json:"expect"`
		} `json:"difflab"`
	}
	json.Unmarshal(n["metadata"], &md)
	counts := make([]int, len(md.Difflab.Expect))
	for i, c := range cells {
		if c.str("cell_type") != "code" {
			continue
		}
		var outs []struct {
			OutputType string                     `json:"output_type"`
			Name       string                     `json:"name"`
			Text       json.RawMessage            `json:"text"`
			Ename      string                     `json:"ename"`
			Evalue     string                     `json:"evalue"`
			Data       map[string]json.RawMessage `json:"data"`
		}
		json.Unmarshal(c["outputs"], &outs)
		where := fmt.Sprintf("cell %d", i)
		if id := c.str("id"); id != "" {
			where += " (" + id + ")"
		}
		for _, o := range outs {
			switch o.OutputType {
			case "error":
				problems = append(problems, fmt.Sprintf("%s failed: %s", where, firstLine(o.Ename+": "+o.Evalue)))
			case "stream":
				if txt := multiline(o.Text); o.Name == "stderr" && shellFailure.MatchString(txt) {
					problems = append(problems, fmt.Sprintf("%s: a shell command failed: %s", where, firstLine(shellFailure.FindString(txt))))
				}
			case "display_data", "execute_result", "update_display_data":
				for k, e := range md.Difflab.Expect {
					if raw, ok := o.Data[e.MIME]; ok && strings.Contains(multiline(raw), e.Contains) {
						counts[k]++
					}
				}
			}
		}
	}
	for k, e := range md.Difflab.Expect {
		want := max(e.Min, 1)
		if counts[k] < want {
			what := e.MIME
			if e.Contains != "" {
				what += fmt.Sprintf(" containing %q", e.Contains)
			}
			problems = append(problems, fmt.Sprintf("expected at least %d output(s) of %s, found %d", want, what, counts[k]))
		}
	}
	return problems, nil
}

// multiline decodes an nbformat text value: a string or a list of lines.
func multiline(raw json.RawMessage) string {
	var lines []string
	if json.Unmarshal(raw, &lines) == nil {
		return strings.Join(lines, "")
	}
	var s string
	json.Unmarshal(raw, &s)
	return s
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

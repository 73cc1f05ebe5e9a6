package track

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Format is an output format for Export.
type Format string

// The formats Export writes.
const (
	FormatCSV  Format = "csv"
	FormatJSON Format = "json"
)

// Export writes runs in format. CSV has one row per run with the columns id,
// name, experiment, status, start_time, end_time (RFC 3339, empty while
// running), note, then params.KEY, tags.KEY and metrics.KEY (last value) for
// the union of keys, sorted; missing values are empty. JSON is an array of
// objects with the same fields plus summaries (count, last, min and max of
// each metric) and env; NaN and ±Inf metric values are the
// strings "NaN", "+Inf", "-Inf". An unknown format is an error and writes
// nothing.
func Export(w io.Writer, runs []RunInfo, format Format) error {
	switch format {
	case FormatCSV:
		return exportCSV(w, runs)
	case FormatJSON:
		return exportJSON(w, runs)
	}
	return fmt.Errorf("track: Export: unknown format %q (allowed: %s, %s)", format, FormatCSV, FormatJSON)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func exportCSV(w io.Writer, runs []RunInfo) error {
	params, tags, metrics := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, ri := range runs {
		for k := range ri.Params {
			params[k] = true
		}
		for k := range ri.Tags {
			tags[k] = true
		}
		for k := range ri.Metrics {
			metrics[k] = true
		}
	}
	pk, tk, mk := sortedKeys(params), sortedKeys(tags), sortedKeys(metrics)
	header := []string{"id", "name", "experiment", "status", "start_time", "end_time", "note"}
	header = append(header, csvKeyColumns("params", pk)...)
	header = append(header, csvKeyColumns("tags", tk)...)
	header = append(header, csvKeyColumns("metrics", mk)...)
	cw := csv.NewWriter(w)
	cw.Write(header)
	for _, ri := range runs {
		row := []string{ri.ID, ri.Name, ri.Experiment, string(ri.Status), formatTime(ri.StartTime), formatTime(ri.EndTime), ri.Note}
		for _, k := range pk {
			row = append(row, formatValue(ri.Params[k]))
		}
		for _, k := range tk {
			row = append(row, ri.Tags[k])
		}
		for _, k := range mk {
			v, ok := ri.Metrics[k]
			row = append(row, formatMetric(ok, v))
		}
		cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// runJSON is the JSON form of a RunInfo.
type runJSON struct {
	ID         string                   `json:"id"`
	Name       string                   `json:"name"`
	Experiment string                   `json:"experiment"`
	Status     Status                   `json:"status"`
	StartTime  string                   `json:"start_time"`
	EndTime    string                   `json:"end_time,omitempty"`
	Params     map[string]any           `json:"params"`
	Tags       map[string]string        `json:"tags"`
	Metrics    map[string]any           `json:"metrics"`
	Summaries  map[string]MetricSummary `json:"summaries,omitempty"`
	Note       string                   `json:"note,omitempty"`
	Error      string                   `json:"error,omitempty"`
	Env        Env                      `json:"env"`
}

func toJSON(ri RunInfo) runJSON {
	j := runJSON{
		ID: ri.ID, Name: ri.Name, Experiment: ri.Experiment, Status: ri.Status,
		StartTime: formatTime(ri.StartTime), EndTime: formatTime(ri.EndTime),
		Params: map[string]any{}, Tags: ri.Tags, Metrics: map[string]any{},
		Summaries: ri.Summaries, Note: ri.Note, Error: ri.Error, Env: ri.Env,
	}
	if j.Tags == nil {
		j.Tags = map[string]string{}
	}
	for k, v := range ri.Params {
		j.Params[k] = jsonValue(v)
	}
	for k, v := range ri.Metrics {
		j.Metrics[k] = jsonValue(v)
	}
	return j
}

// MarshalJSON encodes the summary with lower-case keys (count, last,
// last_step, min, min_step, max, max_step); NaN and ±Inf are the strings
// "NaN", "+Inf", "-Inf".
func (m MetricSummary) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Count    int64 `json:"count"`
		Last     any   `json:"last"`
		LastStep int64 `json:"last_step"`
		Min      any   `json:"min"`
		MinStep  int64 `json:"min_step"`
		Max      any   `json:"max"`
		MaxStep  int64 `json:"max_step"`
	}{m.Count, jsonValue(m.Last), m.LastStep, jsonValue(m.Min), m.MinStep, jsonValue(m.Max), m.MaxStep})
}

// MarshalJSON encodes the run as Export's JSON does.
func (ri RunInfo) MarshalJSON() ([]byte, error) { return json.Marshal(toJSON(ri)) }

func exportJSON(w io.Writer, runs []RunInfo) error {
	out := make([]runJSON, len(runs))
	for i, ri := range runs {
		out[i] = toJSON(ri)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

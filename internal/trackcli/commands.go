package trackcli

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/difflab/difflab/internal/cmdline"
	"github.com/difflab/difflab/pkg/experiment"
	"github.com/difflab/difflab/pkg/track"
	"github.com/difflab/difflab/pkg/track/nbdisplay"
)

func showJSON(w io.Writer, r track.RunInfo, arts []track.Artifact) error {
	out := struct {
		Run       track.RunInfo    `json:"run"`
		Artifacts []track.Artifact `json:"artifacts"`
	}{r, arts}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// showCSV writes "section,key,value" rows: run fields, params, tags, env,
// metric summaries (key "NAME.last" and so on) and artifacts.
func showCSV(w io.Writer, r track.RunInfo, arts []track.Artifact) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"section", "key", "value"})
	end := ""
	if !r.EndTime.IsZero() {
		end = r.EndTime.UTC().Format(time.RFC3339Nano)
	}
	for _, kv := range [][2]string{
		{"id", r.ID}, {"name", r.Name}, {"experiment", r.Experiment}, {"status", string(r.Status)},
		{"start_time", r.StartTime.UTC().Format(time.RFC3339Nano)}, {"end_time", end}, {"note", r.Note}, {"error", r.Error},
	} {
		cw.Write([]string{"run", kv[0], kv[1]})
	}
	for _, k := range sortedKeys(r.Params) {
		cw.Write([]string{"param", k, track.FormatValue(r.Params[k])})
	}
	for _, k := range sortedKeys(r.Tags) {
		cw.Write([]string{"tag", k, r.Tags[k]})
	}
	for _, p := range envPairs(r.Env) {
		cw.Write([]string{"env", p[0], p[1]})
	}
	for _, k := range sortedKeys(r.Summaries) {
		s := r.Summaries[k]
		for _, kv := range [][2]string{
			{"count", strconv.FormatInt(s.Count, 10)}, {"last", fmtExact(s.Last)}, {"last_step", strconv.FormatInt(s.LastStep, 10)},
			{"min", fmtExact(s.Min)}, {"min_step", strconv.FormatInt(s.MinStep, 10)},
			{"max", fmtExact(s.Max)}, {"max_step", strconv.FormatInt(s.MaxStep, 10)},
		} {
			cw.Write([]string{"metric", k + "." + kv[0], kv[1]})
		}
	}
	for _, a := range arts {
		cw.Write([]string{"artifact", a.Name, a.SHA256})
	}
	cw.Flush()
	return cw.Error()
}

func fmtExact(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func runCompare(c *cli, args []string) error {
	format := c.formatFlag("table", "table", "json", "csv")
	maximize := c.fs.String("maximize", "", "comma-separated metric `keys` where higher is better (default: difflab's metrics where it is, such as loglik, precision and recall; lower for the rest)")
	minimize := c.fs.String("minimize", "", "comma-separated metric `keys` where lower is better, overriding the defaults")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return cmdline.Usagef("missing RUN_IDs (give at least one)")
	}
	opts := track.CompareOptions{Goals: experiment.Goals()}
	for _, f := range []struct {
		keys string
		goal track.Goal
	}{{*maximize, track.Maximize}, {*minimize, track.Minimize}} {
		for _, k := range strings.Split(f.keys, ",") {
			if k = strings.TrimSpace(k); k != "" {
				opts.Goals[strings.TrimPrefix(k, "metrics.")] = f.goal
			}
		}
	}
	st, err := c.open()
	if err != nil {
		return err
	}
	defer st.Close()
	cmp, err := st.CompareWith(opts, pos...)
	if err != nil {
		return err
	}
	switch format.value {
	case "json":
		return cmp.WriteJSON(c.stdout)
	case "csv":
		return cmp.WriteCSV(c.stdout)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	row := func(label string, cell func(i int) string) {
		row := []string{label}
		for i := range cmp.Runs {
			row = append(row, cell(i))
		}
		fmt.Fprintln(tw, cells(row))
	}
	row("", func(i int) string { return cmp.Runs[i].ID })
	row("name", func(i int) string { return cmp.Runs[i].Name })
	row("status", func(i int) string { return string(cmp.Runs[i].Status) })
	for _, d := range cmp.Differing {
		row("params."+d.Key, func(i int) string {
			if d.Values[i] == nil {
				return "-"
			}
			return track.FormatValue(d.Values[i])
		})
	}
	for _, m := range cmp.Metrics {
		cell := func(vals []float64) func(int) string {
			return func(i int) string {
				if !m.Has[i] {
					return "-"
				}
				return formatFloat(vals[i])
			}
		}
		row("metrics."+m.Key+" (last)", cell(m.Last))
		row("metrics."+m.Key+" ("+string(m.Goal)+")", func(i int) string {
			s := cell(m.Best)(i)
			if i == m.BestRun && len(cmp.Runs) > 1 {
				s += " *"
			}
			return s
		})
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(cmp.Common) > 0 {
		var common []string
		for _, k := range sortedKeys(cmp.Common) {
			common = append(common, k+"="+track.FormatValue(cmp.Common[k]))
		}
		fmt.Fprintf(c.stdout, "\ncommon params: %s\n", strings.Join(common, " "))
	}
	return nil
}

func runExport(c *cli, args []string) error {
	q := c.queryFlags()
	format := c.formatFlag("csv", "csv", "json")
	output := c.fs.String("output", "", "write to `file` instead of standard output")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cmdline.Usagef("unexpected argument %q (export takes flags only)", pos[0])
	}
	st, err := c.open()
	if err != nil {
		return err
	}
	defer st.Close()
	rs, err := runs(st, *q)
	if err != nil {
		return err
	}
	if *output == "" {
		return track.Export(c.stdout, rs, track.Format(format.value))
	}
	f, err := os.Create(*output)
	if err != nil {
		return err
	}
	if err := track.Export(f, rs, track.Format(format.value)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// statusList is a flag.Value for --delete-status.
type statusList []track.Status

func (s *statusList) String() string {
	if s == nil {
		return ""
	}
	var parts []string
	for _, v := range *s {
		parts = append(parts, string(v))
	}
	return strings.Join(parts, ",")
}

func (s *statusList) Set(v string) error {
	*s = nil
	for _, part := range strings.Split(v, ",") {
		st := track.Status(strings.TrimSpace(part))
		switch st {
		case track.StatusFinished, track.StatusFailed, track.StatusKilled, track.StatusCrashed:
			*s = append(*s, st)
		default:
			return fmt.Errorf("allowed: finished, failed, killed, crashed, comma-separated")
		}
	}
	return nil
}

// age is a flag.Value for durations that also accepts days ("30d").
type age time.Duration

func (a *age) String() string {
	if a == nil || *a == 0 {
		return ""
	}
	return time.Duration(*a).String()
}

func (a *age) Set(v string) error {
	if d, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("want a duration such as 30d, 12h or 90m")
		}
		*a = age(n * float64(24*time.Hour))
		return nil
	}
	dur, err := time.ParseDuration(v)
	if err != nil || dur < 0 {
		return fmt.Errorf("want a duration such as 30d, 12h or 90m")
	}
	*a = age(dur)
	return nil
}

func runGC(c *cli, args []string) error {
	var statuses statusList
	var older, grace age = 0, age(time.Hour)
	c.fs.Var(&statuses, "delete-status", "also delete runs in these `states`: failed, killed, crashed, finished (comma-separated)")
	c.fs.Var(&older, "older-than", "with --delete-status, only runs started longer ago than this `age` (e.g. 30d, 12h)")
	c.fs.Var(&grace, "grace", "keep unreferenced files younger than this `age`, which may belong to uploads in progress")
	dry := c.fs.Bool("dry-run", false, "report what would be deleted, delete nothing")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cmdline.Usagef("unexpected argument %q (gc takes flags only)", pos[0])
	}
	if older > 0 && len(statuses) == 0 {
		return cmdline.Usagef("--older-than needs --delete-status (allowed: finished, failed, killed, crashed)")
	}
	st, err := c.open()
	if err != nil {
		return err
	}
	defer st.Close()
	g := time.Duration(grace)
	if g == 0 {
		g = time.Nanosecond // --grace 0: no grace at all
	}
	rep, err := st.GC(track.GCOptions{DeleteStatus: statuses, OlderThan: time.Duration(older), Grace: g, DryRun: *dry})
	if err != nil {
		return err
	}
	verb := "deleted"
	if *dry {
		verb = "would delete"
	}
	fmt.Fprintf(c.stdout, "%s %d runs and %d artifact files (%d bytes)\n", verb, rep.RunsDeleted, rep.FilesDeleted, rep.BytesFreed)
	return nil
}

func runPlot(c *cli, args []string) error {
	key := c.fs.String("metric", "", "metric `key` to draw (required), e.g. train/loss")
	out := c.fs.String("out", "", "output PNG `file` (required)")
	title := c.fs.String("title", "", "chart title (default: the metric key)")
	logY := c.fs.Bool("log-y", false, "logarithmic y axis")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if *key == "" || *out == "" {
		return cmdline.Usagef("--metric and --out are required")
	}
	if len(pos) == 0 {
		return cmdline.Usagef("missing RUN_IDs (give at least one)")
	}
	st, err := c.open()
	if err != nil {
		return err
	}
	defer st.Close()
	opts := nbdisplay.ChartOptions{Title: *title, LogY: *logY}
	if opts.Title == "" {
		opts.Title = *key
	}
	png, err := nbdisplay.MetricChart(st, *key, opts, pos...)
	if err != nil {
		return err
	}
	return os.WriteFile(*out, png, 0o644)
}

// Package trackcli implements the "difflab track" command: listing,
// showing, comparing, exporting and cleaning up the runs that pkg/track
// records. difflab's "track" command (internal/cli) calls Main; the
// package has no other API. Exit codes, usage errors and the database path are
// internal/cmdline's, shared with the other commands.
package trackcli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/difflab/difflab/internal/cmdline"
	"github.com/difflab/difflab/pkg/track"
)

const mainUsage = `usage: difflab track [--db PATH] COMMAND [flags] [args]

Inspect the runs that difflab records (params, metrics, artifacts, environment).

Commands:
  ls        list runs, optionally filtered and ordered
  show      show one run: params, tags, environment, metrics, artifacts
  compare   compare runs side by side: differing params, last and best metrics
  export    write runs with their params and last metrics as CSV or JSON
  plot      draw a metric of one or more runs against the step (PNG)
  gc        delete artifact files no run references, and optionally old failed runs
  ui        serve the runs in a browser: runs table, compare, Table-1 pivots, run pages

The database is --db PATH, else $` + cmdline.DBEnv + `, else ` + cmdline.DefaultDB + `.
Run "difflab track COMMAND --help" for a command's flags.

Filters (ls, export) compare params, metrics (last value), tags and run fields:
  params.eta = 0 and metrics.fid < 10
  (status = "failed" or status = "crashed") and start_time > "2025-01-31"
  name LIKE "ddim%" and tags.sampler != 'ddpm'
Operators: = != < <= > >= LIKE, NOT LIKE; AND, OR, NOT and parentheses.
Run fields: id, name, experiment, status, start_time, end_time, note, host.

Exit status: 0 success, 1 runtime error, 2 bad usage.
`

// command is one subcommand.
type command struct {
	name, args, summary string
	run                 func(c *cli, args []string) error
}

var commands = []command{
	{"ls", "[flags]", "List runs, newest first unless --order-by says otherwise.", runLs},
	{"show", "[flags] RUN_ID", "Show one run. RUN_ID may be a unique prefix of at least 4 characters.", runShow},
	{"compare", "[flags] RUN_ID RUN_ID...", "Compare runs: params that differ and those in common, and the last and best value of each metric\n(best is the minimum unless the metric is listed in --maximize; * marks the best run).", runCompare},
	{"export", "[flags]", "Write runs with their params, tags and last metric values.", runExport},
	{"plot", "[flags] --metric KEY --out FILE.png RUN_ID...", "Draw one metric of one or more runs against the step, as a PNG.", runPlot},
	{"gc", "[flags]", "Delete artifact files that no run references (files younger than --grace are kept),\nafter deleting the runs selected by --delete-status and --older-than.", runGC},
	{"ui", "[flags]", "Serve the tracker in a browser (runs table, compare, Table-1 pivots, run pages) and its JSON API\nunder /api/. Read-only. Listens on loopback unless --addr and --token say otherwise.", runUI},
}

// commandNames lists the commands for errors: "ls, show, ...".
func commandNames() string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

// cli holds what every command needs.
type cli struct {
	stdout, stderr io.Writer
	db             string
	fs             *flag.FlagSet
	cmd            string
}

// Main runs "difflab track" with args (the words after "track") and returns
// the exit code: cmdline.ExitOK, cmdline.ExitFailure for runtime errors, cmdline.ExitUsage for a bad
// command line. Errors are one line on stderr; --help prints to stdout.
func Main(args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr, db: cmdline.DBPath("")}
	top := flag.NewFlagSet("difflab track", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	top.StringVar(&c.db, "db", c.db, cmdline.DBFlagUsage)
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, mainUsage)
			return cmdline.ExitOK
		}
		fmt.Fprintf(stderr, "difflab track: %s (see difflab track --help)\n", flagMessage(err))
		return cmdline.ExitUsage
	}
	rest := top.Args()
	if len(rest) == 0 {
		fmt.Fprintf(stderr, "difflab track: missing command (%s; see difflab track --help)\n", commandNames())
		return cmdline.ExitUsage
	}
	if rest[0] == "help" {
		fmt.Fprint(stdout, mainUsage)
		return cmdline.ExitOK
	}
	for _, cmd := range commands {
		if cmd.name != rest[0] {
			continue
		}
		c.cmd = cmd.name
		c.fs = flag.NewFlagSet("difflab track "+cmd.name, flag.ContinueOnError)
		c.fs.SetOutput(io.Discard)
		c.fs.StringVar(&c.db, "db", c.db, cmdline.DBFlagUsage)
		c.fs.Usage = func() {} // errors are reported by Main in one line
		usage := func() {
			fmt.Fprintf(stdout, "usage: difflab track %s %s\n\n%s\n\nFlags:\n", cmd.name, cmd.args, cmd.summary)
			c.fs.SetOutput(stdout)
			c.fs.PrintDefaults()
			c.fs.SetOutput(io.Discard)
		}
		err := cmd.run(c, rest[1:])
		switch code := cmdline.ExitCode(err); {
		case errors.Is(err, flag.ErrHelp):
			usage()
			return cmdline.ExitOK
		case code == cmdline.ExitUsage:
			fmt.Fprintf(stderr, "difflab track %s: %s (see difflab track %s --help)\n", cmd.name, oneLine(err.Error()), cmd.name)
			return code
		case code != cmdline.ExitOK:
			fmt.Fprintf(stderr, "difflab track %s: %s\n", cmd.name, oneLine(err.Error()))
			return code
		}
		return cmdline.ExitOK
	}
	fmt.Fprintf(stderr, "difflab track: unknown command %q (allowed: %s; see difflab track --help)\n", rest[0], commandNames())
	return cmdline.ExitUsage
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// cells joins table cells with tabs for tabwriter, after flattening any
// whitespace inside a cell (names and notes are free text) so that a tab or
// newline cannot break the columns.
func cells(row []string) string {
	for i, c := range row {
		if strings.ContainsFunc(c, func(r rune) bool { return r == '\t' || r == '\n' || r == '\r' }) {
			row[i] = oneLine(c)
		}
	}
	return strings.Join(row, "\t")
}

// flagMessage rewrites the flag package's error in the --flag spelling
// that the help text uses.
func flagMessage(err error) string {
	msg := err.Error()
	msg = strings.Replace(msg, "for flag -", "for --", 1)
	msg = strings.Replace(msg, "not defined: -", "not defined: --", 1)
	msg = strings.Replace(msg, "needs an argument: -", "needs an argument: --", 1)
	return msg
}

// parse parses flags and positional arguments in any order ("show ID
// --format json" as well as "show --format json ID").
func (c *cli) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, cmdline.Usagef("%s", flagMessage(err))
		}
		args = c.fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// open opens the database; a missing file is an error here rather than a
// new empty database, since every command only reads or cleans up.
func (c *cli) open() (*track.Store, error) {
	if !track.IsDSN(c.db) {
		if _, err := os.Stat(c.db); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("no database at %s (set --db or $%s)", c.db, cmdline.DBEnv)
			}
			return nil, err
		}
	}
	return cmdline.OpenStore(c.db, "")
}

// choice is a flag.Value that accepts one of a fixed set of words.
type choice struct {
	value   string
	allowed []string
}

func (v *choice) String() string {
	if v == nil {
		return ""
	}
	return v.value
}

func (v *choice) Set(s string) error {
	for _, a := range v.allowed {
		if s == a {
			v.value = s
			return nil
		}
	}
	return fmt.Errorf("allowed: %s", strings.Join(v.allowed, ", "))
}

func (c *cli) formatFlag(def string, allowed ...string) *choice {
	v := &choice{value: def, allowed: allowed}
	c.fs.Var(v, "format", "output `format`: "+strings.Join(allowed, ", "))
	return v
}

// queryFlags adds the flags that select runs.
func (c *cli) queryFlags() *track.Query {
	q := &track.Query{}
	c.fs.StringVar(&q.Experiment, "experiment", "", "only runs of this `experiment`")
	c.fs.StringVar(&q.Filter, "filter", "", "filter `expression`, e.g. \"params.eta = 0 and metrics.fid < 10\"")
	c.fs.StringVar(&q.OrderBy, "order-by", "", "order by a `field`: metrics.fid, -metrics.fid, \"start_time desc\", params.eta (default newest first)")
	c.fs.IntVar(&q.Limit, "limit", 0, "show at most `n` runs (0: all)")
	return q
}

// runs runs q, reporting filter mistakes as usage errors.
func runs(st *track.Store, q track.Query) ([]track.RunInfo, error) {
	if q.Limit < 0 {
		return nil, cmdline.Usagef("invalid value %d for --limit: want 0 (all) or more", q.Limit)
	}
	rs, err := st.Runs(q)
	var fe *track.FilterError
	if errors.As(err, &fe) {
		if fe.What == "order-by" {
			return nil, cmdline.Usagef("invalid --order-by: %v", err)
		}
		return nil, cmdline.Usagef("invalid --filter: %v", err)
	}
	return rs, err
}

func runLs(c *cli, args []string) error {
	q := c.queryFlags()
	format := c.formatFlag("table", "table", "json", "csv")
	columns := c.fs.String("columns", "", "extra table `fields`, comma-separated: params.eta,metrics.fid,tags.sampler (default: the --order-by field)")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return cmdline.Usagef("unexpected argument %q (ls takes flags only)", pos[0])
	}
	var extra []string
	for _, f := range strings.Split(*columns, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !strings.HasPrefix(f, "params.") && !strings.HasPrefix(f, "metrics.") && !strings.HasPrefix(f, "tags.") {
			return cmdline.Usagef("invalid --columns field %q: want params.KEY, metrics.KEY or tags.KEY", f)
		}
		extra = append(extra, f)
	}
	if fields := strings.Fields(q.OrderBy); len(extra) == 0 && len(fields) > 0 {
		key := strings.TrimPrefix(fields[0], "-")
		if strings.HasPrefix(key, "params.") || strings.HasPrefix(key, "metrics.") || strings.HasPrefix(key, "tags.") {
			extra = append(extra, key)
		}
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
	switch format.value {
	case "json":
		return track.Export(c.stdout, rs, track.FormatJSON)
	case "csv":
		return track.Export(c.stdout, rs, track.FormatCSV)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	header := []string{"ID", "EXPERIMENT", "NAME", "STATUS", "STARTED", "DURATION"}
	for _, f := range extra {
		header = append(header, strings.ToUpper(f))
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rs {
		row := []string{r.ID, r.Experiment, r.Name, string(r.Status), r.StartTime.Local().Format("2006-01-02 15:04"), formatDuration(r.Duration())}
		for _, f := range extra {
			v, ok := r.Field(f)
			if !ok {
				v = "-"
			}
			row = append(row, v)
		}
		fmt.Fprintln(tw, cells(row))
	}
	return tw.Flush()
}

// fieldValue formats params.K, metrics.K or tags.K of r ("-" when missing).
func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

func formatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

func (c *cli) runArg(pos []string) (string, error) {
	switch len(pos) {
	case 0:
		return "", cmdline.Usagef("missing RUN_ID")
	case 1:
		return pos[0], nil
	}
	return "", cmdline.Usagef("want one RUN_ID, got %d arguments", len(pos))
}

func runShow(c *cli, args []string) error {
	format := c.formatFlag("table", "table", "json", "csv")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	id, err := c.runArg(pos)
	if err != nil {
		return err
	}
	st, err := c.open()
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := st.Run(id)
	if err != nil {
		return err
	}
	arts, err := st.Artifacts(r.ID)
	if err != nil {
		return err
	}
	switch format.value {
	case "json":
		return showJSON(c.stdout, r, arts)
	case "csv":
		return showCSV(c.stdout, r, arts)
	}
	return showTable(c.stdout, r, arts)
}

func envPairs(e track.Env) [][2]string {
	seed := ""
	if e.Seed != nil {
		seed = strconv.FormatInt(*e.Seed, 10)
	}
	dirty := ""
	if e.GitCommit != "" {
		dirty = strconv.FormatBool(e.GitDirty)
	}
	pairs := [][2]string{
		{"git_commit", e.GitCommit}, {"git_dirty", dirty}, {"git_diff_sha256", e.GitDiffSHA256},
		{"go_version", e.GoVersion}, {"backend", e.Backend}, {"host", e.Host}, {"cpu", e.CPU},
		{"num_cpu", strconv.Itoa(e.NumCPU)}, {"os", e.OS + "/" + e.Arch}, {"command", strings.Join(e.Command, " ")},
		{"work_dir", e.WorkDir}, {"pid", strconv.Itoa(e.PID)}, {"seed", seed}, {"config_hash", e.ConfigHash},
	}
	out := pairs[:0]
	for _, p := range pairs {
		if p[1] != "" && p[1] != "0" && p[1] != "/" {
			out = append(out, p)
		}
	}
	return out
}

func showTable(w io.Writer, r track.RunInfo, arts []track.Artifact) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	end := "-"
	if !r.EndTime.IsZero() {
		end = r.EndTime.Local().Format(time.DateTime)
	}
	for _, kv := range [][2]string{
		{"ID", r.ID}, {"Name", r.Name}, {"Experiment", r.Experiment}, {"Status", string(r.Status)},
		{"Started", r.StartTime.Local().Format(time.DateTime)}, {"Ended", end}, {"Duration", formatDuration(r.Duration())},
	} {
		fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
	}
	if r.Error != "" {
		fmt.Fprintf(tw, "Error\t%s\n", oneLine(r.Error))
	}
	if r.Note != "" {
		fmt.Fprintf(tw, "Note\t%s\n", oneLine(r.Note))
	}
	section := func(title string, n int) {
		if n == 0 {
			fmt.Fprintf(tw, "\n%s\t(none)\n", title)
		} else {
			fmt.Fprintf(tw, "\n%s\t\n", title)
		}
	}
	section("Params", len(r.Params))
	for _, k := range sortedKeys(r.Params) {
		fmt.Fprintf(tw, "  %s\t%s\n", k, track.FormatValue(r.Params[k]))
	}
	section("Tags", len(r.Tags))
	for _, k := range sortedKeys(r.Tags) {
		fmt.Fprintf(tw, "  %s\t%s\n", k, r.Tags[k])
	}
	env := envPairs(r.Env)
	section("Env", len(env))
	for _, p := range env {
		fmt.Fprintf(tw, "  %s\t%s\n", p[0], p[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Metrics and artifacts get their own column layout.
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(r.Summaries) == 0 {
		fmt.Fprintf(tw, "\nMetrics\t(none)\n")
	} else {
		fmt.Fprintf(tw, "\nMetrics\tPOINTS\tLAST\tLAST STEP\tMIN\tMIN STEP\tMAX\tMAX STEP\n")
		for _, k := range sortedKeys(r.Summaries) {
			s := r.Summaries[k]
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%d\t%s\t%d\t%s\t%d\n", k, s.Count, formatFloat(s.Last), s.LastStep,
				formatFloat(s.Min), s.MinStep, formatFloat(s.Max), s.MaxStep)
		}
	}
	if len(arts) == 0 {
		fmt.Fprintf(tw, "\nArtifacts\t(none)\n")
	} else {
		fmt.Fprintf(tw, "\nArtifacts\tSIZE\tSHA256\tPATH\n")
		for _, a := range arts {
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\n", a.Name, a.Size, a.SHA256[:12], a.Path)
		}
	}
	return tw.Flush()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

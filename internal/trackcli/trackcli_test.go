package trackcli

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/difflab/difflab/internal/cmdline"
	"github.com/difflab/difflab/internal/pgtest"
	"github.com/difflab/difflab/pkg/track"
)

// fixture creates a database with three runs and returns its path and the
// run ids by name.
func fixture(t *testing.T) (string, map[string]string) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "runs", "difflab.db")
	st, err := track.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids := map[string]string{}
	for _, r := range []struct {
		name string
		eta  float64
		fid  float64
		err  error
	}{
		{"eta=0", 0, 7.5, nil},
		{"eta=1", 1, 12, nil},
		{"<b>bad</b>", 0.5, 30, errors.New("diverged")},
	} {
		run, err := st.StartRun(track.RunOptions{Experiment: "ddim-sweep", Name: r.name, NoGit: true,
			Params: map[string]any{"eta": r.eta, "steps": 10}, Tags: map[string]string{"sampler": "ddim"}})
		if err != nil {
			t.Fatal(err)
		}
		run.LogMetric("fid", 0, 100)
		run.LogMetric("fid", 1, r.fid)
		run.LogArtifact("grid.png", strings.NewReader("png of "+r.name))
		if err := run.End(r.err); err != nil {
			t.Fatal(err)
		}
		ids[r.name] = run.ID()
	}
	return db, ids
}

// run calls Main and returns the exit code, stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestLsTable(t *testing.T) {
	db, ids := fixture(t)
	code, out, errOut := run(t, "--db", db, "ls", "--order-by", "metrics.fid")
	if code != cmdline.ExitOK {
		t.Fatalf("ls exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("ls printed %d lines, want header + 3:\n%s", len(lines), out)
	}
	header := strings.Fields(lines[0])
	wantHeader := []string{"ID", "EXPERIMENT", "NAME", "STATUS", "STARTED", "DURATION", "METRICS.FID"}
	if strings.Join(header, " ") != strings.Join(wantHeader, " ") {
		t.Errorf("ls header = %v, want %v", header, wantHeader)
	}
	// Aligned: every row starts its STATUS column where the header does.
	col := strings.Index(lines[0], "STATUS")
	for i, name := range []string{"eta=0", "eta=1", "<b>bad</b>"} {
		line := lines[i+1]
		if !strings.HasPrefix(line, ids[name]) || !strings.Contains(line, name) {
			t.Errorf("ls line %d = %q, want run %s (%s) in fid order", i+1, line, name, ids[name])
		}
		if st := line[col:]; !strings.HasPrefix(st, "finished") && !strings.HasPrefix(st, "failed") {
			t.Errorf("ls line %d: status column not aligned: %q", i+1, line)
		}
	}
	if !strings.HasSuffix(lines[1], "7.5") {
		t.Errorf("ls line 1 = %q, want fid 7.5 last", lines[1])
	}
}

func TestLsJSONAndCSV(t *testing.T) {
	db, ids := fixture(t)
	code, out, errOut := run(t, "ls", "--db", db, "--format", "json", "--filter", "params.eta < 1 and status = 'finished'")
	if code != cmdline.ExitOK {
		t.Fatalf("ls --format json exit %d: %s", code, errOut)
	}
	var got []struct {
		ID      string             `json:"id"`
		Params  map[string]any     `json:"params"`
		Metrics map[string]float64 `json:"metrics"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("ls --format json is not JSON: %v\n%s", err, out)
	}
	if len(got) != 1 || got[0].ID != ids["eta=0"] || got[0].Metrics["fid"] != 7.5 || got[0].Params["eta"] != 0.0 {
		t.Errorf("ls --format json = %+v, want run eta=0 with fid 7.5", got)
	}
	t.Setenv("DIFFLAB_DB", db)
	code, out, _ = run(t, "ls", "--format", "csv", "--order-by", "params.eta")
	if code != cmdline.ExitOK {
		t.Fatalf("ls --format csv exit %d", code)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) != 4 || recs[0][0] != "id" || recs[1][0] != ids["eta=0"] {
		t.Errorf("ls --format csv = %v, %v; want header and 3 runs by eta", recs, err)
	}
}

func TestUsageErrors(t *testing.T) {
	db, _ := fixture(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--db", db, "ls", "--bogus"}, "flag provided but not defined: --bogus"},
		{[]string{"--db", db, "ls", "--format", "xml"}, `invalid value "xml" for --format: allowed: table, json, csv`},
		{[]string{"--db", db, "ls", "--limit", "-3"}, "--limit"},
		{[]string{"--db", db, "ls", "--filter", "metrics.fid <"}, `invalid --filter: filter: column 14: expected value after "<"`},
		{[]string{"--db", db, "ls", "--order-by", "fid"}, `invalid --order-by`},
		{[]string{"--db", db, "show"}, "missing RUN_ID"},
		{[]string{"--db", db, "compare"}, "missing RUN_IDs"},
		{[]string{"--db", db, "export", "--format", "table"}, "allowed: csv, json"},
		{[]string{"--db", db, "gc", "--delete-status", "running"}, "allowed: finished, failed, killed, crashed"},
		{[]string{"--db", db, "gc", "--older-than", "soon"}, "30d"},
		{[]string{"--db", db, "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{}, "missing command"},
	}
	for _, tt := range tests {
		code, out, errOut := run(t, tt.args...)
		if code != cmdline.ExitUsage {
			t.Errorf("Main(%q) = %d, want %d", tt.args, code, cmdline.ExitUsage)
		}
		if strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tt.want) {
			t.Errorf("Main(%q) stderr = %q, want one line containing %q", tt.args, errOut, tt.want)
		}
		if out != "" {
			t.Errorf("Main(%q) stdout = %q, want nothing", tt.args, out)
		}
	}
}

func TestRuntimeErrors(t *testing.T) {
	db, _ := fixture(t)
	for _, args := range [][]string{
		{"--db", db, "show", "ffffffffffffffff"},
		{"--db", filepath.Join(t.TempDir(), "missing.db"), "ls"},
	} {
		code, _, errOut := run(t, args...)
		if code != cmdline.ExitFailure || strings.Count(errOut, "\n") != 1 {
			t.Errorf("Main(%q) = %d, stderr %q; want %d and one line", args, code, errOut, cmdline.ExitFailure)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"ls", "--help"}, {"gc", "-h"}} {
		code, out, errOut := run(t, args...)
		if code != cmdline.ExitOK || !strings.Contains(out, "usage: difflab track") || errOut != "" {
			t.Errorf("Main(%q) = %d, stdout %q, stderr %q; want usage on stdout", args, code, out, errOut)
		}
	}
	_, out, _ := run(t, "ls", "--help")
	for _, flag := range []string{"-filter", "-order-by", "-experiment", "-limit", "-format", "-db"} {
		if !strings.Contains(out, flag) {
			t.Errorf("ls --help lacks %s:\n%s", flag, out)
		}
	}
}

func TestShowCompareExportGC(t *testing.T) {
	db, ids := fixture(t)
	code, out, errOut := run(t, "--db", db, "show", ids["eta=1"][:6])
	if code != cmdline.ExitOK {
		t.Fatalf("show exit %d: %s", code, errOut)
	}
	for _, want := range []string{ids["eta=1"], "ddim-sweep", "finished", "eta", "sampler", "go_version", "fid", "grid.png"} {
		if !strings.Contains(out, want) {
			t.Errorf("show output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = run(t, "--db", db, "show", ids["eta=1"], "--format", "json")
	var shown struct {
		Run struct {
			ID     string         `json:"id"`
			Params map[string]any `json:"params"`
		} `json:"run"`
		Artifacts []track.Artifact `json:"artifacts"`
	}
	if err := json.Unmarshal([]byte(out), &shown); code != cmdline.ExitOK || err != nil || shown.Run.ID != ids["eta=1"] || len(shown.Artifacts) != 1 {
		t.Errorf("show --format json = %d, %v: %+v", code, err, shown)
	}

	code, out, errOut = run(t, "--db", db, "compare", ids["eta=0"], ids["eta=1"])
	if code != cmdline.ExitOK {
		t.Fatalf("compare exit %d: %s", code, errOut)
	}
	for _, want := range []string{"params.eta", "metrics.fid (min)", "7.5 *", "common params: steps=10"} {
		if !strings.Contains(out, want) {
			t.Errorf("compare output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = run(t, "--db", db, "compare", "--format", "json", "--maximize", "fid", ids["eta=0"], ids["eta=1"])
	var cmp struct {
		Metrics []struct {
			Key     string `json:"key"`
			BestRun string `json:"best_run"`
		} `json:"metrics"`
	}
	if err := json.Unmarshal([]byte(out), &cmp); code != cmdline.ExitOK || err != nil || len(cmp.Metrics) != 1 || cmp.Metrics[0].BestRun != ids["eta=0"] {
		// fid is 100 at step 0 in both runs, so the maximum ties; the first run wins.
		t.Errorf("compare --maximize fid = %d, %v: %+v", code, err, cmp)
	}

	outFile := filepath.Join(t.TempDir(), "runs.csv")
	if code, _, errOut := run(t, "--db", db, "export", "--output", outFile, "--experiment", "ddim-sweep"); code != cmdline.ExitOK {
		t.Fatalf("export exit %d: %s", code, errOut)
	}

	code, out, errOut = run(t, "--db", db, "gc", "--delete-status", "failed", "--grace", "0s")
	if code != cmdline.ExitOK || !strings.Contains(out, "deleted 1 runs and 1 artifact files") {
		t.Errorf("gc = %d, %q, %q; want 1 run and 1 file deleted", code, out, errOut)
	}
	if code, _, _ := run(t, "--db", db, "show", ids["<b>bad</b>"]); code != cmdline.ExitFailure {
		t.Errorf("show deleted run = %d, want %d", code, cmdline.ExitFailure)
	}
}

func TestPlotWritesPNG(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	st, err := track.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	run, err := st.StartRun(track.RunOptions{Experiment: "e", Name: "r", NoGit: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 20; i++ {
		run.LogMetric("train/loss", i, 1/float64(i))
	}
	run.End(nil)
	st.Close()
	out := filepath.Join(dir, "loss.png")
	var so, se bytes.Buffer
	if code := Main([]string{"--db", db, "plot", "--metric", "train/loss", "--out", out, run.ID()}, &so, &se); code != cmdline.ExitOK {
		t.Fatalf("plot: exit %d: %s", code, se.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("plot wrote something that is not a PNG: %v", err)
	}
	if code := Main([]string{"--db", db, "plot", "--out", out, run.ID()}, &so, &se); code != cmdline.ExitUsage {
		t.Errorf("plot without --metric: exit %d, want %d", code, cmdline.ExitUsage)
	}
}

// TestCompareGoals: difflab's metrics where higher is better (loglik) are
// compared as such by default; --minimize and --maximize override.
func TestCompareGoals(t *testing.T) {
	db := filepath.Join(t.TempDir(), "difflab.db")
	st, err := track.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ll := range []float64{-2, -1} {
		run, err := st.StartRun(track.RunOptions{Experiment: "e", NoGit: true})
		if err != nil {
			t.Fatal(err)
		}
		run.LogMetric("loglik", 0, ll)
		run.LogMetric("swd", 0, -ll)
		if err := run.End(nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, run.ID())
	}
	st.Close()
	best := func(args ...string) map[string]string {
		t.Helper()
		code, out, errOut := run(t, append([]string{"--db", db, "compare", "--format", "json"}, append(args, ids...)...)...)
		var cmp struct {
			Metrics []struct {
				Key     string `json:"key"`
				BestRun string `json:"best_run"`
			} `json:"metrics"`
		}
		if err := json.Unmarshal([]byte(out), &cmp); code != cmdline.ExitOK || err != nil {
			t.Fatalf("compare %q = %d, %v: %s", args, code, err, errOut)
		}
		m := map[string]string{}
		for _, x := range cmp.Metrics {
			m[x.Key] = x.BestRun
		}
		return m
	}
	// loglik -1 (the second run) is better; swd 1 (the second run) is lower.
	if got := best(); got["loglik"] != ids[1] || got["swd"] != ids[1] {
		t.Errorf("compare: best runs %v, want the second run (%s) for both", got, ids[1])
	}
	if got := best("--minimize", "loglik", "--maximize", "swd"); got["loglik"] != ids[0] || got["swd"] != ids[0] {
		t.Errorf("compare --minimize loglik --maximize swd: best runs %v, want the first run (%s) for both", got, ids[0])
	}
}

func TestUIRefusals(t *testing.T) {
	db, _ := fixture(t)
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--db", db, "ui", "--addr", "0.0.0.0:0"}, cmdline.ExitUsage, "--token"},
		{[]string{"--db", db, "ui", "--addr", ":0"}, cmdline.ExitUsage, "not loopback"},
		{[]string{"--db", db, "ui", "--addr", "nocolon"}, cmdline.ExitUsage, "host:port"},
		{[]string{"--db", db, "ui", "extra"}, cmdline.ExitUsage, `"extra"`},
		{[]string{"--db", filepath.Join(t.TempDir(), "none.db"), "ui"}, cmdline.ExitFailure, "no database"},
	} {
		code, _, stderr := run(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.msg) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and one line with %q", c.args, code, stderr, c.code, c.msg)
		}
	}
}

// TestUIServes starts "track ui" on a free port, reads a page of runs from
// the address it prints, and stops it with SIGINT as Ctrl-C would.
func TestUIServes(t *testing.T) {
	db, ids := fixture(t)
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- Main([]string{"--db", db, "ui", "--addr", "127.0.0.1:0", "--token", "tok"}, pw, &stderr)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no address printed: %v (stderr %q)", err, stderr.String())
	}
	go io.Copy(io.Discard, pr)
	i := strings.Index(line, "http://")
	if i < 0 || !strings.Contains(line, "token=tok") {
		t.Fatalf("printed %q, want an http:// link with the token", line)
	}
	link := strings.Fields(line[i:])[0]
	base := strings.TrimSuffix(strings.Split(link, "?")[0], "/")
	req, _ := http.NewRequest("GET", base+"/api/runs?experiment=ddim-sweep", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Runs  []struct{ ID string }
		Total int
	}
	err = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || page.Total != 3 || len(page.Runs) != 3 || page.Runs[0].ID != ids["<b>bad</b>"] {
		t.Errorf("GET /api/runs: %d, %+v, %v", resp.StatusCode, page, err)
	}
	if resp, err := http.Get(base + "/api/runs"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET without the token: %v %v, want 401", resp.StatusCode, err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	select {
	case code := <-done:
		if code != cmdline.ExitOK {
			t.Errorf("exit %d after SIGINT, stderr %q", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still serving 10 s after SIGINT")
	}
}

// TestPostgresDSN runs ls and show on a PostgreSQL tracker named by a DSN
// with a password: the commands read it (no "no database" error for a DSN,
// which is not a file), and the password shows nowhere, neither in their
// output nor in the command line the run recorded.
func TestPostgresDSN(t *testing.T) {
	dsn := strings.Replace(pgtest.DSN(t), "postgres://postgres@", "postgres://postgres:s3cret@", 1)
	st, err := track.OpenWith(dsn, track.Options{Artifacts: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	old := os.Args
	os.Args = []string{"difflab", "run", "x", "--db", dsn}
	r, err := st.StartRun(track.RunOptions{Experiment: "pg", Name: "on-postgres", NoGit: true})
	os.Args = old
	if err != nil {
		t.Fatal(err)
	}
	r.LogMetric("loss", 0, 0.5)
	if err := r.End(nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	code, out, errOut := run(t, "--db", dsn, "ls")
	if code != cmdline.ExitOK || !strings.Contains(out, "on-postgres") {
		t.Fatalf("ls: code %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, "--db", dsn, "show", r.ID())
	if code != cmdline.ExitOK || !strings.Contains(out, "--db postgres://postgres:xxxxx@") {
		t.Fatalf("show: code %d, want the recorded command with the password redacted\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "s3cret") {
		t.Errorf("show printed the password:\n%s", out)
	}
	bad := strings.Replace(dsn, "/difflab_test", "/no_such_db_", 1)
	if code, _, errOut = run(t, "--db", bad, "ls"); code == cmdline.ExitOK || strings.Contains(errOut, "s3cret") {
		t.Errorf("ls on a missing database: code %d, %q", code, errOut)
	}
}

package track

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sweep fills st with five runs of a small DDIM sweep and returns their ids
// by name.
func sweep(t *testing.T, st *Store) map[string]string {
	t.Helper()
	runs := []struct {
		name   string
		exp    string
		params map[string]any
		tags   map[string]string
		fid    float64 // < 0: not logged
		fail   bool
	}{
		{"a", "ddim-sweep", map[string]any{"eta": 0.0, "steps": 10, "sampler": "ddim"}, map[string]string{"best": "yes"}, 9.5, false},
		{"b", "ddim-sweep", map[string]any{"eta": 0.0, "steps": 50, "sampler": "ddim"}, nil, 7.25, false},
		{"c", "ddim-sweep", map[string]any{"eta": 1.0, "steps": 10, "sampler": "ddim"}, nil, 12, false},
		{"d", "ddim-sweep", map[string]any{"eta": 0.5, "steps": 10, "sampler": "ddpm", "ema": true}, nil, -1, true},
		{"e", "other", map[string]any{"eta": 0.0, "sampler": "it's \"quoted\""}, nil, 3, false},
	}
	ids := map[string]string{}
	for _, r := range runs {
		run := start(t, st, RunOptions{Experiment: r.exp, Name: r.name, Params: r.params, Tags: r.tags})
		if r.fid >= 0 {
			run.LogMetric("fid", 0, 100)
			run.LogMetric("fid", 1, r.fid)
		}
		var err error
		if r.fail {
			err = errors.New("diverged")
		}
		run.End(err)
		ids[r.name] = run.ID()
		time.Sleep(time.Millisecond) // distinct start times for ordering
	}
	return ids
}

func names(runs []RunInfo) string {
	var s []string
	for _, r := range runs {
		s = append(s, r.Name)
	}
	return strings.Join(s, ",")
}

func TestRunsFilter(t *testing.T) { eachStore(t, testRunsFilter) }

func testRunsFilter(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	ids := sweep(t, st)
	tests := []struct {
		q    Query
		want string
	}{
		{Query{}, "e,d,c,b,a"},
		{Query{Experiment: "ddim-sweep", OrderBy: "start_time"}, "a,b,c,d"},
		{Query{Experiment: "ddim-sweep", Filter: "params.eta = 0 and metrics.fid < 10", OrderBy: "metrics.fid"}, "b,a"},
		{Query{Filter: "params.eta = 0", OrderBy: "-metrics.fid"}, "a,b,e"},
		{Query{Filter: "params.eta = 0", OrderBy: "metrics.fid DESC"}, "a,b,e"},
		{Query{Filter: "params.eta = 0", OrderBy: "metrics.fid asc", Limit: 2}, "e,b"},
		{Query{Filter: "params.eta > 0.2 OR params.steps >= 50", OrderBy: "name"}, "b,c,d"},
		{Query{Filter: "(params.eta = 0 or params.eta = 1) and params.steps = 10", OrderBy: "name"}, "a,c"},
		{Query{Filter: "params.eta = 0 or params.eta = 1 and params.steps = 10", OrderBy: "name"}, "a,b,c,e"}, // AND binds tighter
		{Query{Filter: "not params.eta = 0", OrderBy: "name"}, "c,d"},
		{Query{Filter: "params.eta != 0", OrderBy: "name"}, "c,d"},
		{Query{Filter: "params.ema = true", OrderBy: "name"}, "d"},
		{Query{Filter: "params.sampler = 'ddpm'", OrderBy: "name"}, "d"},
		{Query{Filter: `params.sampler = "it's \"quoted\""`}, "e"},
		{Query{Filter: "params.sampler LIKE 'dd%'", OrderBy: "name"}, "a,b,c,d"},
		{Query{Filter: "params.sampler NOT LIKE 'ddi%'", OrderBy: "name"}, "d,e"},
		{Query{Filter: "metrics.fid <= 9.5", OrderBy: "metrics.fid"}, "e,b,a"},
		{Query{Filter: "metrics.fid > 100"}, ""},
		{Query{Filter: "metrics.fid != 12", OrderBy: "name"}, "a,b,e"}, // d has no fid: false
		{Query{Filter: "tags.best = 'yes'"}, "a"},
		{Query{Filter: "status = 'failed'"}, "d"},
		{Query{Filter: "STATUS = 'finished' AND experiment = 'other'"}, "e"},
		{Query{Filter: "name = 'b' or id = '" + ids["c"] + "'", OrderBy: "name"}, "b,c"},
		{Query{Filter: "start_time > '2000-01-01' and end_time < '2999-01-01T00:00:00Z'", Experiment: "other"}, "e"},
		{Query{Filter: "start_time < '2000-01-01'"}, ""},
		{Query{OrderBy: "params.steps", Experiment: "ddim-sweep", Filter: "params.steps < 50"}, "a,c,d"},
		{Query{OrderBy: "params.eta desc", Filter: "params.steps = 10"}, "c,d,a"},
		{Query{OrderBy: "metrics.fid", Experiment: "ddim-sweep"}, "b,a,c,d"}, // no fid: last
		{Query{OrderBy: "-metrics.fid", Experiment: "ddim-sweep"}, "c,a,b,d"},
		{Query{Filter: "  ", Experiment: "none"}, ""},
	}
	for _, tt := range tests {
		runs, err := st.Runs(tt.q)
		if err != nil {
			t.Errorf("Runs(%+v): %v", tt.q, err)
			continue
		}
		if got := names(runs); got != tt.want {
			t.Errorf("Runs(%+v) = %q, want %q", tt.q, got, tt.want)
		}
	}
}

func TestFilterErrors(t *testing.T) { eachStore(t, testFilterErrors) }

func testFilterErrors(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	sweep(t, st)
	tests := []struct {
		filter, orderBy string
		want            string
	}{
		{"metrics.fid < ", "", `filter: column 15: expected value after "<", got end of filter`},
		{"params.eta = 0 and metrics.fid <", "", `filter: column 33: expected value after "<"`},
		{"eta = 0", "", `filter: column 1: unknown field "eta"`},
		{"params.eta", "", `filter: column 11: expected an operator`},
		{"params.eta = 'x", "", `filter: column 14: unterminated string`},
		{"(params.eta = 0", "", `filter: column 16: expected ")" to close "(" at column 1`},
		{"params.eta = 0)", "", `filter: column 15: unexpected ")"`},
		{"params.eta = 0 params.steps = 1", "", `filter: column 16: expected AND, OR or end of filter`},
		{"params.eta ! 0", "", `filter: column 12: unexpected "!"`},
		{"params. = 0", "", `filter: column 1: missing key after "params."`},
		{"metrics.fid = 'low'", "", `filter: column 15: metrics.fid holds numbers`},
		{"status = 'runing'", "", `filter: column 10: unknown status "runing" (allowed: running, finished, failed, killed, crashed)`},
		{"start_time > 'yesterday'", "", `filter: column 14: start_time: cannot read "yesterday" as a time`},
		{"name LIKE 5", "", `filter: column 11: LIKE needs a string pattern`},
		{"name = #", "", `filter: column 8: unexpected character '#'`},
		{"", "fid", `order-by: column 1: unknown field "fid"`},
		{"", "metrics.fid sideways", `order-by: column 13: expected ASC, DESC or end`},
		{"", "-metrics.fid desc", `order-by: column 14: "desc" conflicts with the leading "-"`},
		{"", "-", `order-by: column 1: expected a field after "-"`},
	}
	for _, tt := range tests {
		_, err := st.Runs(Query{Filter: tt.filter, OrderBy: tt.orderBy})
		var fe *FilterError
		if !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Runs(filter %q, order %q) error = %v, want prefix %q", tt.filter, tt.orderBy, err, tt.want)
		}
	}
	if _, err := st.Runs(Query{Limit: -1}); err == nil {
		t.Errorf("Runs(Limit -1) = nil error, want error")
	}
}

// TestFilterHostile checks that values and keys never reach SQL as text.
func TestFilterHostile(t *testing.T) { eachStore(t, testFilterHostile) }

func testFilterHostile(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	r := start(t, st, RunOptions{Name: "x'; DROP TABLE runs; --", Params: map[string]any{"k'); DROP TABLE params; --": 1}})
	r.End(nil)
	hostile := []string{
		`name = "x'; DROP TABLE runs; --"`,
		`name = 'x\'; DROP TABLE runs; --'`,
		`params."k'); DROP TABLE params; --" = 1`,
		`metrics."a' OR 1=1 --" < 1`,
		`tags.x = "' OR '1'='1"`,
		`name LIKE "%' UNION SELECT * FROM sqlite_schema --"`,
	}
	for _, f := range hostile {
		if _, err := st.Runs(Query{Filter: f}); err != nil {
			t.Errorf("Runs(%q): %v", f, err)
		}
	}
	for _, o := range []string{`params."k'); DROP TABLE params; --"`, `metrics."a' OR 1=1 --" DESC`, `-tags."x; DELETE FROM runs"`} {
		if _, err := st.Runs(Query{OrderBy: o}); err != nil {
			t.Errorf("Runs(order by %q): %v", o, err)
		}
	}
	runs, err := st.Runs(Query{Filter: hostile[0]})
	if err != nil || len(runs) != 1 || runs[0].ID != r.ID() {
		t.Errorf("Runs(%q) = %v, %v; want the one run", hostile[0], runs, err)
	}
	runs, err = st.Runs(Query{Filter: hostile[2]})
	if err != nil || len(runs) != 1 {
		t.Errorf("Runs(%q) = %v, %v; want the one run", hostile[2], runs, err)
	}
	for _, table := range []string{"runs", "params", "tags", "series", "points", "artifacts", "experiments"} {
		q := "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?"
		if k == dialectPostgres {
			q = "SELECT count(*) FROM pg_tables WHERE schemaname = 'difflab' AND tablename = ?"
		}
		var n int
		if err := st.db.QueryRow(q, table).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s missing after hostile filters (%v)", table, err)
		}
	}
}

// FuzzParseFilter checks that the parser never panics and that whatever it
// accepts compiles to SQL that SQLite accepts, with one bound value per "?".
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"params.eta = 0 and metrics.fid < 10", "(name LIKE 'a%') OR NOT status = \"failed\"", "tags.x != 1e-3", "params.'a b' >= -2"} {
		f.Add(s)
	}
	st := openTemp(f, dialectSQLite)
	f.Fuzz(func(t *testing.T, filter string) {
		where, args, err := compileFilter(dialectSQLite, filter)
		if err != nil {
			var fe *FilterError
			if !errors.As(err, &fe) {
				t.Fatalf("compileFilter(%q) error %v is not a *FilterError", filter, err)
			}
			return
		}
		if strings.Count(where, "?") != len(args) {
			t.Fatalf("compileFilter(%q) = %q with %d args", filter, where, len(args))
		}
		if _, err := st.Runs(Query{Filter: filter}); err != nil {
			t.Fatalf("Runs(%q): %v", filter, err)
		}
	})
}

func TestCompare(t *testing.T) { eachStore(t, testCompare) }

func testCompare(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	r1 := start(t, st, RunOptions{Name: "one", Params: map[string]any{"eta": 0.0, "steps": 10, "lr": 1e-3}})
	r2 := start(t, st, RunOptions{Name: "two", Params: map[string]any{"eta": 1.0, "steps": 10}})
	for i, v := range []float64{5, 2, 3} {
		r1.LogMetric("loss", int64(i), v)
		r2.LogMetric("loss", int64(i), v+1)
	}
	r1.LogMetric("acc", 0, 0.5)
	r2.LogMetric("acc", 0, 0.75)
	r2.LogMetric("only2", 0, 1)
	r1.End(nil)
	r2.End(nil)
	c, err := st.CompareWith(CompareOptions{Goals: map[string]Goal{"acc": Maximize}}, r1.ID(), r2.ID())
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"steps": int64(10)}; !reflect.DeepEqual(c.Common, want) {
		t.Errorf("Common = %v, want %v", c.Common, want)
	}
	wantDiff := []ParamDiff{{"eta", []any{0.0, 1.0}}, {"lr", []any{1e-3, nil}}}
	if !reflect.DeepEqual(c.Differing, wantDiff) {
		t.Errorf("Differing = %v, want %v", c.Differing, wantDiff)
	}
	if len(c.Metrics) != 3 {
		t.Fatalf("Metrics = %+v, want acc, loss, only2", c.Metrics)
	}
	acc, loss, only2 := c.Metrics[0], c.Metrics[1], c.Metrics[2]
	if acc.Key != "acc" || acc.Goal != Maximize || acc.BestRun != 1 || acc.Best[1] != 0.75 {
		t.Errorf("acc = %+v, want best 0.75 in run 1", acc)
	}
	if loss.Key != "loss" || !reflect.DeepEqual(loss.Last, []float64{3, 4}) || !reflect.DeepEqual(loss.Best, []float64{2, 3}) ||
		!reflect.DeepEqual(loss.BestStep, []int64{1, 1}) || loss.BestRun != 0 {
		t.Errorf("loss = %+v, want last [3 4] best [2 3] at step 1, best run 0", loss)
	}
	if only2.Has[0] || !only2.Has[1] || only2.BestRun != 1 {
		t.Errorf("only2 = %+v, want only run 1", only2)
	}
	var csvOut strings.Builder
	if err := c.WriteCSV(&csvOut); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"field," + r1.ID() + "," + r2.ID(), "params.eta,0,1", "params.lr,0.001,", "params.steps,10,10", "metrics.loss.best,2,3", "metrics.only2.last,,1"} {
		if !strings.Contains(csvOut.String(), line+"\n") {
			t.Errorf("WriteCSV lacks line %q:\n%s", line, csvOut.String())
		}
	}
	if _, err := st.Compare(); err == nil {
		t.Errorf("Compare() = nil error, want error")
	}
	if _, err := st.Compare(r1.ID(), "ffffffffffffffff"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Compare(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := st.CompareWith(CompareOptions{Goals: map[string]Goal{"x": "up"}}, r1.ID()); err == nil {
		t.Errorf("CompareWith(goal up) = nil error, want error")
	}
}

// TestRunsMany lists enough runs to take the bulk-loading path and checks
// that every run gets its own params and metrics.
func TestRunsMany(t *testing.T) { eachStore(t, testRunsMany) }

func testRunsMany(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	const n = 2500
	fillRuns(t, st, n)
	for _, q := range []Query{{}, {Filter: "params.steps = 12"}} {
		runs, err := st.Runs(q)
		if err != nil {
			t.Fatal(err)
		}
		want := n
		if q.Filter != "" {
			want = n / 5
		}
		if len(runs) != want {
			t.Fatalf("Runs(%+v) = %d runs, want %d", q, len(runs), want)
		}
		for _, r := range runs {
			var i int
			if _, err := fmt.Sscanf(r.Name, "run-%d", &i); err != nil {
				t.Fatal(err)
			}
			if r.Params["eta"] != float64(i%10) || r.Params["steps"] != int64(10+i%5) ||
				r.Metrics["fid"] != float64(i%10000)/100 || r.Metrics["loss"] != 1/float64(i+1) {
				t.Fatalf("run %d: params %v metrics %v", i, r.Params, r.Metrics)
			}
		}
	}
}

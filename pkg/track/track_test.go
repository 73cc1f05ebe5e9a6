package track

import (
	"bytes"
	"errors"
	"github.com/difflab/difflab/internal/pgtest"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if name := os.Getenv(helperEnv); name != "" {
		os.Exit(helperMain(name))
	}
	os.Exit(m.Run())
}

// storeKind is the kind of database a test runs against.
type storeKind = dialect

// eachStore runs test once per store: SQLite, and PostgreSQL on the test
// server (skipped without one, see pgtest).
func eachStore(t *testing.T, test func(t *testing.T, k storeKind)) {
	t.Helper()
	for _, k := range []storeKind{dialectSQLite, dialectPostgres} {
		t.Run(k.String(), func(t *testing.T) { test(t, k) })
	}
}

// tempDSN returns where a new, empty database of kind k is: a path in a
// temporary folder, or a new database on the PostgreSQL test server.
func tempDSN(t testing.TB, k storeKind) string {
	t.Helper()
	if k == dialectPostgres {
		return pgtest.DSN(t)
	}
	return filepath.Join(t.TempDir(), "sub", "track.db")
}

// openDSN opens dsn, with a temporary artifact root on PostgreSQL.
func openDSN(t testing.TB, dsn string) *Store {
	t.Helper()
	var o Options
	if isPostgresDSN(dsn) {
		o.Artifacts = filepath.Join(t.TempDir(), "artifacts")
	}
	st, err := OpenWith(dsn, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// openTemp opens a new database of kind k.
func openTemp(t testing.TB, k storeKind) *Store {
	t.Helper()
	return openDSN(t, tempDSN(t, k))
}

// start starts a run that does not run git.
func start(t testing.TB, st *Store, opts RunOptions) *Run {
	t.Helper()
	opts.NoGit = true
	r, err := st.StartRun(opts)
	if err != nil {
		t.Fatalf("StartRun(%+v): %v", opts, err)
	}
	return r
}

func getRun(t testing.TB, st *Store, id string) RunInfo {
	t.Helper()
	ri, err := st.Run(id)
	if err != nil {
		t.Fatalf("Run(%q): %v", id, err)
	}
	return ri
}

func TestRunRoundTrip(t *testing.T) { eachStore(t, testRunRoundTrip) }

func testRunRoundTrip(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	seed := int64(42)
	r, err := st.StartRun(RunOptions{
		Experiment: "ddim-sweep",
		Name:       "eta=0,steps=10",
		Params:     map[string]any{"eta": 0.0, "steps": 10, "sampler": "ddim", "ema": true},
		Tags:       map[string]string{"sampler": "ddim"},
		Note:       "first try",
		Seed:       &seed,
		ConfigHash: "abc123",
		Backend:    "go",
	})
	if err != nil {
		t.Fatalf("StartRun: %v", err)
	}
	if err := r.LogParam("lr", float32(0.5)); err != nil {
		t.Fatalf("LogParam: %v", err)
	}
	for step := int64(0); step < 2500; step++ {
		if err := r.LogMetric("loss", step, 1/float64(step+1)); err != nil {
			t.Fatalf("LogMetric: %v", err)
		}
	}
	if err := r.LogMetrics(10, map[string]float64{"fid": 12.5, "is": 3}); err != nil {
		t.Fatalf("LogMetrics: %v", err)
	}
	if err := r.SetTag("sampler", "ddim2"); err != nil {
		t.Fatalf("SetTag: %v", err)
	}
	if err := r.SetNote("second thoughts"); err != nil {
		t.Fatalf("SetNote: %v", err)
	}
	if ri := getRun(t, st, r.ID()); ri.Status != StatusRunning || !ri.EndTime.IsZero() {
		t.Errorf("before End: status %q end %v, want running and zero end", ri.Status, ri.EndTime)
	}
	if err := r.End(nil); err != nil {
		t.Fatalf("End: %v", err)
	}
	ri := getRun(t, st, r.ID())
	wantParams := map[string]any{"eta": 0.0, "steps": int64(10), "sampler": "ddim", "ema": true, "lr": 0.5}
	if !reflect.DeepEqual(ri.Params, wantParams) {
		t.Errorf("Params = %#v, want %#v", ri.Params, wantParams)
	}
	if want := map[string]string{"sampler": "ddim2"}; !reflect.DeepEqual(ri.Tags, want) {
		t.Errorf("Tags = %v, want %v", ri.Tags, want)
	}
	if want := map[string]float64{"loss": 1.0 / 2500, "fid": 12.5, "is": 3}; !reflect.DeepEqual(ri.Metrics, want) {
		t.Errorf("Metrics = %v, want %v", ri.Metrics, want)
	}
	if ri.Status != StatusFinished || ri.Name != "eta=0,steps=10" || ri.Experiment != "ddim-sweep" || ri.Note != "second thoughts" {
		t.Errorf("RunInfo = %+v, want finished run eta=0,steps=10 in ddim-sweep with the new note", ri)
	}
	if ri.EndTime.Before(ri.StartTime) || ri.EndTime.IsZero() {
		t.Errorf("EndTime %v, StartTime %v: want end after start", ri.EndTime, ri.StartTime)
	}
	if ri.Env.Seed == nil || *ri.Env.Seed != 42 || ri.Env.ConfigHash != "abc123" || ri.Env.Backend != "go" ||
		ri.Env.GoVersion == "" || ri.Env.PID != os.Getpid() || len(ri.Env.Command) == 0 {
		t.Errorf("Env = %+v, want seed 42, config hash, backend go, Go version, our pid and command", ri.Env)
	}
	sum := ri.Summaries["loss"]
	if sum.Count != 2500 || sum.Min != 1.0/2500 || sum.MinStep != 2499 || sum.Max != 1 || sum.MaxStep != 0 || sum.LastStep != 2499 {
		t.Errorf("Summaries[loss] = %+v", sum)
	}

	pts, err := st.Metric(r.ID(), "loss")
	if err != nil {
		t.Fatalf("Metric: %v", err)
	}
	if len(pts) != 2500 {
		t.Fatalf("Metric(loss) has %d points, want 2500", len(pts))
	}
	for i, p := range pts {
		if p.Step != int64(i) || p.Value != 1/float64(i+1) || p.Time.Before(ri.StartTime) {
			t.Fatalf("Metric(loss)[%d] = %+v, want step %d value %g", i, p, i, 1/float64(i+1))
		}
	}
	if pts, err := st.Metric(r.ID(), "nope"); err != nil || len(pts) != 0 {
		t.Errorf("Metric(nope) = %v, %v; want no points, nil", pts, err)
	}
	if _, err := st.Metric("0000000000000000", "loss"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Metric(unknown run) error = %v, want ErrNotFound", err)
	}
}

func TestEndWithError(t *testing.T) { eachStore(t, testEndWithError) }

func testEndWithError(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	r := start(t, st, RunOptions{})
	if err := r.End(errors.New("loss is NaN")); err != nil {
		t.Fatalf("End: %v", err)
	}
	ri := getRun(t, st, r.ID())
	if ri.Status != StatusFailed || ri.Error != "loss is NaN" || ri.Experiment != "default" {
		t.Errorf("after End(err): status %q error %q experiment %q, want failed, loss is NaN, default", ri.Status, ri.Error, ri.Experiment)
	}
	if err := r.End(nil); err != nil {
		t.Errorf("second End = %v, want nil", err)
	}
	if ri := getRun(t, st, r.ID()); ri.Status != StatusFailed {
		t.Errorf("second End changed status to %q", ri.Status)
	}
	if err := r.LogMetric("x", 1, 1); err == nil || !errors.Is(err, errEnded) {
		t.Errorf("LogMetric after End = %v, want run has ended", err)
	}
	if err := r.Err(); err == nil {
		t.Errorf("Err() after logging to an ended run = nil, want the error")
	}
}

func TestParamWriteOnce(t *testing.T) { eachStore(t, testParamWriteOnce) }

func testParamWriteOnce(t *testing.T, k storeKind) {
	tests := []struct {
		name    string
		first   any
		again   any
		wantErr bool
	}{
		{"same float", 0.5, 0.5, false},
		{"same int of another width", 10, int64(10), false},
		{"same string", "ddim", "ddim", false},
		{"same bool", true, true, false},
		{"same NaN", math.NaN(), math.NaN(), false},
		{"different float", 0.5, 0.25, true},
		{"different type", 10, 10.0, true},
		{"different string", "ddim", "ddpm", true},
		{"different bool", true, false, true},
	}
	st := openTemp(t, k)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := start(t, st, RunOptions{})
			defer r.End(nil)
			if err := r.LogParam("p", tt.first); err != nil {
				t.Fatalf("LogParam(p, %v): %v", tt.first, err)
			}
			err := r.LogParam("p", tt.again)
			if (err != nil) != tt.wantErr {
				t.Fatalf("LogParam(p, %v) after %v = %v, want error %v", tt.again, tt.first, err, tt.wantErr)
			}
			if (r.Err() != nil) != tt.wantErr {
				t.Errorf("Err() = %v, want error %v", r.Err(), tt.wantErr)
			}
			got := getRun(t, st, r.ID()).Params["p"]
			_, want, _ := normalizeParam(tt.first)
			if !sameParam(got, want) {
				t.Errorf("stored param = %#v, want the first value %#v", got, want)
			}
		})
	}
}

func TestParamTypes(t *testing.T) { eachStore(t, testParamTypes) }

func testParamTypes(t *testing.T, k storeKind) {
	type spacing string
	tests := []struct {
		in      any
		want    any
		wantErr bool
	}{
		{"x", "x", false},
		{spacing("leading"), "leading", false},
		{int8(-3), int64(-3), false},
		{uint32(7), int64(7), false},
		{int64(math.MaxInt64), int64(math.MaxInt64), false},
		{float32(0.25), 0.25, false},
		{math.Inf(-1), math.Inf(-1), false},
		{false, false, false},
		{"", "", false},
		{"10", "10", false}, // text stays text
		{uint64(math.MaxUint64), nil, true},
		{nil, nil, true},
		{[]int{1}, nil, true},
		{struct{}{}, nil, true},
	}
	st := openTemp(t, k)
	r := start(t, st, RunOptions{})
	defer r.End(nil)
	for i, tt := range tests {
		key := "p" + string(rune('a'+i))
		err := r.LogParam(key, tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("LogParam(%s, %#v) = %v, want error %v", key, tt.in, err, tt.wantErr)
			continue
		}
		got, ok := getRun(t, st, r.ID()).Params[key]
		if tt.wantErr {
			if ok {
				t.Errorf("LogParam(%#v) failed but stored %#v", tt.in, got)
			}
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("LogParam(%#v) read back %#v (%T), want %#v (%T)", tt.in, got, got, tt.want, tt.want)
		}
	}
	if _, err := st.StartRun(RunOptions{NoGit: true, Params: map[string]any{"bad": []byte("x")}}); err == nil {
		t.Errorf("StartRun with a []byte param = nil error, want error")
	}
}

func TestMetricValues(t *testing.T) { eachStore(t, testMetricValues) }

func testMetricValues(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	r := start(t, st, RunOptions{})
	// Steps out of order: the last value is the one at the highest step;
	// equal steps keep the later one.
	points := []struct {
		step int64
		v    float64
	}{{5, 1}, {3, 2}, {5, 3}, {4, math.NaN()}, {1, math.Inf(1)}, {2, -7}}
	for _, p := range points {
		r.LogMetric("m", p.step, p.v)
	}
	r.LogMetric("allnan", 0, math.NaN())
	if err := r.End(nil); err != nil {
		t.Fatalf("End: %v", err)
	}
	ri := getRun(t, st, r.ID())
	s := ri.Summaries["m"]
	if s.Last != 3 || s.LastStep != 5 || s.Min != -7 || s.MinStep != 2 || !math.IsInf(s.Max, 1) || s.MaxStep != 1 || s.Count != 6 {
		t.Errorf("Summaries[m] = %+v, want last 3 at 5, min -7 at 2, max +Inf at 1, count 6", s)
	}
	if a := ri.Summaries["allnan"]; !math.IsNaN(a.Last) || !math.IsNaN(a.Min) || a.Count != 1 {
		t.Errorf("Summaries[allnan] = %+v, want NaN last and min", a)
	}
	pts, err := st.Metric(r.ID(), "m")
	if err != nil {
		t.Fatal(err)
	}
	var steps []int64
	for _, p := range pts {
		steps = append(steps, p.Step)
	}
	if want := []int64{1, 2, 3, 4, 5, 5}; !reflect.DeepEqual(steps, want) {
		t.Errorf("Metric steps = %v, want %v", steps, want)
	}
	if !math.IsNaN(pts[3].Value) || !math.IsInf(pts[0].Value, 1) || pts[4].Value != 1 || pts[5].Value != 3 {
		t.Errorf("Metric values = %+v, want +Inf, -7, 2, NaN, 1, 3", pts)
	}
}

func TestBadKeys(t *testing.T) { eachStore(t, testBadKeys) }

func testBadKeys(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	r := start(t, st, RunOptions{})
	defer r.End(nil)
	for _, key := range []string{"", "a\nb", "bad\xff"} {
		if err := r.LogMetric(key, 0, 1); err == nil {
			t.Errorf("LogMetric(%q) = nil, want error", key)
		}
		if err := r.LogParam(key, 1); err == nil {
			t.Errorf("LogParam(%q) = nil, want error", key)
		}
		if err := r.SetTag(key, "v"); err == nil {
			t.Errorf("SetTag(%q) = nil, want error", key)
		}
	}
}

func TestDisabled(t *testing.T) {
	for _, r := range []*Run{Disabled(), nil} {
		if r.Enabled() || r.ID() != "" {
			t.Errorf("disabled run: Enabled %v ID %q", r.Enabled(), r.ID())
		}
		calls := []error{
			r.LogParam("a", 1), r.LogParam("a", []int{}), r.LogMetric("m", 1, 2), r.LogMetric("", 1, 2),
			r.LogMetrics(1, map[string]float64{"x": 1}), r.SetTag("k", "v"), r.DeleteTag("k"), r.SetNote("n"),
			r.LogArtifact("a", strings.NewReader("x")), r.LogArtifactFile("/does/not/exist"), r.Flush(), r.End(nil), r.Err(),
		}
		for i, err := range calls {
			if err != nil {
				t.Errorf("disabled run call %d = %v, want nil", i, err)
			}
		}
	}
}

func TestArtifacts(t *testing.T) { eachStore(t, testArtifacts) }

func testArtifacts(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	r1 := start(t, st, RunOptions{})
	r2 := start(t, st, RunOptions{})
	png := bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 1000)
	if err := r1.LogArtifact("samples/grid.png", bytes.NewReader(png)); err != nil {
		t.Fatalf("LogArtifact: %v", err)
	}
	if err := r2.LogArtifact("grid.png", bytes.NewReader(png)); err != nil {
		t.Fatalf("LogArtifact: %v", err)
	}
	file := filepath.Join(t.TempDir(), "ckpt.bin")
	if err := os.WriteFile(file, []byte("weights v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r1.LogArtifactFile(file); err != nil {
		t.Fatalf("LogArtifactFile: %v", err)
	}
	r1.End(nil)
	r2.End(nil)

	arts, err := st.Artifacts(r1.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 2 || arts[0].Name != "ckpt.bin" || arts[0].Size != 10 || arts[1].Name != "samples/grid.png" || arts[1].Size != int64(len(png)) {
		t.Fatalf("Artifacts = %+v, want ckpt.bin (10 bytes) and samples/grid.png (%d bytes)", arts, len(png))
	}
	arts2, _ := st.Artifacts(r2.ID())
	if len(arts2) != 1 || arts2[0].Path != arts[1].Path {
		t.Errorf("same content stored twice: %+v vs %+v", arts2, arts[1])
	}
	rc, err := st.OpenArtifact(r1.ID(), "samples/grid.png")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, png) {
		t.Errorf("OpenArtifact content differs (%d bytes, want %d)", len(got), len(png))
	}
	if _, err := st.OpenArtifact(r1.ID(), "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("OpenArtifact(missing) = %v, want ErrNotFound", err)
	}
	if err := r1.LogArtifactFile(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Errorf("LogArtifactFile(missing file) = nil, want error")
	}
}

func TestGC(t *testing.T) { eachStore(t, testGC) }

func testGC(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	keep := start(t, st, RunOptions{Name: "keep"})
	keep.LogArtifact("shared", strings.NewReader("shared content"))
	keep.End(nil)
	bad := start(t, st, RunOptions{Name: "bad"})
	bad.LogArtifact("shared", strings.NewReader("shared content"))
	bad.LogArtifact("own", strings.NewReader("only in the failed run"))
	bad.LogMetric("loss", 1, 1)
	bad.End(errors.New("boom"))
	running := start(t, st, RunOptions{Name: "running"})
	defer running.End(nil)

	if _, err := st.GC(GCOptions{DeleteStatus: []Status{StatusRunning}}); err == nil {
		t.Errorf("GC(delete running) = nil error, want error")
	}
	rep, err := st.GC(GCOptions{DeleteStatus: []Status{StatusFailed, StatusCrashed}, Grace: -1, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	// Grace -1 means the default hour, so no file is old enough yet.
	if rep.RunsDeleted != 1 || rep.FilesDeleted != 0 {
		t.Errorf("dry run GC = %+v, want 1 run, 0 files", rep)
	}
	if _, err := st.Run(bad.ID()); err != nil {
		t.Errorf("dry run deleted the run: %v", err)
	}
	rep, err = st.GC(GCOptions{DeleteStatus: []Status{StatusFailed}, Grace: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.RunsDeleted != 1 || rep.FilesDeleted != 1 || rep.BytesFreed != int64(len("only in the failed run")) {
		t.Errorf("GC = %+v, want 1 run and 1 file of %d bytes", rep, len("only in the failed run"))
	}
	if _, err := st.Run(bad.ID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Run(deleted) = %v, want ErrNotFound", err)
	}
	rc, err := st.OpenArtifact(keep.ID(), "shared")
	if err != nil {
		t.Fatalf("shared artifact gone after GC: %v", err)
	}
	rc.Close()
	if _, err := st.Run(running.ID()); err != nil {
		t.Errorf("running run gone after GC: %v", err)
	}
}

func TestRunPrefix(t *testing.T) { eachStore(t, testRunPrefix) }

func testRunPrefix(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	r := start(t, st, RunOptions{})
	defer r.End(nil)
	if ri := getRun(t, st, r.ID()[:6]); ri.ID != r.ID() {
		t.Errorf("Run(prefix) = %s, want %s", ri.ID, r.ID())
	}
	if _, err := st.Run("zz"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Run(zz) = %v, want ErrNotFound", err)
	}
}

func TestCloseEndsLiveRuns(t *testing.T) { eachStore(t, testCloseEndsLiveRuns) }

func testCloseEndsLiveRuns(t *testing.T, k storeKind) {
	path := tempDSN(t, k)
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.StartRun(RunOptions{NoGit: true})
	if err != nil {
		t.Fatal(err)
	}
	r.LogMetric("loss", 1, 0.5)
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	st, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ri := getRun(t, st, r.ID())
	if ri.Status != StatusFailed || ri.Metrics["loss"] != 0.5 {
		t.Errorf("after Close without End: status %q metrics %v, want failed with loss 0.5", ri.Status, ri.Metrics)
	}
}

func TestOddPaths(t *testing.T) {
	for _, name := range []string{"with space.db", "q?uery#frag%20.db", "ünï.db"} {
		path := filepath.Join(t.TempDir(), name)
		st, err := Open(path)
		if err != nil {
			t.Errorf("Open(%q): %v", path, err)
			continue
		}
		r := start(t, st, RunOptions{})
		r.End(nil)
		st.Close()
		if _, err := os.Stat(path); err != nil {
			t.Errorf("Open(%q) did not create that file: %v", path, err)
		}
		if st, err = Open(path); err != nil {
			t.Errorf("reopen %q: %v", path, err)
			continue
		}
		if _, err := st.Run(r.ID()); err != nil {
			t.Errorf("run lost on reopen of %q: %v", path, err)
		}
		st.Close()
	}
}

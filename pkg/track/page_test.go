package track

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestRunsPage(t *testing.T) { eachStore(t, testRunsPage) }

func testRunsPage(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	sweep(t, st)
	// Newest first: e d c b a. A page of two from offset 1 is d, c.
	for _, c := range []struct {
		q    Query
		want string
	}{
		{Query{Limit: 2, Offset: 1}, "d,c"},
		{Query{Offset: 3}, "b,a"},
		{Query{Offset: 9}, ""},
		{Query{Experiment: "ddim-sweep", OrderBy: "metrics.fid", Limit: 1, Offset: 1}, "a"},
	} {
		runs, err := st.Runs(c.q)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(runs); got != c.want {
			t.Errorf("Runs(%+v) = %q, want %q", c.q, got, c.want)
		}
	}
	if _, err := st.Runs(Query{Offset: -1}); err == nil {
		t.Error("negative offset: no error")
	}
	for _, c := range []struct {
		q    Query
		want int
	}{
		{Query{}, 5},
		{Query{Experiment: "ddim-sweep"}, 4},
		{Query{Filter: "params.eta = 0", Limit: 1, Offset: 2}, 3}, // limit and offset ignored
		{Query{Experiment: "nope"}, 0},
	} {
		if n, err := st.Count(c.q); err != nil || n != c.want {
			t.Errorf("Count(%+v) = %d, %v; want %d", c.q, n, err, c.want)
		}
	}
	var fe *FilterError
	if _, err := st.Count(Query{Filter: "params.eta <"}); !errors.As(err, &fe) {
		t.Errorf("Count with a bad filter: %v, want a *FilterError", err)
	}
	keys, err := st.Keys(Query{Experiment: "ddim-sweep", Filter: `name != "d"`})
	if err != nil {
		t.Fatal(err)
	}
	// d alone has "ema" and no fid; e is in another experiment.
	if !slices.Equal(keys.Params, []string{"eta", "sampler", "steps"}) || !slices.Equal(keys.Tags, []string{"best"}) || !slices.Equal(keys.Metrics, []string{"fid"}) {
		t.Errorf("Keys = %+v", keys)
	}
	if k, _ := st.Keys(Query{Experiment: "nope"}); k.Params == nil || len(k.Params)+len(k.Tags)+len(k.Metrics) != 0 {
		t.Errorf("Keys of no runs = %#v, want empty, non-nil lists", k)
	}
}

func TestFieldText(t *testing.T) {
	r := RunInfo{ID: "abc", Name: "n", Experiment: "e", Status: StatusCrashed,
		Params: map[string]any{"eta": 0.1, "steps": int64(20)}, Tags: map[string]string{"row": "x"},
		Metrics: map[string]float64{"swd": 1.0 / 3}}
	for f, want := range map[string]string{"id": "abc", "name": "n", "experiment": "e", "status": "crashed",
		"params.eta": "0.1", "params.steps": "20", "tags.row": "x", "metrics.swd": "0.3333333333333333"} {
		if got, ok, err := FieldText(r, f); got != want || !ok || err != nil {
			t.Errorf("FieldText(%s) = %q, %v, %v; want %q", f, got, ok, err, want)
		}
	}
	if _, ok, err := FieldText(r, "params.nope"); ok || err != nil {
		t.Errorf("missing param: ok %v, err %v", ok, err)
	}
	for _, f := range []string{"bogus.x", "params.", "params", "id.x", ""} {
		if _, _, err := FieldText(r, f); err == nil {
			t.Errorf("FieldText(%q): no error", f)
		}
	}
}

func TestPivot(t *testing.T) { eachStore(t, testPivot) }

func testPivot(t *testing.T, k storeKind) {
	run := func(id, row string, steps int64, swd float64) RunInfo {
		return RunInfo{ID: id, Params: map[string]any{"steps": steps}, Tags: map[string]string{"row": row}, Metrics: map[string]float64{"swd": swd}}
	}
	runs := []RunInfo{
		run("a", "eta=0", 100, 1), run("b", "eta=0", 20, 3), run("c", "eta=0", 20, 5),
		run("d", "sigma-hat", 20, 7),
		{ID: "e", Params: map[string]any{"steps": int64(20)}, Tags: map[string]string{"row": "eta=0"}}, // no metric: left out
	}
	p, err := NewPivot(runs, "tags.row", "params.steps", "metrics.swd")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Rows, []string{"eta=0", "sigma-hat"}) || !slices.Equal(p.Cols, []string{"20", "100"}) {
		t.Fatalf("rows %v, cols %v; want [eta=0 sigma-hat] and [20 100] (numeric order)", p.Rows, p.Cols)
	}
	// eta=0, S=20: mean of 3 and 5 is 4, sample std sqrt(2).
	if p.Mean[0][0] != 4 || math.Abs(p.Std[0][0]-math.Sqrt2) > 1e-15 || p.N[0][0] != 2 || !slices.Equal(p.IDs[0][0], []string{"b", "c"}) {
		t.Errorf("cell (eta=0, 20) = %v ± %v (n %d, ids %v), want 4 ± 1.414 (n 2, ids b c)", p.Mean[0][0], p.Std[0][0], p.N[0][0], p.IDs[0][0])
	}
	if !math.IsNaN(p.Mean[1][1]) || p.N[1][1] != 0 || len(p.IDs[1][1]) != 0 {
		t.Errorf("empty cell (sigma-hat, 100) = %v (n %d)", p.Mean[1][1], p.N[1][1])
	}
	h, rows := p.Table()
	if want := []string{"tags.row \\ params.steps", "20", "100"}; !slices.Equal(h, want) {
		t.Errorf("header %q, want %q", h, want)
	}
	if want := []string{"eta=0", "4 ± 1.4", "1"}; !slices.Equal(rows[0], want) {
		t.Errorf("row 0 %q, want %q", rows[0], want)
	}
	if want := []string{"sigma-hat", "7", ""}; !slices.Equal(rows[1], want) {
		t.Errorf("row 1 %q, want %q", rows[1], want)
	}
	// Column 20: eta=0 has 4, sigma-hat 7; column 100 has eta=0 alone.
	if got := p.BestBy(Minimize); !slices.Equal(got, []int{0, 0}) {
		t.Errorf("BestBy(min) = %v, want [0 0]", got)
	}
	if got := p.BestBy(Maximize); !slices.Equal(got, []int{1, 0}) {
		t.Errorf("BestBy(max) = %v, want [1 0]", got)
	}
	if _, err := NewPivot(runs, "tags.row", "bogus", "metrics.swd"); err == nil {
		t.Error("NewPivot with a bad field: no error")
	}
}

func TestDownsample(t *testing.T) {
	t0 := time.Unix(1000, 0)
	pts := func(steps []int64, vals []float64) []Point {
		out := make([]Point, len(steps))
		for i := range steps {
			out[i] = Point{Step: steps[i], Value: vals[i], Time: t0.Add(time.Duration(steps[i]) * time.Second)}
		}
		return out
	}
	// 100k points of a flat line with one spike up and one down: with 100
	// buckets of 1000 steps, the spikes are each their bucket's extreme.
	const n = 100000
	steps, vals := make([]int64, n), make([]float64, n)
	for i := range steps {
		steps[i], vals[i] = int64(i), 1
	}
	vals[12345], vals[99999-7] = 50, -20
	b, err := Downsample(pts(steps, vals), 100, 0, n-1)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 100 {
		t.Fatalf("%d buckets, want 100", len(b))
	}
	for i, x := range b {
		lo, hi := int64(i)*1000, int64(i)*1000+999
		if x.Start != lo || x.End != hi || x.Count != 1000 || x.Step != hi || x.Last != vals[hi] || !x.Time.Equal(t0.Add(time.Duration(hi)*time.Second)) {
			t.Fatalf("bucket %d = %+v, want [%d, %d], 1000 points, last at %d", i, x, lo, hi, hi)
		}
		wantMin, wantMax := 1.0, 1.0
		switch i {
		case 12:
			wantMax = 50
		case 99:
			wantMin = -20
		}
		if x.Min != wantMin || x.Max != wantMax {
			t.Errorf("bucket %d: min %v max %v, want %v %v", i, x.Min, x.Max, wantMin, wantMax)
		}
	}
	// Uneven width: steps 0..9 in 3 buckets of width 4: [0,3] [4,7] [8,9].
	b, _ = Downsample(pts([]int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, []float64{5, 1, math.NaN(), 2, math.NaN(), math.NaN(), math.NaN(), math.NaN(), 3, 4}), 3, 0, 9)
	if len(b) != 3 || b[0].Start != 0 || b[0].End != 3 || b[1].Start != 4 || b[1].End != 7 || b[2].Start != 8 || b[2].End != 9 {
		t.Fatalf("buckets %+v, want [0,3] [4,7] [8,9]", b)
	}
	if b[0].Min != 1 || b[0].Max != 5 || b[0].Last != 2 || !math.IsNaN(b[1].Min) || !math.IsNaN(b[1].Max) || b[2].Min != 3 || b[2].Last != 4 {
		t.Errorf("NaN handling: %+v", b)
	}
	// A range narrower than the points: only those inside, each its own
	// bucket when they fit; empty buckets are skipped.
	b, _ = Downsample(pts([]int64{0, 10, 20, 30, 1000}, []float64{1, 2, 3, 4, 5}), 4, 10, 30)
	if len(b) != 3 || b[0].Step != 10 || b[2].Step != 30 {
		t.Errorf("range [10, 30]: %+v", b)
	}
	b, _ = Downsample(pts([]int64{0, 1, 2, 1000}, []float64{1, 2, 3, 4}), 2, 0, 1000)
	if len(b) != 2 || b[0].Start != 0 || b[0].End != 500 || b[0].Count != 3 || b[1].Start != 501 || b[1].End != 1000 {
		t.Errorf("sparse: %+v, want [0,500] with 3 points and [501,1000] with 1", b)
	}
	// The full int64 range does not overflow.
	b, err = Downsample(pts([]int64{math.MinInt64, 0, math.MaxInt64}, []float64{1, 2, 3}), 2, math.MinInt64, math.MaxInt64)
	if err != nil || len(b) != 2 || b[1].End != math.MaxInt64 || b[0].Count+b[1].Count != 3 {
		t.Errorf("int64 range: %+v, %v", b, err)
	}
	for _, c := range []struct {
		n      int
		lo, hi int64
	}{{0, 0, 1}, {1, 2, 1}} {
		if _, err := Downsample(nil, c.n, c.lo, c.hi); err == nil {
			t.Errorf("Downsample(n=%d, [%d, %d]): no error", c.n, c.lo, c.hi)
		}
	}
}

func TestMetricBuckets(t *testing.T) { eachStore(t, testMetricBuckets) }

func testMetricBuckets(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	r := start(t, st, RunOptions{Name: "long"})
	for i := range 5000 {
		r.LogMetric("loss", int64(i), float64(i%100))
	}
	r.End(nil)
	b, err := st.MetricBuckets(r.ID(), "loss", 50, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	// 50 buckets of 100 steps, each holding 0..99.
	if len(b) != 50 || b[7].Start != 700 || b[7].Min != 0 || b[7].Max != 99 || b[7].Last != 99 || b[7].Count != 100 {
		t.Errorf("buckets: %d, bucket 7 %+v", len(b), b[7])
	}
	if b, err := st.MetricBuckets(r.ID(), "never", 50, 1, 0); err != nil || len(b) != 0 {
		t.Errorf("unlogged metric: %v, %v", b, err)
	}
	if _, err := st.MetricBuckets("nope", "loss", 50, 1, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown run: %v, want ErrNotFound", err)
	}
}

// TestMetricBucketsMatchDownsample: the database's bucketing agrees with
// Downsample over the points Metric returns, for random metrics with
// repeated and negative steps, NaN and ±Inf, random ranges and widths.
func TestMetricBucketsMatchDownsample(t *testing.T) { eachStore(t, testMetricBucketsMatchDownsample) }

func testMetricBucketsMatchDownsample(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 12 {
		r := start(t, st, RunOptions{Name: fmt.Sprint(trial)})
		npts := 1 + rng.IntN(3000)
		step := int64(rng.IntN(100)) - 50
		for range npts {
			v := rng.NormFloat64()
			switch rng.IntN(50) {
			case 0:
				v = math.NaN()
			case 1:
				v = math.Inf(1)
			case 2:
				v = math.Inf(-1)
			}
			r.LogMetric("m", step, v)
			step += int64(rng.IntN(4)) // 0: a repeated step
		}
		r.End(nil)
		pts, err := st.Metric(r.ID(), "m")
		if err != nil {
			t.Fatal(err)
		}
		for range 8 {
			n := 1 + rng.IntN(400)
			lo, hi := int64(1), int64(0) // the metric's own range
			if rng.IntN(2) == 0 {
				lo = pts[0].Step + int64(rng.IntN(200)) - 100
				hi = lo + int64(rng.IntN(int(pts[len(pts)-1].Step-pts[0].Step)+200))
			}
			got, err := st.MetricBuckets(r.ID(), "m", n, lo, hi)
			if err != nil {
				t.Fatal(err)
			}
			if lo > hi {
				lo, hi = pts[0].Step, pts[len(pts)-1].Step
			}
			want, err := Downsample(pts, n, lo, hi)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("trial %d, n %d, [%d, %d]: %d buckets, want %d", trial, n, lo, hi, len(got), len(want))
			}
			same := func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }
			for i := range got {
				g, w := got[i], want[i]
				if g.Start != w.Start || g.End != w.End || g.Step != w.Step || g.Count != w.Count || !same(g.Min, w.Min) || !same(g.Max, w.Max) || !same(g.Last, w.Last) || !g.Time.Equal(w.Time) {
					t.Fatalf("trial %d, n %d, [%d, %d], bucket %d:\n got %+v\nwant %+v", trial, n, lo, hi, i, g, w)
				}
			}
		}
	}
	if first, last, ok, err := st.MetricRange(start(t, st, RunOptions{}).ID(), "none"); ok || err != nil || first != 0 || last != 0 {
		t.Errorf("MetricRange of no points: %d %d %v %v", first, last, ok, err)
	}
}

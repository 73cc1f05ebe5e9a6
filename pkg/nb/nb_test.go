package nb

import (
	"image"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/difflab/difflab/pkg/gmm"
)

func TestMode(t *testing.T) {
	for _, tc := range []struct {
		env, want string
		ci        bool
	}{{"", ModeFull, false}, {"full", ModeFull, false}, {"ci", ModeCI, true}, {" CI ", ModeCI, true}} {
		t.Setenv(ModeEnv, tc.env)
		if got := Mode(); got != tc.want || CI() != tc.ci || Pick(1, 2) != map[bool]int{true: 1, false: 2}[tc.ci] {
			t.Errorf("$%s=%q: Mode() = %q, CI() = %v, Pick(1, 2) = %d; want %q, %v", ModeEnv, tc.env, got, CI(), Pick(1, 2), tc.want, tc.ci)
		}
	}
	t.Setenv(ModeEnv, "fast")
	wantPanic(t, `"fast"`, func() { Mode() })
}

func TestParam(t *testing.T) {
	if got := ParamEnv("eval.n-2x"); got != "DIFFLAB_PARAM_EVAL_N_2X" {
		t.Errorf(`ParamEnv("eval.n-2x") = %q, want DIFFLAB_PARAM_EVAL_N_2X`, got)
	}
	t.Setenv("DIFFLAB_PARAM_STEPS", "250")
	t.Setenv("DIFFLAB_PARAM_ETA", "0.5")
	t.Setenv("DIFFLAB_PARAM_NAME", "")
	if got := ParamInt("steps", 10); got != 250 {
		t.Errorf(`ParamInt("steps", 10) = %d, want 250`, got)
	}
	if got := ParamFloat("eta", 0); got != 0.5 {
		t.Errorf(`ParamFloat("eta", 0) = %v, want 0.5`, got)
	}
	if got := Param("name", "def"); got != "" {
		t.Errorf(`Param("name", "def") = %q, want "" (set but empty)`, got)
	}
	if got, gotI, gotF := Param("unset", "d"), ParamInt("unset", 7), ParamFloat("unset", 1.5); got != "d" || gotI != 7 || gotF != 1.5 {
		t.Errorf("unset params = %q, %d, %v; want the defaults d, 7, 1.5", got, gotI, gotF)
	}
	wantPanic(t, `"eta"`, func() { ParamInt("eta", 0) })
	t.Setenv("DIFFLAB_PARAM_ETA", "x")
	wantPanic(t, `"eta"`, func() { ParamFloat("eta", 0) })
}

func TestRoot(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "go.mod"), "// comment\nmodule "+Module+"\n\ngo 1.26\n")
	write(t, filepath.Join(dir, "tools", "go.mod"), "module "+Module+"/tools\n")
	deep := filepath.Join(dir, "tools", "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := FindRoot(deep); err != nil || got != dir {
		t.Errorf("FindRoot(%s) = %q, %v; want %q (skipping the tools module)", deep, got, err, dir)
	}
	if _, err := FindRoot(t.TempDir()); err == nil {
		t.Errorf("FindRoot outside the repository: want an error")
	}
	t.Setenv(RootEnv, dir)
	t.Setenv(OutEnv, "")
	t.Setenv(DBEnv, "")
	if got := Path("experiments"); got != filepath.Join(dir, "experiments") {
		t.Errorf("Path(experiments) = %q", got)
	}
	if got := DBPath(); got != filepath.Join(dir, "runs", "difflab.db") {
		t.Errorf("DBPath() = %q, want ROOT/runs/difflab.db", got)
	}
	if got := OutDir("01"); got != filepath.Join(dir, "build", "notebooks", "01") {
		t.Errorf("OutDir(01) = %q", got)
	} else if _, err := os.Stat(got); err != nil {
		t.Errorf("OutDir did not create its folder: %v", err)
	}
	t.Setenv(DBEnv, "x.db")
	if got := DBPath(); got != "x.db" {
		t.Errorf("DBPath() with $%s = %q, want x.db", DBEnv, got)
	}
}

func TestQSample(t *testing.T) {
	s := diffusion.MustNewSchedule(diffusion.ScheduleConfig{Kind: diffusion.Linear, T: 1000})
	x0, eps := []float64{1, -2}, []float64{0.5, 3}
	for _, tt := range []int{0, 499, 999} {
		got := QSample(s, tt, x0, eps)
		a := math.Sqrt(s.AlphasCumprod[tt])
		b := math.Sqrt(1 - s.AlphasCumprod[tt])
		for i := range x0 {
			if want := a*x0[i] + b*eps[i]; math.Abs(got[i]-want) > 1e-15 {
				t.Errorf("QSample(t=%d)[%d] = %.17g, want %.17g", tt, i, got[i], want)
			}
		}
	}
	// abar_999 of the linear schedule is 4.0358e-05 (Ho et al.'s betas 1e-4..0.02):
	// x_T is almost pure noise.
	if got := QSample(s, 999, []float64{1}, []float64{0})[0]; math.Abs(got-math.Sqrt(4.0358e-05)) > 1e-5 {
		t.Errorf("signal left at t=999 = %v, want sqrt(4.0358e-05)", got)
	}
	wantPanic(t, "t = 1000", func() { QSample(s, 1000, x0, eps) })
	wantPanic(t, "len", func() { QSample(s, 0, x0, eps[:1]) })
}

func TestSlerp(t *testing.T) {
	a, b := []float64{1, 0}, []float64{0, 2}
	// Orthogonal vectors: theta = pi/2, so the weights are cos and sin of alpha pi/2.
	for _, alpha := range []float64{0, 0.25, 0.5, 1} {
		got := Slerp(a, b, alpha)
		want := []float64{math.Cos(alpha * math.Pi / 2), 2 * math.Sin(alpha*math.Pi/2)}
		if math.Abs(got[0]-want[0]) > 1e-12 || math.Abs(got[1]-want[1]) > 1e-12 {
			t.Errorf("Slerp(%v, %v, %v) = %v, want %v", a, b, alpha, got, want)
		}
	}
	// Equal norms stay on the sphere, where linear interpolation shrinks.
	u, v := []float64{3, 4, 0}, []float64{0, -3, 4}
	mid := Slerp(u, v, 0.5)
	if n := math.Hypot(math.Hypot(mid[0], mid[1]), mid[2]); math.Abs(n-5) > 1e-12 {
		t.Errorf("|Slerp(u, v, 0.5)| = %v, want 5", n)
	}
	// Parallel vectors fall back to a straight line.
	if got := Slerp([]float64{1, 1}, []float64{2, 2}, 0.5); math.Abs(got[0]-1.5) > 1e-12 {
		t.Errorf("Slerp of parallel vectors = %v, want [1.5 1.5]", got)
	}
	path := SlerpPath(a, b, 3)
	if len(path) != 6 || path[0] != 1 || math.Abs(path[5]-2) > 1e-12 {
		t.Errorf("SlerpPath(a, b, 3) = %v, want a, slerp(1/2), b", path)
	}
	wantPanic(t, "zero", func() { Slerp([]float64{0, 0}, b, 0.5) })
	wantPanic(t, "len", func() { Slerp(a, []float64{1}, 0.5) })
	wantPanic(t, "n = 1", func() { SlerpPath(a, b, 1) })
}

func TestRowsFlatten(t *testing.T) {
	flat := []float64{1, 2, 3, 4, 5, 6}
	rows := Rows(flat, 2)
	if len(rows) != 3 || rows[2][1] != 6 {
		t.Errorf("Rows(1..6, 2) = %v", rows)
	}
	if got := Flatten(rows); len(got) != 6 || got[3] != 4 {
		t.Errorf("Flatten(Rows(x)) = %v, want x", got)
	}
	wantPanic(t, "rows of 4", func() { Rows(flat, 4) })
}

func TestHTML(t *testing.T) {
	got := HTMLTable([]string{"name", "fid"}, [][]string{{"<x>", "1.5"}, {"y"}})
	for _, want := range []string{"<th>name</th><th>fid</th>", "<td>&lt;x&gt;</td><td>1.5</td>", "<td>y</td><td></td>"} {
		if !strings.Contains(got, want) {
			t.Errorf("HTMLTable lacks %q:\n%s", want, got)
		}
	}
	wantPanic(t, "row 0", func() { HTMLTable([]string{"a"}, [][]string{{"1", "2"}}) })
	png, err := EncodePNG(image.NewGray(image.Rect(0, 0, 2, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if h := ImgHTML(png); !strings.HasPrefix(h, `<img src="data:image/png;base64,iVBORw0KGgo`) {
		t.Errorf("ImgHTML = %q, want a base64 PNG data URL", h)
	}
	// Outside a notebook the display functions do nothing, but Show still reports fn's error.
	if err := Show(func(io.Writer) error { return io.ErrUnexpectedEOF }); err != io.ErrUnexpectedEOF {
		t.Errorf("Show(failing fn) = %v, want its error", err)
	}
	NewLive().Update("<b>ok</b>")
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func wantPanic(t *testing.T, substr string, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("no panic, want one mentioning %q", substr)
		} else if !strings.Contains(strings.ToLower(r.(string)), strings.ToLower(substr)) {
			t.Errorf("panic %q, want one mentioning %q", r, substr)
		}
	}()
	fn()
}

func TestMust(t *testing.T) {
	Must(nil)
	if got := Must1(3, nil); got != 3 {
		t.Errorf("Must1(3, nil) = %d", got)
	}
	defer func() {
		if r := recover(); r != io.EOF {
			t.Errorf("Must1(_, io.EOF) panicked with %v, want io.EOF", r)
		}
	}()
	Must1(0, io.EOF)
}

func TestByNearestMode(t *testing.T) {
	g := &gmm.Mixture{Weights: []float64{0.5, 0.5}, Means: [][]float64{{-1, 0}, {1, 0}}, Stds: []float64{1, 1}}
	by := [][]float64{{-2, 0}, {0.5, 3}, {-0.1, 0}}
	x := [][]float64{{10, 10}, {20, 20}, {30, 30}}
	sets := ByNearestMode(g, by, x)
	if len(sets) != 2 || sets[0].Name != "mode 1" || len(sets[0].XY) != 2 || sets[0].XY[1][0] != 30 || len(sets[1].XY) != 1 || sets[1].XY[0][0] != 20 {
		t.Errorf("ByNearestMode = %+v, want mode 1: rows 0 and 2 of x, mode 2: row 1", sets)
	}
	wantPanic(t, "rows", func() { ByNearestMode(g, by, x[:1]) })
}

package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestRegistryComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range All() {
		if m.Name == "" || m.Doc == "" || m.Compute == nil {
			t.Errorf("metric %+v lacks a name, a doc or a Compute", m)
		}
		if seen[m.Name] {
			t.Errorf("metric %q registered twice", m.Name)
		}
		seen[m.Name] = true
		// The doc states the direction the report relies on.
		switch m.Direction {
		case LowerIsBetter:
			if !strings.Contains(m.Doc, "lower is better") {
				t.Errorf("%s: Direction LowerIsBetter but the doc says %q", m.Name, m.Doc)
			}
		case HigherIsBetter:
			if !strings.Contains(m.Doc, "higher is better") {
				t.Errorf("%s: Direction HigherIsBetter but the doc says %q", m.Name, m.Doc)
			}
		}
	}
}

func TestRegistryFacts(t *testing.T) {
	// Written from the metrics' definitions, not from the table.
	higher := []string{"loglik", "precision", "recall", "is", "confident"}
	for _, m := range All() {
		if got, want := m.Direction == HigherIsBetter, slices.Contains(higher, m.Name); got != want {
			t.Errorf("%s: higher is better = %v, want %v", m.Name, got, want)
		}
		if got, want := m.Ranked(), m.Name != "latent_std"; got != want {
			t.Errorf("%s: Ranked() = %v, want %v", m.Name, got, want)
		}
	}
	for _, tc := range []struct {
		domains []Domain
		want    []string
	}{
		{[]Domain{Points}, []string{"swd", "mmd", "energy"}},
		{[]Domain{Points, Mixture}, []string{"swd", "mmd", "energy", "loglik", "modes"}},
		{[]Domain{Images}, []string{"fid", "kid", "precision", "recall", "is", "confident"}},
		{[]Domain{Reconstructions}, []string{"recon_mse", "latent_std"}},
	} {
		if got := Names(tc.domains...); !slices.Equal(got, tc.want) {
			t.Errorf("Names(%v) = %v, want %v", tc.domains, got, tc.want)
		}
	}
	loglik, _ := Lookup("loglik")
	swd, _ := Lookup("swd")
	lstd, _ := Lookup("latent_std")
	if !loglik.Better(-1, -2) || loglik.Better(-2, -1) || !swd.Better(0.1, 0.2) || swd.Better(0.2, 0.1) || lstd.Better(1, 2) || lstd.Better(2, 1) {
		t.Error("Better does not follow the directions")
	}
	if swd.Better(math.NaN(), 1) || swd.Better(1, math.NaN()) {
		t.Error("Better(NaN) is true")
	}
	if _, ok := Lookup("fud"); ok {
		t.Error(`Lookup("fud") found a metric`)
	}
}

func TestEvaluateMatchesFunctions(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	g := fourModes()
	x := g.Sample(300, rng)
	ref := g.Sample(300, rng)
	got, err := Evaluate([]string{"mmd", "swd", "loglik", "modes"}, Input{X: x, Ref: ref, GMM: g, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{MMD2(x, ref, MMDConfig{Seed: 7}), SlicedWasserstein(x, ref, SWDConfig{Seed: 7}), MeanLogLikelihood(g, x), ModeError(g, x)}
	names := []string{"mmd", "swd", "loglik", "modes"}
	for i := range want {
		if got[i].Name != names[i] || got[i].Value != want[i].Value {
			t.Errorf("Evaluate[%d] = %s %v, want %s %v", i, got[i].Name, got[i].Value, names[i], want[i].Value)
		}
	}
	if _, err := Evaluate([]string{"swd", "fud"}, Input{X: x, Ref: ref}); err == nil || !strings.Contains(err.Error(), `"fud"`) || !strings.Contains(err.Error(), "energy") {
		t.Errorf("Evaluate(fud) error = %v, want one naming fud and the known metrics", err)
	}
}

func TestModeError(t *testing.T) {
	g := fourModes()
	// The six points of TestModeWeightsExact: weights 1/6 each, 2/6 off-mode, so
	// TV = 1/2 (|1/6 - .1| + |1/6 - .2| + |1/6 - .3| + |1/6 - .4| + 2/6) = 0.4.
	x := [][]float64{{-10, 0}, {10, 1}, {0, 10}, {0, -12}, {0, 0}, {10, 2}}
	r := ModeError(g, x)
	checkClose(t, "ModeError(six points)", r.Value, 0.4, 1e-15)
	checkClose(t, "ModeError.Parts[off]", r.Parts["off"], 2.0/6, 1e-15)
	checkClose(t, "ModeError.Parts[w3]", r.Parts["w3"], 1.0/6, 1e-15)
	if r.Name != "modes" || r.N != 6 || len(r.Parts) != 5 {
		t.Errorf("ModeError = %+v, want name modes, N = 6, parts w0..w3 and off", r)
	}
	// At the means in the true proportions: 0.
	var y [][]float64
	for k, w := range g.Weights {
		for range int(math.Round(w * 10)) {
			y = append(y, g.Means[k])
		}
	}
	checkClose(t, "ModeError(true proportions)", ModeError(g, y).Value, 0, 1e-15)
}

func TestReconstructionMetrics(t *testing.T) {
	x := [][]float64{{0, 0}, {1, 2}}
	rec := [][]float64{{1, 0}, {1, 0}}
	// Squared errors 1 + 0 + 0 + 4 over 4 coordinates.
	checkClose(t, "ReconstructionMSE", ReconstructionMSE(rec, x).Value, 5.0/4, 1e-15)
	checkClose(t, "ReconstructionMSE(x, x)", ReconstructionMSE(x, x).Value, 0, 0)
	// {-1, 1, -1, 1}: mean 0, sum of squares 4, divisor 3.
	r := LatentStd([]float64{-1, 1, -1, 1}, 2)
	checkClose(t, "LatentStd", r.Value, math.Sqrt(4.0/3), 1e-15)
	if r.Name != "latent_std" || r.N != 2 {
		t.Errorf("LatentStd = %+v, want name latent_std, N = 2", r)
	}
	checkPanics(t, "ReconstructionMSE(2 vs 1 points)", "different numbers", func() { ReconstructionMSE(rec, x[:1]) })
}

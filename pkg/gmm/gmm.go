// Package gmm holds isotropic Gaussian mixtures in float64: the type that difflab's
// mixture files (experiments/*/gmm.json) hold, its validation, log-density and
// sampling, and the exact predictions E[eps | x_t] and E[x_0 | x_t] of the
// diffusion forward process for data drawn from it (Mixture.EpsAt, Mixture.X0At).
//
// The package imports no GoMLX, so that datasets and metrics can use a mixture
// without the samplers; diffusion.ExactDenoiser wraps a Mixture as the graph
// denoiser the samplers call.
package gmm

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"

	"github.com/difflab/difflab/internal/fastmath"
)

// Mixture is an isotropic Gaussian mixture in D dimensions:
//
//	p(x) = sum_k Weights[k] * N(x; Means[k], Stds[k]^2 I)
//
// It is read from and written to JSON as
//
//	{"weights": [...], "means": [[...], ...], "stds": [...]}
//
// The same file drives the exact denoiser (see EpsAt and diffusion.ExactDenoiser)
// and the 2-D datasets, so a learned denoiser and the exact one can be compared on
// one distribution.
type Mixture struct {
	Weights []float64   `json:"weights"`
	Means   [][]float64 `json:"means"`
	Stds    []float64   `json:"stds"`
}

// Load reads a mixture from a JSON file and validates it.
// Unknown fields are an error, so a typo in a field name is not silently ignored.
func Load(path string) (*Mixture, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gmm: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var g Mixture
	if err := dec.Decode(&g); err != nil {
		return nil, fmt.Errorf("gmm %s: malformed JSON: %w (want {\"weights\": [...], \"means\": [[...], ...], \"stds\": [...]})", path, err)
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("gmm %s: %w", path, err)
	}
	return &g, nil
}

// Validate checks that the mixture is well formed: at least one component; weights,
// means and stds of the same length K; weights >= 0 and finite, summing to 1 within
// 1e-6; every mean of the same dimension D >= 1 with finite entries; stds > 0 and finite.
// The error names the field and the offending index.
func (g *Mixture) Validate() error {
	k := len(g.Weights)
	if k == 0 {
		return fmt.Errorf("field \"weights\": empty, want at least one component")
	}
	if len(g.Means) != k {
		return fmt.Errorf("field \"means\": %d components, but \"weights\" has %d", len(g.Means), k)
	}
	if len(g.Stds) != k {
		return fmt.Errorf("field \"stds\": %d components, but \"weights\" has %d", len(g.Stds), k)
	}
	sum := 0.0
	for i, w := range g.Weights {
		if !(w >= 0) || math.IsInf(w, 0) {
			return fmt.Errorf("field \"weights[%d]\" = %v, want a finite number >= 0", i, w)
		}
		sum += w
	}
	if math.Abs(sum-1) > 1e-6 {
		return fmt.Errorf("field \"weights\": sum is %v, want 1", sum)
	}
	d := len(g.Means[0])
	if d == 0 {
		return fmt.Errorf("field \"means[0]\": empty, want a point of dimension >= 1")
	}
	for i, m := range g.Means {
		if len(m) != d {
			return fmt.Errorf("field \"means[%d]\": dimension %d, but \"means[0]\" has %d", i, len(m), d)
		}
		for j, v := range m {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("field \"means[%d][%d]\" = %v, want a finite number", i, j, v)
			}
		}
	}
	for i, s := range g.Stds {
		if !(s > 0) || math.IsInf(s, 0) {
			return fmt.Errorf("field \"stds[%d]\" = %v, want a finite number > 0", i, s)
		}
	}
	return nil
}

// Dim is the dimension D of the mixture's space.
func (g *Mixture) Dim() int { return len(g.Means[0]) }

// Sample draws n points from the mixture with the given random source, as n rows of
// length D. The same source state gives the same points.
func (g *Mixture) Sample(n int, rng *rand.Rand) [][]float64 {
	out := make([][]float64, n)
	for i := range out {
		k := g.pickComponent(rng.Float64())
		x := make([]float64, g.Dim())
		for j := range x {
			x[j] = g.Means[k][j] + g.Stds[k]*rng.NormFloat64()
		}
		out[i] = x
	}
	return out
}

// pickComponent maps u in [0, 1) to a component index by the cumulative weights.
func (g *Mixture) pickComponent(u float64) int {
	acc := 0.0
	for k, w := range g.Weights {
		acc += w
		if u < acc {
			return k
		}
	}
	return len(g.Weights) - 1
}

// LogDensity is log p(x) of the mixture, computed with log-sum-exp for stability:
//
//	log p(x) = logsumexp_k [ log pi_k - D/2 log(2 pi s_k^2) - |x - mu_k|^2 / (2 s_k^2) ]
//
// It panics if len(x) != D.
func (g *Mixture) LogDensity(x []float64) float64 {
	if len(x) != g.Dim() {
		panic(fmt.Sprintf("gmm: Mixture.LogDensity: len(x) = %d, want %d", len(x), g.Dim()))
	}
	d := float64(len(x))
	terms := make([]float64, len(g.Weights))
	for k, w := range g.Weights {
		v := g.Stds[k] * g.Stds[k]
		r2 := 0.0
		for j, xj := range x {
			diff := xj - g.Means[k][j]
			r2 += diff * diff
		}
		terms[k] = math.Log(w) - 0.5*d*math.Log(2*math.Pi*v) - r2/(2*v)
	}
	return logSumExp(terms)
}

// logSumExp is log(sum_i exp(a_i)), computed without overflow. It is -Inf for an
// empty slice or when every a_i is -Inf.
func logSumExp(a []float64) float64 {
	m := math.Inf(-1)
	for _, v := range a {
		m = math.Max(m, v)
	}
	if math.IsInf(m, -1) {
		return m
	}
	s := 0.0
	for _, v := range a {
		s += fastmath.Exp(v - m)
	}
	return m + math.Log(s)
}

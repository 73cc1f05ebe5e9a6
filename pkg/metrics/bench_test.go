package metrics

import (
	"math/rand/v2"
	"testing"
)

// Two 2-D samples of 10k points, L = 256 directions.
func BenchmarkSWD(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := gaussianSample(rng, 10000, []float64{0, 0}, 1)
	y := gaussianSample(rng, 10000, []float64{1, 0}, 1)
	for b.Loop() {
		SlicedWasserstein(x, y, SWDConfig{Projections: 256, Seed: 1})
	}
	b.ReportMetric(float64(b.N*(len(x)+len(y)))/b.Elapsed().Seconds(), "points/s")
}

// Two 2-D samples of 2k points, with the median heuristic and with a given bandwidth.
func BenchmarkMMD(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := gaussianSample(rng, 2000, []float64{0, 0}, 1)
	y := gaussianSample(rng, 2000, []float64{1, 0}, 1)
	for _, bc := range []struct {
		name string
		cfg  MMDConfig
	}{{"median", MMDConfig{Seed: 1}}, {"given", MMDConfig{Bandwidth: 1}}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				MMD2(x, y, bc.cfg)
			}
		})
	}
}

// featureSets draws two sets of 5k features of dimension 64.
func featureSets() (a, c [][]float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	mean := make([]float64, 64)
	a = gaussianSample(rng, 5000, mean, 1)
	mean[0] = 1
	c = gaussianSample(rng, 5000, mean, 1)
	return a, c
}

// Two sets of 5k features of dimension 64.
func BenchmarkFID(b *testing.B) {
	a, c := featureSets()
	for b.Loop() {
		if _, err := FID(a, c); err != nil {
			b.Fatal(err)
		}
	}
}

// Two sets of 5k features of dimension 64, 10 subsets of 1000.
func BenchmarkKID(b *testing.B) {
	a, c := featureSets()
	for b.Loop() {
		KID(a, c, KIDConfig{Seed: 1})
	}
}

// Two sets of 5k features of dimension 64, k = 3.
func BenchmarkPrecisionRecall(b *testing.B) {
	a, c := featureSets()
	for b.Loop() {
		PrecisionRecall(a, c, 0)
	}
}

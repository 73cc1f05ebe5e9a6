package data

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/difflab/difflab/pkg/gmm"
)

// A Sampler draws fresh points from a distribution, for metrics that compare a
// model's samples with new data rather than with the training set. *gmm.Mixture
// is one; so are MoonsSampler, SwissRollSampler and EightGaussiansSampler.
type Sampler interface {
	// Dim is the dimension of a point.
	Dim() int
	// Sample draws n points as n rows of length Dim() with the given source; the same
	// source state gives the same points.
	Sample(n int, rng *rand.Rand) [][]float64
}

// Defaults of the 2-D datasets, used by Load when Options leaves a value at zero.
const (
	// DefaultMoonsNoise is the standard deviation of the Gaussian noise added to the
	// two moons (sklearn's make_moons has noise=None, i.e. 0; 0.05 keeps the arcs
	// apart while giving them width).
	DefaultMoonsNoise = 0.05
	// DefaultSwissRollNoise is the standard deviation of the Gaussian noise added to
	// the swiss roll in sklearn's units, before SwissRollScale (0.5 there is 0.071
	// after scaling).
	DefaultSwissRollNoise = 0.5
	// SwissRollScale divides sklearn's swiss-roll coordinates: they lie in
	// x in [-9.43, 12.57], z in [-11.00, 14.14], so after dividing by 7 the data lie
	// in about [-1.35, 1.80] x [-1.57, 2.02].
	SwissRollScale = 7.0
	// EightGaussiansRadius is the radius of the circle that carries the eight means.
	EightGaussiansRadius = 2.0
	// DefaultEightGaussiansStd is the standard deviation of each of the eight modes:
	// 0.02 = 0.01 x EightGaussiansRadius. The modes are tight (neighbouring means are
	// 4 sin(pi/8) = 1.53 apart, 77 std), so a sampler that misses, merges or blurs
	// modes shows it at once.
	DefaultEightGaussiansStd = 0.02
)

// genStream is the PCG stream the dataset generators use, so that a dataset and a
// Loader built from the same seed do not share a stream.
const genStream = 0x9e3779b97f4a7c15

// genRand is the source a generator with this seed draws from.
func genRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, genStream)) }

// FromGMM draws n points from the mixture g with a source seeded by seed, as a
// dataset of shape {g.Dim()} named "gmm", without labels. It returns an error if g is
// nil or invalid (see gmm.Mixture.Validate) or n < 1.
func FromGMM(g *gmm.Mixture, n int, seed uint64) (*Dataset, error) {
	if g == nil {
		return nil, fmt.Errorf("data.FromGMM: mixture is nil")
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("data.FromGMM: %w", err)
	}
	if n < 1 {
		return nil, fmt.Errorf("data.FromGMM: n = %d, want >= 1", n)
	}
	return fromRows("gmm", g.Sample(n, genRand(seed)), nil), nil
}

// fromRows packs equal-length rows into a dataset of shape {len(row)}.
func fromRows(name string, rows [][]float64, labels []int) *Dataset {
	dim := len(rows[0])
	x := make([]float32, 0, len(rows)*dim)
	for _, r := range rows {
		for _, v := range r {
			x = append(x, float32(v))
		}
	}
	return &Dataset{Name: name, Shape: []int{dim}, X: x, Labels: labels}
}

// checkGen checks the arguments shared by the 2-D generators.
func checkGen(fn string, n int, noiseName string, noise float64) error {
	if n < 1 {
		return fmt.Errorf("data.%s: n = %d, want >= 1", fn, n)
	}
	if !(noise >= 0) || math.IsInf(noise, 0) {
		return fmt.Errorf("data.%s: %s = %v, want a finite number >= 0", fn, noiseName, noise)
	}
	return nil
}

// Moons is sklearn's make_moons(n, shuffle=True, noise=noise): n/2 (rounded down)
// points evenly spaced in angle on the upper half circle
//
//	(cos t, sin t),              t in linspace(0, pi)
//
// labelled 0, the other points on the lower arc
//
//	(1 - cos t, 1 - sin t - 0.5), t in linspace(0, pi)
//
// labelled 1, each plus N(0, noise^2 I) noise, in a seeded random order. The data lie
// in about [-1, 2] x [-0.5, 1], unscaled. It returns an error if n < 1 or noise is
// negative or not finite.
func Moons(n int, noise float64, seed uint64) (*Dataset, error) {
	if err := checkGen("Moons", n, "noise", noise); err != nil {
		return nil, err
	}
	rng := genRand(seed)
	nOut := n / 2
	nIn := n - nOut
	rows := make([][]float64, 0, n)
	labels := make([]int, 0, n)
	for i := range nOut {
		t := linspace(0, math.Pi, nOut, i)
		rows = append(rows, []float64{math.Cos(t), math.Sin(t)})
		labels = append(labels, 0)
	}
	for i := range nIn {
		t := linspace(0, math.Pi, nIn, i)
		rows = append(rows, []float64{1 - math.Cos(t), 1 - math.Sin(t) - 0.5})
		labels = append(labels, 1)
	}
	rng.Shuffle(n, func(i, j int) {
		rows[i], rows[j] = rows[j], rows[i]
		labels[i], labels[j] = labels[j], labels[i]
	})
	for _, r := range rows {
		r[0] += noise * rng.NormFloat64()
		r[1] += noise * rng.NormFloat64()
	}
	return fromRows("moons", rows, labels), nil
}

// linspace is numpy's linspace(a, b, n)[i]: n evenly spaced values from a to b
// inclusive; a when n == 1.
func linspace(a, b float64, n, i int) float64 {
	if n == 1 {
		return a
	}
	return a + (b-a)*float64(i)/float64(n-1)
}

// MoonsSampler draws fresh points from the two-moons distribution: moon 0 or 1 with
// probability 1/2, t uniform in [0, pi], the point as in Moons plus N(0, Noise^2 I).
// Moons spaces t evenly instead; the two agree as n grows. It panics if n < 0.
type MoonsSampler struct {
	// Noise is the standard deviation of the added noise; see DefaultMoonsNoise.
	Noise float64
}

// Dim is 2.
func (MoonsSampler) Dim() int { return 2 }

// Sample draws n points; see MoonsSampler.
func (m MoonsSampler) Sample(n int, rng *rand.Rand) [][]float64 {
	out := make([][]float64, n)
	for i := range out {
		t := math.Pi * rng.Float64()
		if rng.IntN(2) == 0 {
			out[i] = []float64{math.Cos(t), math.Sin(t)}
		} else {
			out[i] = []float64{1 - math.Cos(t), 1 - math.Sin(t) - 0.5}
		}
		out[i][0] += m.Noise * rng.NormFloat64()
		out[i][1] += m.Noise * rng.NormFloat64()
	}
	return out
}

// SwissRoll is the 2-D swiss roll: the (x, z) coordinates of sklearn's
// make_swiss_roll(n, noise=noise),
//
//	t = 1.5 pi (1 + 2u), u ~ U(0, 1)
//	(x, z) = (t cos t + noise e1, t sin t + noise e2), e ~ N(0, I)
//
// divided by SwissRollScale = 7 so that the data lie in about [-2, 2]^2. noise is in
// sklearn's units (before the division). Unlabelled. It returns an error if n < 1 or
// noise is negative or not finite.
func SwissRoll(n int, noise float64, seed uint64) (*Dataset, error) {
	if err := checkGen("SwissRoll", n, "noise", noise); err != nil {
		return nil, err
	}
	return fromRows("swissroll", SwissRollSampler{Noise: noise}.Sample(n, genRand(seed)), nil), nil
}

// SwissRollSampler draws fresh points from the 2-D swiss roll; see SwissRoll. It
// panics if n < 0.
type SwissRollSampler struct {
	// Noise is the standard deviation of the added noise in sklearn's units; see
	// DefaultSwissRollNoise.
	Noise float64
}

// Dim is 2.
func (SwissRollSampler) Dim() int { return 2 }

// Sample draws n points; see SwissRoll.
func (s SwissRollSampler) Sample(n int, rng *rand.Rand) [][]float64 {
	out := make([][]float64, n)
	for i := range out {
		t := 1.5 * math.Pi * (1 + 2*rng.Float64())
		x := t*math.Cos(t) + s.Noise*rng.NormFloat64()
		z := t*math.Sin(t) + s.Noise*rng.NormFloat64()
		out[i] = []float64{x / SwissRollScale, z / SwissRollScale}
	}
	return out
}

// EightGaussians draws n points from an equal mixture of eight isotropic Gaussians
// of standard deviation std whose means lie on a circle of radius
// EightGaussiansRadius = 2 at angles k pi/4, k = 0..7:
//
//	mu_k = 2 (cos(k pi/4), sin(k pi/4))
//
// Labels holds each point's component k. It returns an error if n < 1 or std is
// negative or not finite. (FFJORD's "8gaussians" is the same shape with radius
// 2 sqrt 2 and std 0.35.)
func EightGaussians(n int, std float64, seed uint64) (*Dataset, error) {
	if err := checkGen("EightGaussians", n, "std", std); err != nil {
		return nil, err
	}
	rows, labels := EightGaussiansSampler{Std: std}.sample(n, genRand(seed))
	return fromRows("8gaussians", rows, labels), nil
}

// EightGaussiansSampler draws fresh points from the eight-Gaussians mixture; see
// EightGaussians. It panics if n < 0.
type EightGaussiansSampler struct {
	// Std is each mode's standard deviation; see DefaultEightGaussiansStd.
	Std float64
}

// Dim is 2.
func (EightGaussiansSampler) Dim() int { return 2 }

// Sample draws n points; see EightGaussians.
func (e EightGaussiansSampler) Sample(n int, rng *rand.Rand) [][]float64 {
	rows, _ := e.sample(n, rng)
	return rows
}

// sample draws n points and their components.
func (e EightGaussiansSampler) sample(n int, rng *rand.Rand) ([][]float64, []int) {
	rows := make([][]float64, n)
	labels := make([]int, n)
	for i := range rows {
		k := rng.IntN(8)
		mu := EightGaussiansMean(k)
		rows[i] = []float64{mu[0] + e.Std*rng.NormFloat64(), mu[1] + e.Std*rng.NormFloat64()}
		labels[i] = k
	}
	return rows, labels
}

// EightGaussiansMean is the mean of component k of EightGaussians,
// 2 (cos(k pi/4), sin(k pi/4)). It panics if k is not in [0, 8).
func EightGaussiansMean(k int) [2]float64 {
	if k < 0 || k >= 8 {
		panic(fmt.Sprintf("data.EightGaussiansMean(%d): want k in [0, 8)", k))
	}
	a := float64(k) * math.Pi / 4
	return [2]float64{EightGaussiansRadius * math.Cos(a), EightGaussiansRadius * math.Sin(a)}
}

// EightGaussiansGMM is the eight-Gaussians distribution as a gmm.Mixture, for the
// exact denoiser and log-density metrics. It is valid (see gmm.Mixture.Validate)
// only for std > 0.
func EightGaussiansGMM(std float64) *gmm.Mixture {
	g := &gmm.Mixture{}
	for k := range 8 {
		mu := EightGaussiansMean(k)
		g.Weights = append(g.Weights, 1.0/8)
		g.Means = append(g.Means, []float64{mu[0], mu[1]})
		g.Stds = append(g.Stds, std)
	}
	return g
}

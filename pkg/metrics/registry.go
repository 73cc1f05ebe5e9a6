package metrics

import (
	"fmt"
	"slices"
	"strings"

	"github.com/difflab/difflab/pkg/gmm"
)

// Direction says which values of a metric are better.
type Direction int

const (
	// LowerIsBetter: distances and errors.
	LowerIsBetter Direction = iota
	// HigherIsBetter: likelihoods, scores and coverages.
	HigherIsBetter
	// Descriptive metrics describe a sample without ranking it (e.g. latent_std,
	// whose ideal is 1): no value is better.
	Descriptive
)

// Domain is the kind of experiment output a metric is computed from.
type Domain int

const (
	// Points: a low-dimensional sample against a reference sample of the truth.
	Points Domain = iota
	// Mixture: a low-dimensional sample under the known Gaussian mixture.
	Mixture
	// Images: generated images in a classifier's feature space, against real ones.
	Images
	// Reconstructions: data encoded to x_T and decoded back (DDIM inversion).
	Reconstructions
	// Solutions: a sample against a fine solution of the probability-flow ODE
	// from the same x_T (deterministic samplers). Experiments compute these only
	// when asked.
	Solutions
)

// Input is what metrics are computed from; each metric reads the fields of its
// Domain.
type Input struct {
	// X is the sample: generated points (Points, Mixture) or the reconstructions
	// (Reconstructions).
	X [][]float64
	// Ref is a reference sample of the true distribution (Points), or the data the
	// reconstructions were encoded from (Reconstructions).
	Ref [][]float64
	// GMM is the true mixture (Mixture).
	GMM *gmm.Mixture
	// Latent holds every coordinate of the encoded x_T (Reconstructions).
	Latent []float64
	// Features and RefFeatures are the classifier's features of the generated and
	// the real images, Probs its class probabilities of the generated ones (Images).
	Features, RefFeatures, Probs [][]float64
	// ODE holds, point for point with X, the fine ODE solution from the same x_T
	// (Solutions).
	ODE [][]float64
	// Seed seeds the metrics' own randomness (projections, bandwidths, subsets).
	Seed uint64
}

// Metric is what difflab knows about one metric an experiment reports.
type Metric struct {
	// Name is the key the metric is logged and configured under.
	Name string
	// Doc says in words what the metric is and which way is better, for reports.
	Doc string
	// Direction says which values are better; Descriptive metrics are not ranked.
	Direction Direction
	// Domain is what the metric is computed from.
	Domain Domain
	// LogAxis: the values span decades, so plots use a log axis.
	LogAxis bool
	// Compute evaluates the metric on the fields of in that Domain names. The
	// Result's Name is the metric's Name.
	Compute func(in Input) (Result, error)
}

// Ranked reports whether values of m can be better or worse than one another.
func (m Metric) Ranked() bool { return m.Direction != Descriptive }

// Better reports whether a is a better value of m than b (false for a Descriptive
// metric, and when either is NaN).
func (m Metric) Better(a, b float64) bool {
	switch m.Direction {
	case LowerIsBetter:
		return a < b
	case HigherIsBetter:
		return a > b
	}
	return false
}

// registry lists the metrics in the order reports show them.
var registry = []Metric{
	{Name: "swd", Domain: Points, LogAxis: true,
		Doc: "sliced Wasserstein-2 distance to a fresh sample of the true distribution (256 seeded projections); lower is better",
		Compute: func(in Input) (Result, error) {
			return SlicedWasserstein(in.X, in.Ref, SWDConfig{Seed: in.Seed}), nil
		}},
	{Name: "mmd", Domain: Points, LogAxis: true,
		Doc:     "unbiased MMD^2 with a Gaussian kernel, median-heuristic bandwidth, against a fresh true sample; lower is better",
		Compute: func(in Input) (Result, error) { return MMD2(in.X, in.Ref, MMDConfig{Seed: in.Seed}), nil }},
	{Name: "energy", Domain: Points, LogAxis: true,
		Doc:     "energy distance to a fresh true sample; lower is better",
		Compute: func(in Input) (Result, error) { return EnergyDistance(in.X, in.Ref), nil }},
	{Name: "loglik", Domain: Mixture, Direction: HigherIsBetter,
		Doc:     "mean log-density of the samples under the true mixture (exact); higher is better, but it also rewards collapse onto the modes",
		Compute: func(in Input) (Result, error) { return MeanLogLikelihood(in.GMM, in.X), nil }},
	{Name: "modes", Domain: Mixture,
		Doc:     "total-variation distance between the fraction of samples per mixture component and the true weights (samples beyond 3 std of every mode count as their own bin); lower is better",
		Compute: func(in Input) (Result, error) { return ModeError(in.GMM, in.X), nil }},
	{Name: "fid", Domain: Images, LogAxis: true,
		Doc:     "Frechet distance in the feature space of difflab's classifier; lower is better",
		Compute: func(in Input) (Result, error) { return FID(in.Features, in.RefFeatures) }},
	{Name: "kid", Domain: Images, LogAxis: true,
		Doc:     "kernel inception-style distance in the same feature space; lower is better",
		Compute: func(in Input) (Result, error) { return KID(in.Features, in.RefFeatures, KIDConfig{Seed: in.Seed}), nil }},
	{Name: "precision", Domain: Images, Direction: HigherIsBetter,
		Doc: "fraction of samples inside the data manifold (k-NN balls, k = 3); higher is better",
		Compute: func(in Input) (Result, error) {
			p, _ := PrecisionRecall(in.RefFeatures, in.Features, 0)
			return p, nil
		}},
	{Name: "recall", Domain: Images, Direction: HigherIsBetter,
		Doc: "fraction of data inside the samples' manifold; higher is better",
		Compute: func(in Input) (Result, error) {
			_, r := PrecisionRecall(in.RefFeatures, in.Features, 0)
			return r, nil
		}},
	{Name: "is", Domain: Images, Direction: HigherIsBetter,
		Doc:     "Inception Score with difflab's classifier, exp E KL(p(y|x) || p(y)): high when each sample is clearly one digit and all digits occur (at most 10); higher is better, up to the true-vs-true row",
		Compute: func(in Input) (Result, error) { return ClassifierScore(in.Probs), nil }},
	{Name: "confident", Domain: Images, Direction: HigherIsBetter,
		Doc:     "fraction of samples the classifier reads as one class with probability >= 0.9 (recognizable images); higher is better, up to the true-vs-true row",
		Compute: func(in Input) (Result, error) { return Confident(in.Probs, 0), nil }},
	{Name: "recon_mse", Domain: Reconstructions, LogAxis: true,
		Doc:     "mean squared error per coordinate between data x_0 and its DDIM reconstruction (encode to x_T with the eta = 0 update, decode back); lower is better",
		Compute: func(in Input) (Result, error) { return ReconstructionMSE(in.X, in.Ref), nil }},
	{Name: "ode_error", Domain: Solutions, LogAxis: true,
		Doc:     "root-mean-square distance of each sample to where a fine solution of the probability-flow ODE (Heun over every timestep from the sampler's first one down to 0) takes the same x_T: the solver's error; lower is better",
		Compute: func(in Input) (Result, error) { return ODEError(in.X, in.ODE), nil }},
	{Name: "latent_std", Domain: Reconstructions, Direction: Descriptive, LogAxis: true,
		Doc:     "standard deviation of the encoded x_T's coordinates (1 for a latent that looks like N(0, I))",
		Compute: func(in Input) (Result, error) { return LatentStd(in.Latent, len(in.X)), nil }},
}

// All returns every registered metric, in report order.
func All() []Metric { return slices.Clone(registry) }

// Lookup returns the metric called name.
func Lookup(name string) (Metric, bool) {
	i := slices.IndexFunc(registry, func(m Metric) bool { return m.Name == name })
	if i < 0 {
		return Metric{}, false
	}
	return registry[i], true
}

// Names lists, in report order, the metrics computed from any of the domains.
func Names(domains ...Domain) []string {
	var out []string
	for _, m := range registry {
		if slices.Contains(domains, m.Domain) {
			out = append(out, m.Name)
		}
	}
	return out
}

// Evaluate computes the named metrics on in, in the order given. An unknown name
// is an error that lists the known ones; a metric's misuse of in panics as the
// metric's function does.
func Evaluate(names []string, in Input) ([]Result, error) {
	out := make([]Result, 0, len(names))
	for _, name := range names {
		m, ok := Lookup(name)
		if !ok {
			return nil, fmt.Errorf("metrics: unknown metric %q, want one of %s", name, strings.Join(Names(Points, Mixture, Images, Reconstructions, Solutions), ", "))
		}
		r, err := m.Compute(in)
		if err != nil {
			return nil, fmt.Errorf("metrics: %s: %w", name, err)
		}
		r.Name = name
		out = append(out, r)
	}
	return out, nil
}

package features

import (
	"fmt"

	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/difflab/difflab/pkg/metrics"
)

// PRNeighbors is the k of the precision and recall computed by EvalImages
// (Kynkäänniemi et al. 2019 use 3), metrics.PrecisionRecall's default.
const PRNeighbors = metrics.DefaultPRNeighbors

// EvalImages compares n generated images gen with n real images real (each laid out
// as data.Dataset.X: n*784 float32 in [-1, 1]) in the feature space of cls, with
// the metrics of metrics.Names(metrics.Images):
//
//	"fid"       metrics.FID(features(gen), features(real))
//	"kid"       metrics.KID(features(gen), features(real), KIDConfig{Seed: seed})
//	"precision" and "recall"  metrics.PrecisionRecall(features(real), features(gen), PRNeighbors)
//	"is"        metrics.ClassifierScore(probs(gen)), the Inception Score under cls
//	"confident" metrics.Confident(probs(gen), 0): share of images cls reads as one
//	            class with probability >= 0.9
//
// Each Result's Params also hold "extractor" (cls.Hash()) and "extractor_dataset"
// (cls.Dataset), since these values are comparable only under one extractor. The
// ClassSummary is metrics.SummarizeClasses of cls.Predict(gen) over
// cls.Config.Classes classes: the class histogram of the generated samples.
//
// FID is biased upwards by O(F/n) (F = 128 features), so compare values at equal n;
// KID is unbiased. It returns an error when len(gen) or len(real) is not n*784, n <
// PRNeighbors+1, or the backend or FID's eigen-decomposition fails.
func EvalImages(cls *Classifier, gen []float32, real []float32, n int, seed uint64) (map[string]metrics.Result, metrics.ClassSummary, error) {
	var none metrics.ClassSummary
	if n < PRNeighbors+1 {
		return nil, none, fmt.Errorf("features: EvalImages: n = %d, want n >= %d", n, PRNeighbors+1)
	}
	for _, s := range []struct {
		name string
		x    []float32
	}{{"gen", gen}, {"real", real}} {
		if len(s.x) != n*imageSize {
			return nil, none, fmt.Errorf("features: EvalImages: %s has %d values, want n*%d = %d", s.name, len(s.x), imageSize, n*imageSize)
		}
	}
	fg, probs, err := cls.outputs(gen, n)
	if err != nil {
		return nil, none, err
	}
	fr, err := cls.Features(real, n)
	if err != nil {
		return nil, none, err
	}
	out := map[string]metrics.Result{}
	err = exceptions.TryCatch[error](func() {
		res, err := metrics.Evaluate(metrics.Names(metrics.Images), metrics.Input{Features: fg, RefFeatures: fr, Probs: probs, Seed: seed})
		if err != nil {
			panic(err)
		}
		for _, r := range res {
			out[r.Name] = r
		}
	})
	for k, r := range out {
		p := make(map[string]any, len(r.Params)+2)
		for pk, pv := range r.Params {
			p[pk] = pv
		}
		p["extractor"] = cls.Hash()
		p["extractor_dataset"] = cls.Dataset
		r.Params = p
		out[k] = r
	}
	return out, metrics.SummarizeClasses(argmax(probs), cls.Config.Classes), nil
}

package metrics

import (
	"fmt"
	"math"
)

// DefaultConfidence is the threshold of Confident when it is given 0.
const DefaultConfidence = 0.9

// ClassifierScore is the Inception Score of Salimans et al. (2016, eq. (1)) computed
// with any classifier's class probabilities p(y|x_i), one row per sample:
//
//	IS = exp( 1/n sum_i KL( p(y|x_i) || p(y) ) ),  p(y) = 1/n sum_i p(y|x_i)
//
// It lies in [1, K] for K classes: 1 when every row is the same distribution, K when
// each row is one-hot and the classes are used equally. It is high when each sample
// is confidently one class (sharp rows) and the classes are diverse (flat p(y)), so
// a generator that makes recognizable images of every class scores near the value
// of real data under the same classifier; compare values only under one classifier
// and at equal n (the plug-in p(y) biases it with n). Terms with p(y|x_i) = 0 count
// 0. Std is 0. It panics unless probs has at least 1 row, all of one length K >= 2,
// each with non-negative entries summing to 1 within 1e-6.
func ClassifierScore(probs [][]float64) Result {
	k := checkProbs("ClassifierScore", probs)
	py := make([]float64, k)
	for _, row := range probs {
		for c, p := range row {
			py[c] += p
		}
	}
	n := float64(len(probs))
	for c := range py {
		py[c] /= n
	}
	var kl float64
	for _, row := range probs {
		for c, p := range row {
			if p > 0 {
				kl += p * (math.Log(p) - math.Log(py[c]))
			}
		}
	}
	return Result{Name: "is", Value: math.Exp(kl / n), N: len(probs), Params: map[string]any{"classes": k}, Version: Version}
}

// Confident is the fraction of samples whose most likely class has probability at
// least threshold (DefaultConfidence = 0.9 when threshold is 0): for a classifier
// that is right on nearly all real images, the share of generated images it reads
// as one definite class. Compare it with the same fraction on real data. It panics
// as ClassifierScore, or when threshold is not in [0, 1].
func Confident(probs [][]float64, threshold float64) Result {
	checkProbs("Confident", probs)
	if threshold == 0 {
		threshold = DefaultConfidence
	}
	if !(threshold > 0 && threshold <= 1) {
		panic(fmt.Sprintf("metrics: Confident: threshold = %g, want a probability in (0, 1] (0 for the default %g)", threshold, DefaultConfidence))
	}
	hits := 0
	for _, row := range probs {
		top := row[0]
		for _, p := range row[1:] {
			top = max(top, p)
		}
		if top >= threshold {
			hits++
		}
	}
	return Result{Name: "confident", Value: float64(hits) / float64(len(probs)), N: len(probs),
		Params: map[string]any{"threshold": threshold}, Version: Version}
}

// checkProbs panics unless probs is a non-empty sample of probability vectors of one
// length K >= 2, which it returns.
func checkProbs(fn string, probs [][]float64) int {
	k := checkSample(fn, "probs", probs, 1)
	if k < 2 {
		panic(fmt.Sprintf("metrics: %s: probs has %d class, want at least 2", fn, k))
	}
	for i, row := range probs {
		var s float64
		for c, p := range row {
			if !(p >= 0) {
				panic(fmt.Sprintf("metrics: %s: probs[%d][%d] = %g, want a probability >= 0", fn, i, c, p))
			}
			s += p
		}
		if math.Abs(s-1) > 1e-6 {
			panic(fmt.Sprintf("metrics: %s: probs[%d] sums to %g, want 1", fn, i, s))
		}
	}
	return k
}

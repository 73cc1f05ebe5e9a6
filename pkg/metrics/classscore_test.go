package metrics

import (
	"math"
	"testing"
)

func oneHot(k int, classes ...int) [][]float64 {
	out := make([][]float64, len(classes))
	for i, c := range classes {
		out[i] = make([]float64, k)
		out[i][c] = 1
	}
	return out
}

func TestClassifierScoreClosedForms(t *testing.T) {
	// One-hot rows, every class equally often: IS = K.
	checkClose(t, "ClassifierScore(one-hot, 4 classes twice)", ClassifierScore(oneHot(4, 0, 1, 2, 3, 3, 2, 1, 0)).Value, 4, 1e-12)
	// One-hot rows of a single class: p(y|x) = p(y), IS = 1.
	checkClose(t, "ClassifierScore(one-hot, one class)", ClassifierScore(oneHot(10, 7, 7, 7)).Value, 1, 1e-12)
	// Identical soft rows: IS = 1.
	row := []float64{0.2, 0.3, 0.5}
	checkClose(t, "ClassifierScore(identical rows)", ClassifierScore([][]float64{row, row, row}).Value, 1, 1e-12)
	// Two mirrored rows (p, 1-p), (1-p, p): p(y) uniform, KL = log 2 - H(p).
	for _, p := range []float64{0.5, 0.7, 0.99} {
		want := math.Exp(p*math.Log(2*p) + (1-p)*math.Log(2*(1-p)))
		got := ClassifierScore([][]float64{{p, 1 - p}, {1 - p, p}})
		checkClose(t, "ClassifierScore(mirrored)", got.Value, want, 1e-12)
		if got.N != 2 || got.Name != "is" || got.Params["classes"] != 2 {
			t.Errorf("ClassifierScore(mirrored) = %+v, want name is, N 2, classes 2", got)
		}
	}
	// Unequal use of one-hot classes: IS = exp(H(p(y))).
	h := -(0.75*math.Log(0.75) + 0.25*math.Log(0.25))
	checkClose(t, "ClassifierScore(one-hot 3:1)", ClassifierScore(oneHot(3, 0, 0, 0, 2)).Value, math.Exp(h), 1e-12)
}

func TestConfident(t *testing.T) {
	probs := [][]float64{{0.95, 0.05}, {0.5, 0.5}, {0.1, 0.9}, {0.89, 0.11}}
	got := Confident(probs, 0)
	checkClose(t, "Confident(default)", got.Value, 0.5, 0)
	if got.Params["threshold"] != DefaultConfidence || got.N != 4 {
		t.Errorf("Confident(default) = %+v, want threshold %g and N 4", got, DefaultConfidence)
	}
	checkClose(t, "Confident(0.5)", Confident(probs, 0.5).Value, 1, 0)
	checkClose(t, "Confident(0.96)", Confident(probs, 0.96).Value, 0, 0)
}

func TestClassScorePanics(t *testing.T) {
	checkPanics(t, "ClassifierScore(empty)", "at least 1", func() { ClassifierScore(nil) })
	checkPanics(t, "ClassifierScore(1 class)", "at least 2", func() { ClassifierScore([][]float64{{1}}) })
	checkPanics(t, "ClassifierScore(sum 0.9)", "sums to 0.9", func() { ClassifierScore([][]float64{{0.4, 0.5}}) })
	checkPanics(t, "ClassifierScore(negative)", "probs[1][0] = -0.1", func() { ClassifierScore([][]float64{{0.5, 0.5}, {-0.1, 1.1}}) })
	checkPanics(t, "ClassifierScore(NaN)", "want a probability", func() { ClassifierScore([][]float64{{math.NaN(), 1}}) })
	checkPanics(t, "Confident(threshold 2)", "threshold = 2", func() { Confident([][]float64{{0.5, 0.5}}, 2) })
}

package metrics

import (
	"fmt"
	"math"
)

// ClassHistogram is the fraction of labels equal to each class 0..numClasses-1:
//
//	h_c = #{i : labels_i = c} / len(labels)
//
// For generated images, labels are a classifier's predictions; a sampler that drops
// classes shows zeros. ClassHistogram panics if labels is empty, if numClasses < 1,
// or if a label is outside [0, numClasses).
func ClassHistogram(labels []int, numClasses int) []float64 {
	const fn = "ClassHistogram"
	if numClasses < 1 {
		panic(fmt.Sprintf("metrics: %s: numClasses = %d, want >= 1", fn, numClasses))
	}
	if len(labels) == 0 {
		panic(fmt.Sprintf("metrics: %s: no labels", fn))
	}
	h := make([]float64, numClasses)
	for i, l := range labels {
		if l < 0 || l >= numClasses {
			panic(fmt.Sprintf("metrics: %s: labels[%d] = %d, want a class in [0, %d)", fn, i, l, numClasses))
		}
		h[l]++
	}
	for c := range h {
		h[c] /= float64(len(labels))
	}
	return h
}

// ClassSummary describes a class histogram, from SummarizeClasses.
type ClassSummary struct {
	// Hist is ClassHistogram(labels, numClasses).
	Hist []float64
	// Entropy is the Shannon entropy in nats, -sum_c h_c log h_c (0 log 0 = 0); at
	// most log K, reached by the uniform histogram.
	Entropy float64
	// TVUniform is the total-variation distance to the uniform histogram,
	// 1/2 sum_c |h_c - 1/K|, in [0, 1 - 1/K].
	TVUniform float64
	// Missing is the number of classes with no label.
	Missing int
	// N is the number of labels.
	N int
	// Version is the package Version that computed the summary.
	Version string
}

// SummarizeClasses is the histogram of labels over numClasses = K classes with its
// entropy, total-variation distance to uniform and count of missing classes (see
// ClassSummary). These are plug-in values: with N labels from the uniform
// distribution, E[TVUniform] is O(sqrt(K/N)), not 0. It panics as ClassHistogram.
func SummarizeClasses(labels []int, numClasses int) ClassSummary {
	h := ClassHistogram(labels, numClasses)
	s := ClassSummary{Hist: h, N: len(labels), Version: Version}
	u := 1 / float64(numClasses)
	for _, p := range h {
		if p == 0 {
			s.Missing++
		} else {
			s.Entropy -= p * math.Log(p)
		}
		s.TVUniform += math.Abs(p - u)
	}
	s.TVUniform /= 2
	return s
}

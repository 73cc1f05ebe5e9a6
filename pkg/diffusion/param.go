package diffusion

import (
	"math"
)

// Prediction names what a denoiser outputs. The list is append-only.
type Prediction string

const (
	// PredictEps: the model predicts the noise eps in x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps
	// (Ho et al. 2020, eq. (11)).
	PredictEps Prediction = "epsilon"
	// PredictX0: the model predicts x_0 directly.
	PredictX0 Prediction = "x0"
	// PredictV: the model predicts v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0
	// (Salimans & Ho 2022, section 4).
	PredictV Prediction = "v"
)

// Predictions lists every prediction type.
var Predictions = []Prediction{PredictEps, PredictX0, PredictV}

// ParsePrediction returns the prediction type named s, or an error listing the allowed names.
func ParsePrediction(s string) (Prediction, error) {
	return parseEnum("prediction type", s, Predictions)
}

// The conversions below act on one coordinate at a time with a = abar_t; the graph
// versions in graph.go apply the same formulas to tensors. With
// x_t = sqrt(a) x_0 + sqrt(1 - a) eps and v = sqrt(a) eps - sqrt(1 - a) x_0:
//
//	x_0 = (x_t - sqrt(1 - a) eps) / sqrt(a)
//	eps = (x_t - sqrt(a) x_0) / sqrt(1 - a)
//	x_0 = sqrt(a) x_t - sqrt(1 - a) v
//	eps = sqrt(1 - a) x_t + sqrt(a) v

// PredictX0FromEps is x_0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar) (Ho et al. 2020, eq. (4) solved for x_0).
func PredictX0FromEps(xt, eps, abar float64) float64 {
	return (xt - math.Sqrt(1-abar)*eps) / math.Sqrt(abar)
}

// PredictEpsFromX0 is eps = (x_t - sqrt(abar) x_0) / sqrt(1 - abar).
func PredictEpsFromX0(xt, x0, abar float64) float64 {
	return (xt - math.Sqrt(abar)*x0) / math.Sqrt(1-abar)
}

// PredictX0FromV is x_0 = sqrt(abar) x_t - sqrt(1 - abar) v (Salimans & Ho 2022, eq. (25) rearranged).
func PredictX0FromV(xt, v, abar float64) float64 {
	return math.Sqrt(abar)*xt - math.Sqrt(1-abar)*v
}

// PredictEpsFromV is eps = sqrt(1 - abar) x_t + sqrt(abar) v.
func PredictEpsFromV(xt, v, abar float64) float64 {
	return math.Sqrt(1-abar)*xt + math.Sqrt(abar)*v
}

// VFromEpsX0 is the v-prediction target v = sqrt(abar) eps - sqrt(1 - abar) x_0.
func VFromEpsX0(eps, x0, abar float64) float64 {
	return math.Sqrt(abar)*eps - math.Sqrt(1-abar)*x0
}

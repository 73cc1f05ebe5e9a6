package diffusion

import (
	"fmt"
	"math"
	"slices"
)

// Spacing names a rule that picks S of the T training timesteps for a sampler.
// The list is append-only.
type Spacing string

const (
	// Leading is the DDIM paper's "uniform" spacing: t_i = i * (T div S), i = 0..S-1
	// (diffusers' timestep_spacing="leading").
	Leading Spacing = "leading"
	// Trailing is round(arange(T, 0, -T/S)) - 1, sorted increasing, so the last
	// timestep is always T-1 (Lin et al. 2024, arXiv 2305.08891, Table 2).
	Trailing Spacing = "trailing"
	// Linspace is round(linspace(0, T-1, S)), with both ends included.
	Linspace Spacing = "linspace"
	// Quadratic is the DDIM paper's "quad" spacing: int(linspace(0, sqrt(0.8 T), S)^2).
	// It repeats timesteps when S is large for T (e.g. S = 100, T = 1000); that is an error.
	Quadratic Spacing = "quadratic"
	// Karras is Karras et al. (2022, arXiv 2206.00364) eq. (5) with rho = 7: the
	// noise levels sigma_i = (sigma_max^(1/rho) + i/(S-1) (sigma_min^(1/rho) -
	// sigma_max^(1/rho)))^rho, i = 0..S-1, between the schedule's sigma_min and
	// sigma_max of sigma = sqrt((1 - abar)/abar), each mapped to the training
	// timestep nearest in log sigma, so that models are only queried where they
	// were trained. It depends on the schedule: see Schedule.Timesteps.
	Karras Spacing = "karras"
)

// Spacings lists every spacing, in the order they were added.
var Spacings = []Spacing{Leading, Trailing, Linspace, Quadratic, Karras}

// KarrasRho is rho of the Karras spacing (Karras et al. 2022, eq. (5)).
const KarrasRho = 7.0

// ParseSpacing returns the spacing named s, or an error listing the allowed names.
func ParseSpacing(s string) (Spacing, error) { return parseEnum("spacing", s, Spacings) }

// Timesteps returns S of the T timesteps 0..T-1, strictly increasing, chosen by the
// spacing rule sp. Rounding to the nearest integer rounds halves to even, as numpy
// does. It returns an error when S < 1, S > T, the rule is unknown, or the rule would
// repeat a timestep.
func Timesteps(sp Spacing, T, S int) ([]int, error) {
	if T < 1 {
		return nil, fmt.Errorf("timesteps: T = %d, want T >= 1", T)
	}
	if S < 1 || S > T {
		return nil, fmt.Errorf("timesteps: steps = %d, want 1 <= steps <= T = %d", S, T)
	}
	ts := make([]int, S)
	switch sp {
	case Leading:
		k := T / S
		for i := range ts {
			ts[i] = i * k
		}
	case Trailing:
		// numpy: np.round(np.arange(T, 0, -T/S)).astype(int) - 1, then reversed. numpy's
		// arange can return S+1 values when T/S is inexact (T = 100, S = 31); we keep
		// the first S, T - i T/S for i = 0..S-1.
		step := float64(T) / float64(S)
		for i := 0; i < S; i++ {
			ts[S-1-i] = int(math.RoundToEven(float64(T)-float64(i)*step)) - 1
		}
	case Linspace:
		for i, v := range linspace(0, float64(T-1), S) {
			ts[i] = int(math.RoundToEven(v))
		}
	case Quadratic:
		for i, v := range linspace(0, math.Sqrt(0.8*float64(T)), S) {
			ts[i] = int(v * v)
		}
	case Karras:
		return nil, fmt.Errorf("timesteps: the karras spacing depends on the schedule's noise levels: use Schedule.Timesteps")
	default:
		return nil, fmt.Errorf("timesteps: unknown spacing %q, want one of %s", sp, joinKinds(Spacings))
	}
	return ts, checkTimesteps(sp, T, S, ts)
}

// checkTimesteps says whether ts is strictly increasing inside 0..T-1.
func checkTimesteps(sp Spacing, T, S int, ts []int) error {
	for i, t := range ts {
		if t < 0 || t >= T {
			return fmt.Errorf("timesteps: %s spacing of T = %d, steps = %d gives t = %d, outside 0..%d", sp, T, S, t, T-1)
		}
		if i > 0 && t <= ts[i-1] {
			return fmt.Errorf("timesteps: %s spacing of T = %d, steps = %d repeats timestep %d; use fewer steps or another spacing", sp, T, S, t)
		}
	}
	return nil
}

// Timesteps returns S timesteps of the schedule chosen by the spacing sp: the
// package function Timesteps for every spacing but Karras, which needs the
// schedule's noise levels. For Karras, sigma_min and sigma_max are the sigmas
// of t = 0 and t = T-1; with a zero terminal SNR (sigma_max infinite) they are
// those of t = 0 and t = T-2, and the first timestep is T-1 itself. A rule
// that maps two noise levels to one timestep is an error.
func (s *Schedule) Timesteps(sp Spacing, S int) ([]int, error) {
	T := s.T()
	if sp != Karras {
		return Timesteps(sp, T, S)
	}
	if S < 1 || S > T {
		return nil, fmt.Errorf("timesteps: steps = %d, want 1 <= steps <= T = %d", S, T)
	}
	logSigma := make([]float64, T) // increasing in t
	for t, a := range s.AlphasCumprod {
		logSigma[t] = 0.5 * (math.Log1p(-a) - math.Log(a))
	}
	top := T - 1
	ts := make([]int, 0, S)
	if math.IsInf(logSigma[top], 1) {
		if S == 1 || T < 2 {
			return nil, fmt.Errorf("timesteps: karras spacing with a zero terminal SNR needs steps >= 2 and T >= 2")
		}
		top, S = T-2, S-1
	}
	lo, hi := math.Exp(logSigma[0]), math.Exp(logSigma[top])
	for i := S - 1; i >= 0; i-- { // increasing sigma, so increasing t
		u := 0.0
		if S > 1 {
			u = float64(i) / float64(S-1)
		}
		r := math.Pow(hi, 1/KarrasRho) + u*(math.Pow(lo, 1/KarrasRho)-math.Pow(hi, 1/KarrasRho))
		ts = append(ts, nearest(logSigma[:top+1], KarrasRho*math.Log(r)))
	}
	if err := checkTimesteps(sp, T, S, ts); err != nil {
		return nil, err
	}
	if top == T-2 {
		ts = append(ts, T-1)
	}
	return ts, nil
}

// nearest returns the index of the element of the increasing xs nearest to v
// (the lower one on a tie).
func nearest(xs []float64, v float64) int {
	i, _ := slices.BinarySearch(xs, v)
	switch {
	case i == 0:
		return 0
	case i == len(xs):
		return len(xs) - 1
	case v-xs[i-1] <= xs[i]-v:
		return i - 1
	}
	return i
}

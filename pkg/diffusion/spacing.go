package diffusion

import (
	"fmt"
	"math"
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
)

// Spacings lists every spacing, in the order they were added.
var Spacings = []Spacing{Leading, Trailing, Linspace, Quadratic}

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
	default:
		return nil, fmt.Errorf("timesteps: unknown spacing %q, want one of %s", sp, joinKinds(Spacings))
	}
	for i, t := range ts {
		if t < 0 || t >= T {
			return nil, fmt.Errorf("timesteps: %s spacing of T = %d, steps = %d gives t = %d, outside 0..%d", sp, T, S, t, T-1)
		}
		if i > 0 && t <= ts[i-1] {
			return nil, fmt.Errorf("timesteps: %s spacing of T = %d, steps = %d repeats timestep %d; use fewer steps or another spacing", sp, T, S, t)
		}
	}
	return ts, nil
}

package diffusion

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestTimesteps(t *testing.T) {
	// Reference sequences computed by hand from the numpy expressions in the doc comments.
	for _, c := range []struct {
		sp   Spacing
		T, S int
		want []int
	}{
		{Leading, 1000, 10, []int{0, 100, 200, 300, 400, 500, 600, 700, 800, 900}},
		{Leading, 10, 3, []int{0, 3, 6}},
		{Leading, 5, 5, []int{0, 1, 2, 3, 4}},
		// diffusers test_scheduler_ddim trailing: [999, 899, ..., 99] reversed.
		{Trailing, 1000, 10, []int{99, 199, 299, 399, 499, 599, 699, 799, 899, 999}},
		// arange(1000, 0, -142.857) = 1000, 857.14, 714.29, 571.43, 428.57, 285.71, 142.86.
		{Trailing, 1000, 7, []int{142, 285, 428, 570, 713, 856, 999}},
		// arange(10, 0, -2.5) = 10, 7.5, 5, 2.5 -> round half to even 10, 8, 5, 2.
		{Trailing, 10, 4, []int{1, 4, 7, 9}},
		{Linspace, 1000, 10, []int{0, 111, 222, 333, 444, 555, 666, 777, 888, 999}},
		// linspace(0, 9, 5) = 0, 2.25, 4.5, 6.75, 9 -> 4.5 rounds to 4.
		{Linspace, 10, 5, []int{0, 2, 4, 7, 9}},
		{Linspace, 1000, 1, []int{0}},
		// linspace(0, sqrt(800), 10)^2 = 0, 9.88, 39.5, 88.9, 158.0, 246.9, 355.6, 484.0, 632.1, 800.
		{Quadratic, 1000, 10, []int{0, 9, 39, 88, 158, 246, 355, 483, 632, 800}},
	} {
		got, err := Timesteps(c.sp, c.T, c.S)
		if err != nil {
			t.Errorf("Timesteps(%s, %d, %d): %v", c.sp, c.T, c.S, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Timesteps(%s, %d, %d) = %v, want %v", c.sp, c.T, c.S, got, c.want)
		}
	}
}

// TestQuadraticLastStep pins the float rounding of int(sqrt(0.8 T)^2) against the
// expression evaluated directly.
func TestQuadraticLastStep(t *testing.T) {
	ts, err := Timesteps(Quadratic, 1000, 10)
	if err != nil {
		t.Fatal(err)
	}
	r := math.Sqrt(800)
	if want := int(r * r); ts[9] != want {
		t.Errorf("last quadratic step = %d, want int(sqrt(800)^2) = %d", ts[9], want)
	}
}

func TestTimestepsProperties(t *testing.T) {
	for _, sp := range Spacings {
		for _, T := range []int{1, 2, 7, 100, 1000} {
			sched := MustNewSchedule(ScheduleConfig{Kind: Cosine, T: T})
			for S := 1; S <= T; S = S*2 + 1 {
				ts, err := sched.Timesteps(sp, S)
				if err != nil {
					if (sp == Quadratic || sp == Karras) && strings.Contains(err.Error(), "repeats") {
						continue
					}
					t.Errorf("Timesteps(%s, %d, %d): %v", sp, T, S, err)
					continue
				}
				if len(ts) != S {
					t.Errorf("Timesteps(%s, %d, %d) has %d steps", sp, T, S, len(ts))
				}
				for i, v := range ts {
					if v < 0 || v >= T || (i > 0 && v <= ts[i-1]) {
						t.Errorf("Timesteps(%s, %d, %d) = %v: not strictly increasing in 0..T-1", sp, T, S, ts)
						break
					}
				}
			}
		}
	}
}

func TestTimestepsErrors(t *testing.T) {
	for _, c := range []struct {
		sp   Spacing
		T, S int
		want string
	}{
		{Leading, 10, 11, "steps = 11, want 1 <= steps <= T = 10"},
		{Leading, 10, 0, "steps = 0"},
		{Quadratic, 1000, 100, "repeats timestep"},
		{"uniform", 10, 5, `unknown spacing "uniform"`},
	} {
		_, err := Timesteps(c.sp, c.T, c.S)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Timesteps(%s, %d, %d) error = %v, want %q", c.sp, c.T, c.S, err, c.want)
		}
	}
}

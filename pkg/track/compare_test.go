package track

import "testing"

func TestRunInfoField(t *testing.T) {
	r := RunInfo{Params: map[string]any{"eta": 0.1, "sampler": "ddim", "steps": float64(50)},
		Metrics: map[string]float64{"fid": 12.3456789}, Tags: map[string]string{"row": "eta=0"}}
	for _, c := range []struct {
		name, want string
		ok         bool
	}{
		{"params.eta", "0.1", true}, {"params.sampler", "ddim", true}, {"params.steps", "50", true},
		{"metrics.fid", "12.3457", true}, {"tags.row", "eta=0", true},
		{"params.missing", "", false}, {"metrics.kid", "", false}, {"tags.x", "", false}, {"nokind", "", false},
	} {
		if got, ok := r.Field(c.name); got != c.want || ok != c.ok {
			t.Errorf("Field(%q) = %q, %v; want %q, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

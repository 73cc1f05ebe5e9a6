package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/difflab/difflab/internal/cmdline"
	"github.com/difflab/difflab/pkg/diffusion"
)

// run calls Main in-process and returns the exit code and both streams.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const gmmJSON = `{"weights": [0.25, 0.25, 0.5], "means": [[-2, 0], [2, 0], [0, 2]], "stds": [0.3, 0.3, 0.5]}`

func TestScheduleJSONFullPrecision(t *testing.T) {
	code, out, errs := run(t, "schedule", "--kind", "cosine", "--T", "1000", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Betas         []float64 `json:"betas"`
		AlphasCumprod []float64 `json:"alphas_cumprod"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	want := diffusion.MustNewSchedule(diffusion.ScheduleConfig{Kind: diffusion.Cosine, T: 1000})
	if !slices.Equal(got.Betas, want.Betas) || !slices.Equal(got.AlphasCumprod, want.AlphasCumprod) {
		t.Errorf("schedule JSON does not round-trip the float64 tables exactly")
	}
	for _, f := range []string{"csv", "table"} {
		code, out, _ := run(t, "schedule", "--kind", "linear", "--T", "5", "--format", f)
		if code != 0 || strings.Count(out, "\n") != 6 {
			t.Errorf("schedule --format %s: exit %d, %d lines, want 6:\n%s", f, code, strings.Count(out, "\n"), out)
		}
	}
}

// TestZeroTerminalSNRFlags: --zero-terminal-snr reaches the schedule, the
// timesteps and the sampler (which then uses the exact x0 denoiser at t = 999).
func TestZeroTerminalSNRFlags(t *testing.T) {
	code, out, errs := run(t, "schedule", "--kind", "linear", "--zero-terminal-snr")
	var got struct {
		AlphasCumprod []float64 `json:"alphas_cumprod"`
		ZTSNR         bool      `json:"zero_terminal_snr"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || !got.ZTSNR || got.AlphasCumprod[999] != 0 || got.AlphasCumprod[998] <= 0 {
		t.Fatalf("schedule --zero-terminal-snr: exit %d (%s), abar_998, abar_999 = %v", code, errs, got.AlphasCumprod[998:])
	}
	code, out, _ = run(t, "timesteps", "--spacing", "karras", "--steps", "5", "--zero-terminal-snr")
	if code != 0 || strings.TrimSpace(out) != "[0,816,988,998,999]" {
		t.Errorf("timesteps karras with zero terminal SNR: exit %d, %s", code, out)
	}
	gmm := writeFile(t, "gmm.json", gmmJSON)
	for _, smp := range []string{"ddim", "dpmpp-2m", "unipc", "plms", "heun"} {
		code, out, errs := run(t, "sample", "--gmm", gmm, "--zero-terminal-snr", "--spacing", "trailing", "--sampler", smp, "--steps", "8", "--n", "4", "--seed", "3", "--out", "-")
		_, again, _ := run(t, "sample", "--gmm", gmm, "--zero-terminal-snr", "--spacing", "trailing", "--sampler", smp, "--steps", "8", "--n", "4", "--seed", "3", "--out", "-")
		if again != out {
			t.Errorf("sample --sampler %s: the same seed gave different bytes", smp)
		}
		var res struct{ Samples [][]float64 }
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil || len(res.Samples) != 4 {
			t.Errorf("sample --sampler %s --zero-terminal-snr: exit %d, %s %s", smp, code, out, errs)
			continue
		}
		for _, p := range res.Samples {
			for _, v := range p {
				if math.IsNaN(v) || math.Abs(v) > 10 {
					t.Errorf("sample --sampler %s --zero-terminal-snr: sample %v", smp, p)
				}
			}
		}
	}
}

func TestTimestepsCommand(t *testing.T) {
	code, out, errs := run(t, "timesteps", "--spacing", "trailing", "--T", "1000", "--steps", "10")
	if code != 0 || strings.TrimSpace(out) != "[99,199,299,399,499,599,699,799,899,999]" {
		t.Errorf("timesteps = %d %q %q", code, out, errs)
	}
}

func TestSampleSameSeedSameBytes(t *testing.T) {
	gmm := writeFile(t, "gmm.json", gmmJSON)
	dir := t.TempDir()
	var outs []string
	for i, seed := range []string{"7", "7", "8"} {
		p := filepath.Join(dir, "s"+string(rune('a'+i))+".json")
		code, _, errs := run(t, "sample", "--model", "gmm", "--gmm", gmm, "--schedule", "linear", "--T", "100",
			"--sampler", "ddim", "--eta", "0.5", "--steps", "10", "--spacing", "leading", "--n", "5", "--seed", seed, "--out", p)
		if code != 0 {
			t.Fatalf("sample: exit %d: %s", code, errs)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(b))
	}
	if outs[0] != outs[1] {
		t.Errorf("same seed gave different bytes:\n%s\n%s", outs[0], outs[1])
	}
	if outs[0] == outs[2] {
		t.Errorf("seeds 7 and 8 gave the same samples")
	}
	var got struct{ Samples [][]float64 }
	if err := json.Unmarshal([]byte(outs[0]), &got); err != nil || len(got.Samples) != 5 || len(got.Samples[0]) != 2 {
		t.Errorf("output %q: want {\"samples\": 5 points of 2 coordinates} (err %v)", outs[0], err)
	}
}

// TestSampleInit checks that --init sets x_T and N, and that deterministic DDIM
// maps the same x_T to the same sample whatever the seed.
func TestSampleInit(t *testing.T) {
	gmm := writeFile(t, "gmm.json", gmmJSON)
	init := writeFile(t, "init.json", `[[0.1, -0.2], [1.5, 0.3], [-1, -1]]`)
	var outs []string
	for _, seed := range []string{"1", "2"} {
		code, out, errs := run(t, "sample", "--gmm", gmm, "--sampler", "ddim", "--steps", "20", "--dtype", "float64",
			"--seed", seed, "--init", init, "--out", "-")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		outs = append(outs, out)
	}
	if outs[0] != outs[1] {
		t.Errorf("DDIM eta=0 from the same --init differs across seeds")
	}
	var got struct{ Samples [][]float64 }
	json.Unmarshal([]byte(outs[0]), &got)
	if len(got.Samples) != 3 {
		t.Errorf("N = %d, want 3 from --init", len(got.Samples))
	}
}

func TestBadInput(t *testing.T) {
	gmm := writeFile(t, "gmm.json", gmmJSON)
	badWeights := writeFile(t, "bad.json", `{"weights": [0.5, 0.2], "means": [[0, 0], [1, 1]], "stds": [1, 1]}`)
	mismatch := writeFile(t, "mm.json", `{"weights": [0.5, 0.5], "means": [[0, 0]], "stds": [1, 1]}`)
	typo := writeFile(t, "typo.json", `{"weight": [1], "means": [[0, 0]], "stds": [1]}`)
	garbage := writeFile(t, "garbage.json", `{"weights": [1], `)
	badInit := writeFile(t, "init.json", `[[0.1, -0.2, 3]]`)
	base := []string{"sample", "--gmm", gmm, "--out", "-", "--n", "2"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"schedule", "--kind", "quadratic"}, `--kind "quadratic": want one of linear|scaled-linear|cosine|sigmoid`},
		{[]string{"schedule", "--T", "0"}, "--T 0: want T >= 1"},
		{[]string{"schedule", "--beta-start", "2"}, `"beta_start" = 2`},
		{[]string{"schedule", "--format", "xml"}, `--format "xml"`},
		{[]string{"timesteps", "--steps", "2000"}, "--steps: steps = 2000, want 1 <= steps <= T = 1000"},
		{[]string{"timesteps", "--spacing", "quadratic", "--steps", "500"}, "repeats timestep"},
		{append(base, "--steps", "10", "--eta", "-1"), "--eta: eta = -1, want a finite eta >= 0"},
		{append(base, "--steps", "1001"), "--steps: steps = 1001, want 1 <= steps <= T = 1000"},
		{append(base, "--steps", "10", "--sampler", "pndm"), `--sampler: unknown sampler "pndm", want one of ddim, ddpm, ddpm-strided, dpmpp-2m, unipc, plms, heun`},
		{append(base, "--steps", "10", "--sampler", "ddpm-strided", "--variance", "learned"), `--variance: unknown variance "learned", want one of fixed-small, fixed-large`},
		{append(base, "--steps", "10", "--sampler", "dpmpp-2m", "--eta", "0"), "--eta applies to --sampler ddim only"},
		{append(base, "--steps", "10", "--sampler", "heun", "--variance", "fixed-large"), "--variance applies to --sampler ddpm and ddpm-strided only"},
		{append(base, "--steps", "100", "--spacing", "karras"), "repeats timestep"},
		{[]string{"timesteps", "--spacing", "karras", "--steps", "5", "--schedule", "cosine", "--T", "1"}, "steps = 5, want 1 <= steps <= T = 1"},
		{append(base, "--steps", "10", "--dtype", "bfloat16"), `--dtype "bfloat16"`},
		{append(base, "--steps", "10", "--n", "0"), "--n 0: want N >= 1"},
		{append(base, "--steps", "10", "--model", "unet"), `--model "unet"`},
		{[]string{"sample", "--gmm", badWeights, "--steps", "10", "--n", "2", "--out", "-"}, `field "weights": sum is 0.7`},
		{[]string{"sample", "--gmm", mismatch, "--steps", "10", "--n", "2", "--out", "-"}, `field "means": 1 components`},
		{[]string{"sample", "--gmm", typo, "--steps", "10", "--n", "2", "--out", "-"}, `unknown field "weight"`},
		{[]string{"sample", "--gmm", garbage, "--steps", "10", "--n", "2", "--out", "-"}, "malformed JSON"},
		{[]string{"sample", "--gmm", gmm, "--steps", "10", "--init", badInit, "--out", "-"}, "point 0 has 3 coordinates, want 2"},
		{[]string{"sample", "--steps", "10", "--n", "2", "--out", "-"}, "--gmm is required"},
		{[]string{"sample", "--gmm", gmm, "--steps", "10", "--n", "2"}, "--out is required"},
		{[]string{"sample", "--nope"}, "flag provided but not defined: -nope"},
	} {
		code, out, errs := run(t, c.args...)
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		last := lines[len(lines)-1]
		if code != cmdline.ExitUsage || !strings.Contains(last, c.want) {
			t.Errorf("difflab %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(c.args, " "), code, errs, c.want)
		}
		if strings.Contains(errs, "goroutine") || out != "" && c.args[0] != "frobnicate" {
			t.Errorf("difflab %s: stack trace or stdout output: %q %q", strings.Join(c.args, " "), out, errs)
		}
	}
}

// TestRunArgumentPlacement checks that the experiment folder may come before or
// after the flags, and that a missing or extra one is a usage error.
func TestRunArgumentPlacement(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	missing := filepath.Join(t.TempDir(), "nope")
	for _, args := range [][]string{{"run", missing, "--db", db}, {"run", "--db", db, missing}} {
		code, _, errs := run(t, args...)
		if code != cmdline.ExitUsage || !strings.Contains(errs, missing) {
			t.Errorf("difflab %v: exit %d, %q; want exit 2 naming %s", args, code, errs, missing)
		}
	}
	for _, args := range [][]string{{"run", "--db", db}, {"run", "--db", db, "a", "b"}} {
		if code, _, _ := run(t, args...); code != cmdline.ExitUsage {
			t.Errorf("difflab %v: exit %d, want 2", args, code)
		}
	}
}

// TestFlagError: a config's Validate error is reported against the flag behind
// the field it names, with Validate's own words after it.
func TestFlagError(t *testing.T) {
	fields := map[string]string{"eta": "eta", "clip_x0": "clip", "sampler": "sampler", "T": "T"}
	for _, c := range []struct{ in, want string }{
		{"sampler: eta = -1, want a finite eta >= 0", "--eta: eta = -1, want a finite eta >= 0"},
		{"sampler: clip_x0 = NaN, want 0 (off) or a finite value > 0", "--clip: clip_x0 = NaN, want 0 (off) or a finite value > 0"},
		{`sampler: unknown sampler "plms", want one of ddim, ddpm`, `--sampler: unknown sampler "plms", want one of ddim, ddpm`},
		{`schedule: field "T" = 0, want T >= 1`, `--T: field "T" = 0, want T >= 1`},
		{"sampler: timesteps: leading spacing of T = 10 repeats timestep 3", "sampler: timesteps: leading spacing of T = 10 repeats timestep 3"},
		{"sampler: steps = 0, want 1 <= steps", "sampler: steps = 0, want 1 <= steps"}, // not in fields
	} {
		err := flagError(errors.New(c.in), fields)
		if err.Error() != c.want || cmdline.ExitCode(err) != cmdline.ExitUsage {
			t.Errorf("flagError(%q) = %q (exit %d), want %q (exit 2)", c.in, err, cmdline.ExitCode(err), c.want)
		}
	}
	fields[""] = "spacing"
	if got, want := flagError(errors.New("sampler: timesteps: leading spacing of T = 10 repeats timestep 3"), fields).Error(), "--spacing: leading spacing of T = 10 repeats timestep 3"; got != want {
		t.Errorf("flagError with a fallback flag = %q, want %q", got, want)
	}
}

package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/difflab/difflab/pkg/backend"
	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/gomlx/compute/dtypes"
)

func init() {
	register(command{"sample", "draw samples with DDPM or DDIM from a denoiser (the exact GMM denoiser or a checkpoint)", runSample})
}

// sampleFlags are the sampler flags shared by "sample" and the commands that sample.
type sampleFlags struct {
	sampler, variance, spacing, dtype string
	eta, clip                         float64
	steps                             int
}

func (f *sampleFlags) register(fs *flagSet) {
	fs.StringVar(&f.sampler, "sampler", "ddim", "sampler: ddim|ddpm|ddpm-strided (ddpm runs all T steps; ddpm-strided is the DDIM paper's sigma-hat)")
	fs.StringVar(&f.variance, "variance", "", "DDPM variance: fixed-small|fixed-large (default fixed-small for ddpm, fixed-large for ddpm-strided)")
	fs.Float64Var(&f.eta, "eta", 0, "DDIM eta >= 0 (0: deterministic; 1: DDPM's posterior variance)")
	fs.IntVar(&f.steps, "steps", 0, "number of sampling steps S, 1 <= S <= T (ddim, ddpm-strided); ddpm ignores it")
	fs.StringVar(&f.spacing, "spacing", "leading", "timestep spacing: "+spacingList())
	fs.Float64Var(&f.clip, "clip", 0, "clip x0_hat to [-c, c] at every step (0: off)")
	fs.StringVar(&f.dtype, "dtype", "float32", "computation dtype: float32|float64")
}

// config turns the flags into a validated sampler configuration for T steps.
func (f *sampleFlags) config(T int) (diffusion.SamplerConfig, dtypes.DType, error) {
	var c diffusion.SamplerConfig
	kind, err := diffusion.ParseSamplerKind(f.sampler)
	if err != nil {
		return c, 0, usagef("--sampler %q: want one of ddim, ddpm, ddpm-strided", f.sampler)
	}
	c.Kind = kind
	if f.variance != "" {
		v, err := diffusion.ParseVariance(f.variance)
		if err != nil {
			return c, 0, usagef("--variance %q: want fixed-small or fixed-large", f.variance)
		}
		c.Variance = v
	}
	sp, err := diffusion.ParseSpacing(f.spacing)
	if err != nil {
		return c, 0, usagef("--spacing %q: want one of %s", f.spacing, spacingList())
	}
	c.Spacing = sp
	if !(f.eta >= 0) {
		return c, 0, usagef("--eta %v: want eta >= 0", f.eta)
	}
	c.Eta = f.eta
	if !(f.clip >= 0) {
		return c, 0, usagef("--clip %v: want 0 (off) or c > 0", f.clip)
	}
	c.ClipX0 = f.clip
	switch {
	case kind == diffusion.DDPM && f.steps != 0 && f.steps != T:
		return c, 0, usagef("--steps %d: ddpm runs all T = %d steps; use --sampler ddpm-strided or ddim for fewer", f.steps, T)
	case kind != diffusion.DDPM && (f.steps < 1 || f.steps > T):
		return c, 0, usagef("--steps %d: want 1 <= steps <= T = %d", f.steps, T)
	}
	c.Steps = f.steps
	if err := c.Validate(T); err != nil {
		return c, 0, usagef("%v", err)
	}
	var dt dtypes.DType
	switch f.dtype {
	case "float32":
		dt = dtypes.Float32
	case "float64":
		dt = dtypes.Float64
	default:
		return c, 0, usagef("--dtype %q: want float32 or float64", f.dtype)
	}
	return c, dt, nil
}

func runSample(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("sample", "sample --model gmm --gmm FILE.json --schedule KIND --T N --sampler ddim|ddpm|ddpm-strided [--variance fixed-small|fixed-large] --eta E --steps S --spacing SPACING [--clip c] [--dtype float32|float64] --n N --seed SEED [--init FILE.json] --out FILE.json", stdout)
	modelName := fs.String("model", "gmm", "denoiser: gmm (the exact denoiser of a Gaussian mixture)")
	gmmPath := fs.String("gmm", "", `Gaussian mixture JSON: {"weights": [...], "means": [[...], ...], "stds": [...]} (with --model gmm)`)
	var sched scheduleFlags
	sched.register(fs, "schedule")
	var smp sampleFlags
	smp.register(fs)
	n := fs.Int("n", 0, "number of samples N >= 1 (taken from --init when given)")
	seed := fs.Uint64("seed", 0, "random seed: the same arguments and seed give the same bytes")
	initPath := fs.String("init", "", "JSON file with x_T as an array of N arrays (optional; drawn from the seed otherwise)")
	out := fs.String("out", "", "output JSON file, {\"samples\": [[...], ...]} (- for stdout)")
	if done, code := parse(fs, args, stderr); done {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return finish("sample", func() error {
		if *modelName != "gmm" {
			return usagef("--model %q: want gmm", *modelName)
		}
		if *gmmPath == "" {
			return usagef("--gmm is required with --model gmm: a JSON file {\"weights\": [...], \"means\": [[...], ...], \"stds\": [...]}")
		}
		if *out == "" {
			return usagef("--out is required: the output JSON file, or - for stdout")
		}
		s, err := sched.schedule("schedule")
		if err != nil {
			return err
		}
		cfg, dt, err := smp.config(s.T())
		if err != nil {
			return err
		}
		g, err := diffusion.LoadGMM(*gmmPath)
		if err != nil {
			return usagef("--gmm: %v", err)
		}
		var xT []float64
		N := *n
		if *initPath != "" {
			rows, err := readPoints(*initPath, g.Dim())
			if err != nil {
				return usagef("--init: %v", err)
			}
			if set["n"] && *n != len(rows) {
				return usagef("--n %d but --init has %d points; drop --n or make them agree", *n, len(rows))
			}
			N = len(rows)
			for _, r := range rows {
				xT = append(xT, r...)
			}
		}
		if N < 1 {
			return usagef("--n %d: want N >= 1", N)
		}
		b, err := backend.New()
		if err != nil {
			return err
		}
		sm, err := diffusion.NewSampler(b, s, g.Denoiser(s), cfg)
		if err != nil {
			return usagef("%v", err)
		}
		sm.DType = dt
		res, err := sm.Sample([]int{N, g.Dim()}, xT, diffusion.NewPCGNoise(*seed), diffusion.SampleOptions{})
		if err != nil {
			return err
		}
		return writeSamples(*out, res.X0, g.Dim(), stdout)
	}(), stderr)
}

// readPoints reads a JSON array of points of dimension dim.
func readPoints(path string, dim int) ([][]float64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rows [][]float64
	if err := json.Unmarshal(data, &rows); err != nil {
		return nil, fmt.Errorf("%s: malformed JSON (want an array of N arrays of %d numbers): %v", path, dim, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no points", path)
	}
	for i, r := range rows {
		if len(r) != dim {
			return nil, fmt.Errorf("%s: point %d has %d coordinates, want %d", path, i, len(r), dim)
		}
	}
	return rows, nil
}

// writeSamples writes {"samples": [[...], ...]} to path ("-" for stdout),
// atomically for files.
func writeSamples(path string, flat []float64, dim int, stdout io.Writer) error {
	rows := make([][]float64, len(flat)/dim)
	for i := range rows {
		rows[i] = flat[i*dim : (i+1)*dim]
	}
	data, err := json.Marshal(map[string]any{"samples": rows})
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if path == "-" {
		_, err = stdout.Write(data)
		return err
	}
	return writeFileAtomic(path, data)
}

// writeFileAtomic writes data to a temporary file beside path and renames it over
// path, so a reader never sees a half-written file.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp" + fmt.Sprint(os.Getpid())
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/difflab/difflab/internal/cmdline"
	"github.com/difflab/difflab/pkg/backend"
	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/difflab/difflab/pkg/gmm"
	"github.com/difflab/difflab/pkg/pipeline"
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
	fs.StringVar(&f.sampler, "sampler", "ddim", "sampler: "+samplerList()+" (ddpm runs all T steps; ddpm-strided is the DDIM paper's sigma-hat; heun makes 2 model calls a step)")
	fs.StringVar(&f.variance, "variance", "", "DDPM variance (ddpm, ddpm-strided only): fixed-small|fixed-large (default fixed-small for ddpm, fixed-large for ddpm-strided)")
	fs.Float64Var(&f.eta, "eta", 0, "DDIM eta >= 0 (ddim only; 0: deterministic; 1: DDPM's posterior variance)")
	fs.IntVar(&f.steps, "steps", 0, "number of sampling steps S, 1 <= S <= T; ddpm ignores it")
	fs.StringVar(&f.spacing, "spacing", "leading", "timestep spacing: "+spacingList())
	fs.Float64Var(&f.clip, "clip", 0, "clip x0_hat to [-c, c] at every step (0: off)")
	fs.StringVar(&f.dtype, "dtype", "float32", "computation dtype: float32|float64")
}

func samplerList() string {
	var s []string
	for _, k := range diffusion.SamplerKinds {
		s = append(s, string(k))
	}
	return strings.Join(s, "|")
}

// checkSet refuses the flags that mean nothing for the sampler chosen (set
// holds the flags given on the command line).
func (f *sampleFlags) checkSet(set map[string]bool) error {
	k := diffusion.SamplerKind(f.sampler)
	if set["eta"] && k != diffusion.DDIM {
		return cmdline.Usagef("--eta applies to --sampler ddim only; %s has no eta", f.sampler)
	}
	if set["variance"] && k != diffusion.DDPM && k != diffusion.DDPMStrided {
		return cmdline.Usagef("--variance applies to --sampler ddpm and ddpm-strided only")
	}
	return nil
}

// config turns the flags into a sampler configuration for T steps, checked by
// diffusion.SamplerConfig.Validate; its errors are reported against the flags.
func (f *sampleFlags) config(T int) (diffusion.SamplerConfig, dtypes.DType, error) {
	c := diffusion.SamplerConfig{
		Kind:     diffusion.SamplerKind(f.sampler),
		Steps:    f.steps,
		Spacing:  diffusion.Spacing(f.spacing),
		Eta:      f.eta,
		Variance: diffusion.Variance(f.variance),
		ClipX0:   f.clip,
	}
	if err := c.Validate(T); err != nil {
		return c, 0, flagError(err, samplerFields)
	}
	var dt dtypes.DType
	switch f.dtype {
	case "float32":
		dt = dtypes.Float32
	case "float64":
		dt = dtypes.Float64
	default:
		return c, 0, cmdline.Usagef("--dtype %q: want float32 or float64", f.dtype)
	}
	return c, dt, nil
}

// samplerFields maps the fields of diffusion.SamplerConfig that its Validate
// names to the flags of sampleFlags.
var samplerFields = map[string]string{
	"sampler": "sampler", "steps": "steps", "spacing": "spacing", "eta": "eta", "variance": "variance", "clip_x0": "clip",
	"": "spacing", // the spacing repeats a timestep at these steps
}

func runSample(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("sample", "sample (--model gmm --gmm FILE.json --schedule KIND --T N [--zero-terminal-snr] | --checkpoint DIR) --sampler "+samplerList()+" [--variance fixed-small|fixed-large] [--eta E] --steps S --spacing SPACING [--clip c] [--dtype float32|float64] --n N --seed SEED [--init FILE.json] --out FILE.json|FILE.png [--quiet]", stdout)
	modelName := fs.String("model", "gmm", "denoiser: gmm (the exact denoiser of a Gaussian mixture); ignored with --checkpoint")
	checkpoint := fs.String("checkpoint", "", "sample a trained model: a checkpoint (or checkpoint folder) written by difflab train; its schedule is used")
	raw := fs.Bool("raw-weights", false, "with --checkpoint, use the raw weights instead of their EMA")
	gmmPath := fs.String("gmm", "", `Gaussian mixture JSON: {"weights": [...], "means": [[...], ...], "stds": [...]} (with --model gmm)`)
	var sched scheduleFlags
	sched.register(fs, "schedule")
	var smp sampleFlags
	smp.register(fs)
	n := fs.Int("n", 0, "number of samples N >= 1 (taken from --init when given)")
	seed := fs.Uint64("seed", 0, "random seed: the same arguments and seed give the same bytes")
	initPath := fs.String("init", "", "JSON file with x_T as an array of N arrays (optional; drawn from the seed otherwise)")
	out := fs.String("out", "", "output: FILE.json writes {\"samples\": [[...], ...]} and a picture FILE.png beside it; FILE.png writes the picture only; - writes JSON to stdout")
	quiet := fs.Bool("quiet", false, "no progress line (it appears on stderr once sampling takes over a second)")
	if done, code := parse(fs, args, stderr); done {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return finish("sample", func() error {
		if *out == "" {
			return cmdline.Usagef("--out is required: FILE.json, FILE.png, or - for stdout")
		}
		if err := smp.checkSet(set); err != nil {
			return err
		}
		var (
			sch   *diffusion.Schedule
			den   diffusion.Denoiser
			shape []int // per example
			err   error
		)
		if *checkpoint != "" {
			if set["schedule"] || set["T"] || set["beta-start"] || set["beta-end"] || set["gmm"] || set["zero-terminal-snr"] {
				return cmdline.Usagef("--checkpoint uses the schedule it was trained with; drop --schedule, --T, --beta-start, --beta-end, --zero-terminal-snr and --gmm")
			}
			l, err := pipeline.LoadCheckpoint(*checkpoint, *raw)
			if err != nil {
				return cmdline.Usagef("--checkpoint: %v", err)
			}
			sch, den, shape = l.Schedule, l.Denoiser, l.Shape
		} else {
			if *modelName != "gmm" {
				return cmdline.Usagef("--model %q: want gmm, or --checkpoint DIR for a trained model", *modelName)
			}
			if *gmmPath == "" {
				return cmdline.Usagef("--gmm is required with --model gmm: a JSON file {\"weights\": [...], \"means\": [[...], ...], \"stds\": [...]}")
			}
			if sch, err = sched.schedule("schedule"); err != nil {
				return err
			}
			g, err := gmm.Load(*gmmPath)
			if err != nil {
				return cmdline.Usagef("--gmm: %v", err)
			}
			den, shape = diffusion.ExactDenoiser(g, sch), []int{g.Dim()}
			if sch.Config.ZeroTerminalSNR {
				// E[x0 | x_t] directly: defined at abar_{T-1} = 0, where x0 from eps is not.
				den = diffusion.ExactX0Denoiser(g, sch)
			}
		}
		cfg, dt, err := smp.config(sch.T())
		if err != nil {
			return err
		}
		dim := 1
		for _, d := range shape {
			dim *= d
		}
		var xT []float64
		N := *n
		if *initPath != "" {
			rows, err := readPoints(*initPath, dim)
			if err != nil {
				return cmdline.Usagef("--init: %v", err)
			}
			if set["n"] && *n != len(rows) {
				return cmdline.Usagef("--n %d but --init has %d points; drop --n or make them agree", *n, len(rows))
			}
			N = len(rows)
			for _, r := range rows {
				xT = append(xT, r...)
			}
		}
		if N < 1 {
			return cmdline.Usagef("--n %d: want N >= 1", N)
		}
		b, err := backend.New()
		if err != nil {
			return err
		}
		sm, err := diffusion.NewSampler(b, sch, den, cfg)
		if err != nil {
			return cmdline.Usagef("%v", err)
		}
		sm.DType = dt
		full := append([]int{N}, shape...)
		var progress io.Writer = stderr
		if *quiet {
			progress = nil
		}
		res, err := sm.Sample(full, xT, diffusion.NewPCGNoise(*seed), diffusion.SampleOptions{Progress: stepProgress(progress, "sample")})
		if err != nil {
			return err
		}
		return writeSampleOutputs(*out, res.X0, full, stdout)
	}(), stderr)
}

// writeSampleOutputs writes the samples as JSON (path "-" or FILE.json, the latter
// with a picture FILE.png beside it) or as a picture only (FILE.png).
func writeSampleOutputs(path string, flat []float64, full []int, stdout io.Writer) error {
	dim := len(flat) / full[0]
	title := fmt.Sprintf("%d samples", full[0])
	if strings.HasSuffix(path, ".png") {
		png, err := pipeline.Picture(flat, full, title)
		if err != nil {
			return err
		}
		return writeFileAtomic(path, png)
	}
	if err := writeSamples(path, flat, dim, stdout); err != nil || path == "-" {
		return err
	}
	png, err := pipeline.Picture(flat, full, title)
	if err != nil {
		return err
	}
	return writeFileAtomic(strings.TrimSuffix(path, filepath.Ext(path))+".png", png)
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

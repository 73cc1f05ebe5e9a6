package cli

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/difflab/difflab/internal/cmdline"
	"github.com/difflab/difflab/pkg/diffusion"
)

func init() {
	register(command{"schedule", "print a noise schedule's tables (betas, alphas_cumprod, SNR, ...)", runSchedule})
	register(command{"timesteps", "print the timesteps a sampler visits, as a JSON array", runTimesteps})
}

// scheduleColumns are the tables printed by "difflab schedule", in order.
var scheduleColumns = []struct {
	name  string
	table func(s *diffusion.Schedule) []float64
}{
	{"betas", func(s *diffusion.Schedule) []float64 { return s.Betas }},
	{"alphas", func(s *diffusion.Schedule) []float64 { return s.Alphas }},
	{"alphas_cumprod", func(s *diffusion.Schedule) []float64 { return s.AlphasCumprod }},
	{"alphas_cumprod_prev", func(s *diffusion.Schedule) []float64 { return s.AlphasCumprodPrev }},
	{"sqrt_alphas_cumprod", func(s *diffusion.Schedule) []float64 { return s.SqrtAlphasCumprod }},
	{"sqrt_one_minus_alphas_cumprod", func(s *diffusion.Schedule) []float64 { return s.SqrtOneMinusAlphasCumprod }},
	{"snr", func(s *diffusion.Schedule) []float64 { return s.SNR }},
	{"posterior_variance", func(s *diffusion.Schedule) []float64 { return s.PosteriorVariance }},
	{"posterior_log_variance_clipped", func(s *diffusion.Schedule) []float64 { return s.PosteriorLogVarianceClipped }},
	{"posterior_mean_coef1", func(s *diffusion.Schedule) []float64 { return s.PosteriorMeanCoef1 }},
	{"posterior_mean_coef2", func(s *diffusion.Schedule) []float64 { return s.PosteriorMeanCoef2 }},
}

// scheduleFlags are the schedule flags shared by several commands.
type scheduleFlags struct {
	kind             string
	T                int
	betaStart, betaE float64
	zeroTerminalSNR  bool
}

func (f *scheduleFlags) register(fs interface {
	StringVar(*string, string, string, string)
	IntVar(*int, string, int, string)
	Float64Var(*float64, string, float64, string)
	BoolVar(*bool, string, bool, string)
}, kindFlag string) {
	fs.StringVar(&f.kind, kindFlag, "linear", "noise schedule: "+kindList())
	fs.IntVar(&f.T, "T", diffusion.DefaultT, "number of diffusion steps T (timesteps 0..T-1)")
	fs.Float64Var(&f.betaStart, "beta-start", 0, "first beta of linear, scaled-linear and sigmoid (0: the kind's default, 1e-4; 0.00085 for scaled-linear)")
	fs.Float64Var(&f.betaE, "beta-end", 0, "last beta of linear, scaled-linear and sigmoid (0: the kind's default, 0.02; 0.012 for scaled-linear)")
	fs.BoolVar(&f.zeroTerminalSNR, "zero-terminal-snr", false, "rescale the schedule to abar_{T-1} = 0 (Lin et al. 2024, Algorithm 1)")
}

func kindList() string {
	var s []string
	for _, k := range diffusion.ScheduleKinds {
		if k != diffusion.Custom {
			s = append(s, string(k))
		}
	}
	return strings.Join(s, "|")
}

func (f *scheduleFlags) schedule(kindFlag string) (*diffusion.Schedule, error) {
	kind, err := diffusion.ParseScheduleKind(f.kind)
	if err != nil || kind == diffusion.Custom { // flags cannot give a custom schedule's betas
		return nil, cmdline.Usagef("--%s %q: want one of %s", kindFlag, f.kind, kindList())
	}
	if f.T < 1 {
		// Not Validate's to catch: in a ScheduleConfig, T = 0 means the default.
		return nil, cmdline.Usagef("--T %d: want T >= 1", f.T)
	}
	s, err := diffusion.NewSchedule(diffusion.ScheduleConfig{Kind: kind, T: f.T, BetaStart: f.betaStart, BetaEnd: f.betaE, ZeroTerminalSNR: f.zeroTerminalSNR})
	if err != nil {
		return nil, flagError(err, map[string]string{"kind": kindFlag, "T": "T", "beta_start": "beta-start", "beta_end": "beta-end", "zero_terminal_snr": "zero-terminal-snr"})
	}
	return s, nil
}

func runSchedule(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("schedule", "schedule --kind "+kindList()+" --T N [--beta-start a --beta-end b] [--zero-terminal-snr] [--format json|csv|table]", stdout)
	var sf scheduleFlags
	sf.register(fs, "kind")
	format := fs.String("format", "json", "output format: json (an object of float64 arrays at full precision), csv or table")
	if done, code := parse(fs, args, stderr); done {
		return code
	}
	return finish("schedule", func() error {
		s, err := sf.schedule("kind")
		if err != nil {
			return err
		}
		switch *format {
		case "json":
			obj := map[string]any{"kind": s.Config.Kind, "T": s.T(), "zero_terminal_snr": s.Config.ZeroTerminalSNR}
			for _, c := range scheduleColumns {
				obj[c.name] = c.table(s)
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", " ")
			return enc.Encode(obj)
		case "csv":
			w := csv.NewWriter(stdout)
			head := []string{"t"}
			for _, c := range scheduleColumns {
				head = append(head, c.name)
			}
			w.Write(head)
			for t := 0; t < s.T(); t++ {
				row := []string{strconv.Itoa(t)}
				for _, c := range scheduleColumns {
					row = append(row, strconv.FormatFloat(c.table(s)[t], 'g', -1, 64))
				}
				w.Write(row)
			}
			w.Flush()
			return w.Error()
		case "table":
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "t\tbeta\talphas_cumprod\tsqrt(abar)\tsqrt(1-abar)\tSNR\tposterior_var\t")
			for t := 0; t < s.T(); t++ {
				fmt.Fprintf(tw, "%d\t%.6g\t%.6g\t%.6g\t%.6g\t%.6g\t%.6g\t\n", t, s.Betas[t], s.AlphasCumprod[t],
					s.SqrtAlphasCumprod[t], s.SqrtOneMinusAlphasCumprod[t], s.SNR[t], s.PosteriorVariance[t])
			}
			return tw.Flush()
		}
		return cmdline.Usagef("--format %q: want json, csv or table", *format)
	}(), stderr)
}

func runTimesteps(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("timesteps", "timesteps --spacing "+spacingList()+" --T N --steps S [--schedule KIND --zero-terminal-snr (for karras)]", stdout)
	spacing := fs.String("spacing", "leading", "spacing rule: "+spacingList())
	var sf scheduleFlags
	sf.register(fs, "schedule") // karras reads the schedule's noise levels
	steps := fs.Int("steps", 0, "number of sampling steps S, 1 <= S <= T (required)")
	if done, code := parse(fs, args, stderr); done {
		return code
	}
	return finish("timesteps", func() error {
		s, err := sf.schedule("schedule")
		if err != nil {
			return err
		}
		ts, err := s.Timesteps(diffusion.Spacing(*spacing), *steps)
		if err != nil {
			return flagError(err, map[string]string{"spacing": "spacing", "T": "T", "steps": "steps", "": "spacing"})
		}
		return json.NewEncoder(stdout).Encode(ts)
	}(), stderr)
}

func spacingList() string {
	var s []string
	for _, sp := range diffusion.Spacings {
		s = append(s, string(sp))
	}
	return strings.Join(s, "|")
}

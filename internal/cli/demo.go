package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"

	"github.com/difflab/difflab/internal/cmdline"
	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/difflab/difflab/pkg/experiment"
	"github.com/difflab/difflab/pkg/track"
)

func init() {
	register(command{"demo", "DDPM against DDIM on a 2-D mixture: exact denoiser vs a freshly trained MLP", runDemo})
}

// demo experiments: the exact denoiser and the trained MLP on one mixture.
var demoExperiments = []struct{ label, dir string }{
	{"exact", "experiments/ddim-table1-gmm"},
	{"learned", "experiments/ddim-table1-gmm-learned"},
}

func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("demo", "demo [--out DIR] [--db FILE|DSN] [--train-steps N] [--n N]", stdout)
	out := fs.String("out", "build/demo", "folder for the reports, plots and samples")
	sf := addStoreFlags(fs)
	steps := fs.Int("train-steps", 2000, "training steps of the MLP (about a minute at the default)")
	n := fs.Int("n", 2000, "samples per sampler")
	root := fs.String("root", ".", "the difflab repository (for its experiments/ folder)")
	if done, code := parse(fs, args, stderr); done {
		return code
	}
	return finish("demo", func() error {
		if *steps < 1 || *n < 2 {
			return cmdline.Usagef("--train-steps %d and --n %d: want >= 1 and >= 2", *steps, *n)
		}
		return withStore(sf, stderr, func(ctx context.Context, st *track.Store) error {
			return runDemoExperiments(ctx, st, *root, *out, *steps, *n, stdout, stderr)
		})
	}(), stderr)
}

// runDemoExperiments runs the exact and the learned experiment on the demo's grid
// and prints their table.
func runDemoExperiments(ctx context.Context, st *track.Store, root, out string, steps, n int, stdout, stderr io.Writer) error {
	results := map[string]*experiment.Results{}
	for _, e := range demoExperiments {
		cfg, err := experiment.Load(filepath.Join(root, e.dir))
		if err != nil {
			return err
		}
		// The demo's grid: DDPM (sigma-hat at S = T = 1000) and DDIM at S = 10 and
		// 50 with eta 0 and 1, one seed, one schedule.
		cfg.Name = "demo-" + e.label
		cfg.Seeds = []uint64{1}
		cfg.Schedules = []diffusion.ScheduleKind{diffusion.Linear}
		cfg.Grid.Etas = []float64{0, 1}
		cfg.Grid.Steps = []int{10, 50, 1000}
		cfg.Eval.N = n
		if tc := cfg.Model.Train; tc != nil {
			tc.Train.Steps = steps
			tc.Train.WarmupSteps = min(tc.Train.WarmupSteps, steps/10) // keep the warm-up a tenth of a short run
		}
		fmt.Fprintf(stderr, "== %s denoiser (%s)\n", e.label, cfg.Model.Kind)
		r := &experiment.Runner{Config: cfg, Store: st, OutDir: filepath.Join(out, e.label), Progress: stderr,
			Only: func(c experiment.Cell) bool { return (c.Row() == experiment.RowSigmaHat) == (c.Steps == 1000) }}
		res, err := r.Run(ctx)
		if err != nil {
			return err
		}
		results[e.label] = res
	}
	printDemoTable(stdout, results)
	fmt.Fprintf(stdout, "\nreports and scatter plots: %s/{exact,learned}/report.md, samples_linear.png\n", out)
	return nil
}

// printDemoTable prints one line per sampler with each metric for the exact and
// the learned denoiser side by side.
func printDemoTable(w io.Writer, results map[string]*experiment.Results) {
	type row struct {
		label, rowName string
		S              int
	}
	rows := []row{{"DDPM, 1000 steps", experiment.RowSigmaHat, 1000}}
	for _, S := range []int{10, 50} {
		for _, eta := range []string{"0", "1"} {
			rows = append(rows, row{fmt.Sprintf("DDIM, %d steps, eta=%s", S, eta), "eta=" + eta, S})
		}
	}
	metricsShown := []string{"energy", "swd", "mmd", "modes"}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "sampler\t")
	for _, m := range metricsShown {
		fmt.Fprintf(tw, "%s exact\t%s learned\t", m, m)
	}
	fmt.Fprintln(tw)
	value := func(res *experiment.Results, r row, m string) string {
		for _, c := range res.Cells {
			if c.Cell.Row() == r.rowName && c.Cell.Steps == r.S {
				return fmt.Sprintf("%.4g", c.Metrics[m])
			}
		}
		return "-"
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t", r.label)
		for _, m := range metricsShown {
			fmt.Fprintf(tw, "%s\t%s\t", value(results["exact"], r, m), value(results["learned"], r, m))
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprint(tw, "true vs true (floor)\t")
	for _, m := range metricsShown {
		fmt.Fprintf(tw, "%.4g\t%.4g\t", results["exact"].Floor[0][m], results["learned"].Floor[0][m])
	}
	fmt.Fprintln(tw)
	tw.Flush()
}

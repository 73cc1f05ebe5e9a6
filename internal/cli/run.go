package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/difflab/difflab/internal/cmdline"
	"github.com/difflab/difflab/pkg/experiment"
	"github.com/difflab/difflab/pkg/track"
)

func init() {
	register(command{"run", "run an experiment folder's sweep and write its Table-1 style report", runRun})
}

func runRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", "run EXPERIMENT_DIR [--db FILE] [--out DIR]", stdout)
	db := fs.String("db", "", cmdline.DBFlagUsage)
	out := fs.String("out", "", "run folder for the report, plots and samples (default runs/NAME)")
	dir, done, code := parseWithArg(fs, args, stderr)
	if done {
		return code
	}
	if dir == "" {
		fmt.Fprintln(stderr, "difflab run: missing EXPERIMENT_DIR, e.g. difflab run experiments/ddim-table1-gmm")
		return cmdline.ExitUsage
	}
	return finish("run", func() error {
		cfg, err := experiment.Load(dir)
		if err != nil {
			return cmdline.Usagef("%v", err)
		}
		return withStore(*db, func(ctx context.Context, st *track.Store) error {
			r := &experiment.Runner{Config: cfg, Store: st, OutDir: *out, Progress: stderr}
			if _, err := r.Run(ctx); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "report: %s\n", filepath.Join(r.OutDir, experiment.ReportFile))
			return nil
		})
	}(), stderr)
}

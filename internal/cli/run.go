package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/difflab/difflab/pkg/experiment"
	"github.com/difflab/difflab/pkg/track"
)

func init() {
	register(command{"run", "run an experiment folder's sweep and write its Table-1 style report", runRun})
}

// DefaultDB is the tracker database used when neither --db nor $DIFFLAB_DB is given.
const DefaultDB = "runs/difflab.db"

// dbPath resolves the tracker database: the flag, then $DIFFLAB_DB, then DefaultDB.
func dbPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := os.Getenv("DIFFLAB_DB"); v != "" {
		return v
	}
	return DefaultDB
}

func runRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", "run EXPERIMENT_DIR [--db FILE] [--out DIR]", stdout)
	db := fs.String("db", "", "tracker database (default $DIFFLAB_DB, else "+DefaultDB+")")
	out := fs.String("out", "", "run folder for the report, plots and samples (default runs/NAME)")
	dir, done, code := parseWithArg(fs, args, stderr)
	if done {
		return code
	}
	if dir == "" {
		fmt.Fprintln(stderr, "difflab run: missing EXPERIMENT_DIR, e.g. difflab run experiments/ddim-table1-gmm")
		return ExitUsage
	}
	return finish("run", func() error {
		cfg, err := experiment.Load(dir)
		if err != nil {
			return usagef("%v", err)
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

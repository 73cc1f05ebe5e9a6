package track

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"
)

// The helper-process pattern: tests re-run the test binary with helperEnv
// set to a helper name; TestMain then runs helperMain instead of the tests.
const helperEnv = "DIFFLAB_TRACK_HELPER"

// Environment of the helpers.
const (
	helperDB     = "DIFFLAB_TRACK_HELPER_DB"
	helperPoints = "DIFFLAB_TRACK_HELPER_POINTS"
	helperName   = "DIFFLAB_TRACK_HELPER_NAME"
)

func helperMain(name string) int {
	if err := runHelper(name); err != nil {
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", name, err)
		return 1
	}
	return 0
}

func runHelper(name string) error {
	st, err := Open(os.Getenv(helperDB))
	if err != nil {
		return err
	}
	defer st.Close()
	n, _ := strconv.Atoi(os.Getenv(helperPoints))
	switch name {
	case "writer":
		// Logs n points to its own run, starting and ending short runs
		// now and then so that run creation competes with the flushes.
		r, err := st.StartRun(RunOptions{Experiment: "concurrency", Name: os.Getenv(helperName), NoGit: true})
		if err != nil {
			return err
		}
		fmt.Println(r.ID())
		for i := 0; i < n; i++ {
			if err := r.LogMetric("loss", int64(i), float64(i)); err != nil {
				return err
			}
			if i%5000 == 0 {
				side, err := st.StartRun(RunOptions{Experiment: "side", Params: map[string]any{"i": i}, NoGit: true})
				if err != nil {
					return err
				}
				side.LogMetric("x", 0, 1)
				if err := side.End(nil); err != nil {
					return err
				}
			}
		}
		return r.End(nil)
	case "bench-writer":
		r, err := st.StartRun(RunOptions{Experiment: "bench", NoGit: true})
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			r.LogMetric("loss", int64(i), float64(i))
		}
		return r.End(nil)
	case "crasher":
		// Logs forever with small flushes until killed; prints its run id
		// and the number of points flushed so far after each flush.
		r, err := st.StartRun(RunOptions{Experiment: "crash", NoGit: true, FlushSize: 100, HeartbeatInterval: time.Hour})
		if err != nil {
			return err
		}
		fmt.Println(r.ID())
		for i := 0; ; i++ {
			r.LogMetric("loss", int64(i), float64(i))
			if i%100 == 99 {
				if err := r.Flush(); err != nil {
					return err
				}
				fmt.Println(i + 1)
			}
		}
	case "claimer":
		// Claims one task of the queue named by helperName, prints its name
		// and holds the lease until killed.
		q := st.Queue(os.Getenv(helperName))
		q.Lease = time.Hour
		l, err := q.Claim(context.Background())
		if err != nil {
			return err
		}
		fmt.Println(l.Task)
		select {}
	}
	return fmt.Errorf("unknown helper %q", name)
}

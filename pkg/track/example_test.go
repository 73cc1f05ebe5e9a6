package track_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/difflab/difflab/pkg/track"
)

func Example() {
	dir, _ := os.MkdirTemp("", "track-example")
	defer os.RemoveAll(dir)
	st, err := track.Open(filepath.Join(dir, "difflab.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()

	for _, eta := range []float64{0, 0.5, 1} {
		run, err := st.StartRun(track.RunOptions{
			Experiment: "ddim-sweep",
			Name:       fmt.Sprintf("eta=%g", eta),
			Params:     map[string]any{"eta": eta, "steps": 10},
			NoGit:      true,
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		for step := int64(0); step < 100; step++ {
			run.LogMetric("loss", step, 1/float64(step+1))
		}
		run.LogMetric("fid", 100, 5+10*eta)
		if err := run.End(nil); err != nil {
			fmt.Println(err)
			return
		}
	}

	runs, err := st.Runs(track.Query{Experiment: "ddim-sweep", Filter: "metrics.fid < 12", OrderBy: "-metrics.fid"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range runs {
		fmt.Printf("%s %s eta=%v fid=%v loss=%v\n", r.Name, r.Status, r.Params["eta"], r.Metrics["fid"], r.Metrics["loss"])
	}
	// Output:
	// eta=0.5 finished eta=0.5 fid=10 loss=0.01
	// eta=0 finished eta=0 fid=5 loss=0.01
}

func ExampleDisabled() {
	run := track.Disabled() // for dry runs: every call does nothing
	run.LogMetric("loss", 0, 1)
	fmt.Println(run.End(nil), run.ID() == "")
	// Output: <nil> true
}

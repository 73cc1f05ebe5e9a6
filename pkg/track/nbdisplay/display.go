package nbdisplay

import (
	"github.com/difflab/difflab/pkg/track"
	"github.com/janpfeifer/gonb/gonbui"
)

// DisplayRuns shows RunsHTML(runs, columns...) in the current GoNB cell.
// Outside a notebook it does nothing.
func DisplayRuns(runs []track.RunInfo, columns ...string) {
	if !gonbui.IsNotebook {
		return
	}
	gonbui.DisplayHTML(RunsHTML(runs, columns...))
}

// DisplayMetric shows MetricChart(st, key, ChartOptions{}, runIDs...) in the
// current GoNB cell and returns its error. Outside a notebook it renders
// nothing and returns nil.
func DisplayMetric(st *track.Store, key string, runIDs ...string) error {
	return DisplayMetricWith(st, key, ChartOptions{}, runIDs...)
}

// DisplayMetricWith is DisplayMetric with chart options.
func DisplayMetricWith(st *track.Store, key string, opts ChartOptions, runIDs ...string) error {
	if !gonbui.IsNotebook {
		return nil
	}
	png, err := MetricChart(st, key, opts, runIDs...)
	if err != nil {
		return err
	}
	gonbui.DisplayPNG(png)
	return nil
}

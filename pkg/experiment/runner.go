package experiment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/difflab/difflab/pkg/backend"
	"github.com/difflab/difflab/pkg/data"
	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/difflab/difflab/pkg/features"
	"github.com/difflab/difflab/pkg/gmm"
	"github.com/difflab/difflab/pkg/metrics"
	"github.com/difflab/difflab/pkg/pipeline"
	"github.com/difflab/difflab/pkg/progress"
	"github.com/difflab/difflab/pkg/track"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
)

// Runner runs an experiment's grid.
type Runner struct {
	Config *Config
	// Store receives one run per cell and seed, and the report. Required.
	Store *track.Store
	// OutDir is the run folder for the report, plots and cell samples.
	// Default Config.RunFolder().
	OutDir string
	// Progress receives one line per cell with cells done and time left (nil: silent).
	Progress io.Writer
	// Backend runs the graphs; nil means backend.New().
	Backend      compute.Backend
	testSet      *data.Dataset          // image datasets' test split, loaded once
	truthSampler data.Sampler           // the true distribution of 2-D data, loaded once
	truthGMM     *gmm.Mixture           // the same when it is a Gaussian mixture
	cls          *features.Classifier   // the image metrics' feature extractor
	odeRef       map[odeKey][][]float64 // fine ODE solutions for ode_error, by schedule and seed

	// Only, when set, keeps the cells of the grid for which it returns true, for
	// programs that need a part of a grid (the demo); nil keeps them all.
	Only func(Cell) bool

	// Worker makes Run one of any number of processes, on any machines, that
	// share the grid through the tracker database (see Runner.Queue): each
	// claims a cell no other holds, runs it and records it, until none is
	// left; the one that claims the report, once every cell is done, writes it.
	Worker bool
	// Lease is how long a worker's claim on a cell lasts without renewal: a
	// worker that dies loses its cell to another one at most this long after
	// (at once when both are on the same host). Default track.DefaultLease.
	Lease time.Duration
}

// CellResult is the outcome of one cell and seed.
type CellResult struct {
	Cell    Cell               `json:"cell"`
	Metrics map[string]float64 `json:"metrics"`
	// Seconds is the sampling wall time of the cell (not the evaluation).
	Seconds float64 `json:"seconds"`
	RunID   string  `json:"run_id"`
	// Extractor is the hash of the feature classifier the cell's image metrics
	// were measured with ("" for 2-D data).
	Extractor string `json:"extractor,omitempty"`
	Resumed   bool   `json:"-"`
}

// Results are every cell's results, in Config.Cells order.
type Results struct {
	Config *Config
	Cells  []CellResult
	// Floor holds, per seed, each metric between two independent samples of the
	// true distribution of the same size: the value a perfect sampler gets, i.e.
	// the noise level of the table.
	Floor []map[string]float64
	// VLB holds, per schedule, the bound on the negative log-likelihood in bits/dim
	// (eval.vlb_n > 0 only): "total", "prior", "kl" and "decoder".
	VLB map[diffusion.ScheduleKind]map[string]float64
	// Backend describes the backend that ran the cells, for the report.
	Backend string
	// Extractor and ExtractorAccuracy are the hash and the test accuracy of the
	// feature classifier of the floor, for image data: the report names it, and
	// the cells measured with another one.
	Extractor         string
	ExtractorAccuracy float64
	// ReportPath is the report this Run wrote; "" for a worker that left it
	// to another (see Runner.Worker).
	ReportPath string
}

// Run evaluates every cell that the tracker does not already hold as finished for
// the same evaluation settings (so an interrupted run resumes where it stopped),
// then writes the report. Cancelling ctx stops between cells.
func (r *Runner) Run(ctx context.Context) (*Results, error) {
	c := r.Config
	if r.Store == nil {
		return nil, errors.New("experiment: Runner.Store is nil")
	}
	if r.OutDir == "" {
		r.OutDir = c.RunFolder()
	}
	if err := os.MkdirAll(filepath.Join(r.OutDir, "cells"), 0o755); err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	if r.Backend == nil {
		b, err := backend.New()
		if err != nil {
			return nil, err
		}
		r.Backend = b
	}
	if err := c.pinCheckpoint(); err != nil {
		return nil, err
	}
	done, err := r.finishedCells()
	if err != nil {
		return nil, err
	}
	cells := r.cells()
	if r.Worker {
		return r.work(ctx, cells, done)
	}
	res := &Results{Config: c, Backend: backend.Description()}
	models := map[diffusion.ScheduleKind]diffusion.Denoiser{}
	scheds := map[diffusion.ScheduleKind]*diffusion.Schedule{}
	start := time.Now()
	ran := 0
	var cellWall time.Duration
	var costDone, costLeft float64
	for _, cell := range cells {
		if _, ok := done[cell.Key()]; !ok {
			costLeft += c.cellCost(cell)
		}
	}
	for i, cell := range cells {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if prev, ok := done[cell.Key()]; ok {
			prev.Resumed = true
			res.Cells = append(res.Cells, prev)
			continue
		}
		s, den, err := r.denoiser(ctx, cell.Schedule, scheds, models)
		if err != nil {
			return res, err
		}
		cellStart := time.Now()
		cr, err := r.runCell(cell, s, den, nil)
		if err != nil {
			return res, fmt.Errorf("experiment %s, cell %s: %w", c.Name, cell.Key(), err)
		}
		res.Cells = append(res.Cells, cr)
		ran++
		cellWall += time.Since(cellStart)
		cost := c.cellCost(cell)
		costDone, costLeft = costDone+cost, costLeft-cost
		if r.Progress != nil {
			el := time.Since(start)
			// Time left: the wall time per denoiser call of the cells so far (training
			// excluded) times the calls of the cells to come.
			left := progress.Left(costDone, costDone+costLeft, cellWall)
			fmt.Fprintf(r.Progress, "[%d/%d] %-58s %s=%.4g  %.1fs  (elapsed %s, ~%s left)\n", i+1, len(cells), cell.Key(),
				c.Eval.Primary, cr.Metrics[c.Eval.Primary], cr.Seconds, progress.FormatDuration(el), progress.FormatDuration(left))
		}
	}
	if r.Progress != nil && ran < len(cells) {
		fmt.Fprintf(r.Progress, "%d of %d cells were already finished and were reused\n", len(cells)-ran, len(cells))
	}
	return res, r.report(ctx, res, scheds, models, nil)
}

// RunFolder is the default run folder of the experiment, relative to the
// working directory: runs/NAME.
func (c *Config) RunFolder() string { return filepath.Join("runs", c.Name) }

// cells are the grid's cells that Only keeps, in Config.Cells order.
func (r *Runner) cells() []Cell {
	var cells []Cell
	for _, cell := range r.Config.Cells() {
		if r.Only == nil || r.Only(cell) {
			cells = append(cells, cell)
		}
	}
	return cells
}

// denoiser returns the schedule and the denoiser of a schedule kind, made (or
// trained) the first time and kept in scheds and models.
func (r *Runner) denoiser(ctx context.Context, kind diffusion.ScheduleKind, scheds map[diffusion.ScheduleKind]*diffusion.Schedule, models map[diffusion.ScheduleKind]diffusion.Denoiser) (*diffusion.Schedule, diffusion.Denoiser, error) {
	s, ok := scheds[kind]
	if !ok {
		var err error
		if s, err = diffusion.NewSchedule(r.Config.ScheduleConfig(kind)); err != nil {
			return nil, diffusion.Denoiser{}, err
		}
		scheds[kind] = s
	}
	den, ok := models[kind]
	if !ok {
		var err error
		if den, err = r.model(ctx, s); err != nil {
			return nil, diffusion.Denoiser{}, err
		}
		models[kind] = den
	}
	return s, den, nil
}

// report completes res with the schedules' VLB and the floor, and writes the
// report; with a lease, the report's run finishes the lease's task.
func (r *Runner) report(ctx context.Context, res *Results, scheds map[diffusion.ScheduleKind]*diffusion.Schedule, models map[diffusion.ScheduleKind]diffusion.Denoiser, lease *track.Lease) error {
	c := r.Config
	if c.Eval.VLBN > 0 {
		res.VLB = map[diffusion.ScheduleKind]map[string]float64{}
		for _, sched := range c.Schedules {
			v, err := r.scheduleVLB(ctx, sched, models, scheds)
			if err != nil {
				return err
			}
			res.VLB[sched] = v
		}
	}
	for _, seed := range c.Seeds {
		if c.Mode == ModeInversion {
			break
		}
		f, err := r.floor(seed)
		if err != nil {
			return err
		}
		res.Floor = append(res.Floor, f)
	}
	if r.cls != nil {
		res.Extractor, res.ExtractorAccuracy = r.cls.Hash(), r.cls.TestAccuracy
	}
	return r.writeReport(res, lease)
}

// scheduleVLB computes (or reads back from the tracker) the schedule's VLB.
func (r *Runner) scheduleVLB(ctx context.Context, sched diffusion.ScheduleKind, models map[diffusion.ScheduleKind]diffusion.Denoiser, scheds map[diffusion.ScheduleKind]*diffusion.Schedule) (map[string]float64, error) {
	c := r.Config
	runs, err := r.Store.Runs(track.Query{Experiment: c.Name, Filter: fmt.Sprintf("tags.kind = \"vlb\" and tags.schedule = %q and tags.eval_hash = %q and status = \"finished\"", sched, c.evalHash())})
	if err != nil {
		return nil, err
	}
	if len(runs) > 0 {
		out := map[string]float64{}
		for _, k := range []string{"total", "prior", "kl", "decoder"} {
			out[k] = runs[0].Metrics["vlb/"+k]
		}
		return out, nil
	}
	s := scheds[sched]
	if s == nil {
		if s, err = diffusion.NewSchedule(c.ScheduleConfig(sched)); err != nil {
			return nil, err
		}
	}
	den, ok := models[sched]
	if !ok {
		if den, err = r.model(ctx, s); err != nil {
			return nil, err
		}
	}
	if r.Progress != nil {
		fmt.Fprintf(r.Progress, "variational bound of %s on %d test images (%d forward passes)...\n", sched, c.Eval.VLBN, s.T())
	}
	v, err := r.vlb(s, den, c.Seeds[0])
	if err != nil {
		return nil, err
	}
	out := map[string]float64{"total": v.Total, "prior": v.Prior, "kl": v.KL(), "decoder": v.Terms[0]}
	run, err := r.Store.StartRun(track.RunOptions{Experiment: c.Name, Name: "vlb " + string(sched), ConfigHash: c.Hash(), Backend: backend.Description(),
		Tags:   map[string]string{"kind": "vlb", "schedule": string(sched), "eval_hash": c.evalHash()},
		Params: track.Params{"vlb_n": c.Eval.VLBN, "variance": string(v.Variance), "T": v.T, "seed": int64(c.Seeds[0])}})
	if err != nil {
		return nil, err
	}
	for k, val := range out {
		run.LogMetric("vlb/"+k, 0, val)
	}
	for t, val := range v.Terms {
		run.LogMetric("vlb/term", int64(t), val)
	}
	return out, run.End(nil)
}

// cellCost is the number of denoiser calls of a cell (S; twice that to encode and
// decode in inversion mode) plus one for its evaluation: the weight of the cell in
// the progress line's estimate of the time left.
func (c *Config) cellCost(cell Cell) float64 {
	steps := cell.Steps
	if c.Mode == ModeInversion {
		steps *= 2
	}
	return float64(steps + 1)
}

// evalHash identifies what makes two evaluations of one cell comparable: the data,
// the model, T, the number of samples, the metrics and clipping. It leaves out the
// grid itself, so growing the grid reuses finished cells.
func (c *Config) evalHash() string {
	cc := *c
	cc.Grid = GridConfig{ClipX0: c.Grid.ClipX0, EqualNFE: c.Grid.EqualNFE} // equal_nfe changes what a column's cell runs
	cc.Seeds, cc.Schedules, cc.Description, cc.Report = nil, nil, "", ReportConfig{}
	cc.Eval.Primary = ""
	return cc.Hash() + "-m" + metrics.Version
}

func (r *Runner) finishedCells() (map[string]CellResult, error) {
	runs, err := r.Store.Runs(track.Query{Experiment: r.Config.Name, Filter: fmt.Sprintf("tags.eval_hash = %q and status = \"finished\"", r.Config.evalHash())})
	if err != nil {
		return nil, fmt.Errorf("experiment: reading finished cells: %w", err)
	}
	out := map[string]CellResult{}
	for _, ri := range runs {
		var cell Cell
		if err := json.Unmarshal([]byte(ri.Tags["cell_json"]), &cell); err != nil {
			continue
		}
		if _, dup := out[cell.Key()]; dup {
			continue // newest first: keep the latest
		}
		m := map[string]float64{}
		for k, v := range ri.Metrics {
			m[k] = v
		}
		extractor, _ := ri.Params["extractor"].(string)
		out[cell.Key()] = CellResult{Cell: cell, Metrics: m, Seconds: m["time/sample_s"], RunID: ri.ID, Extractor: extractor}
	}
	return out, nil
}

func (r *Runner) model(ctx context.Context, s *diffusion.Schedule) (diffusion.Denoiser, error) {
	c := r.Config
	if c.Model.Kind == ModelOracle {
		g, err := gmm.Load(c.Path(c.Data.GMM))
		if err != nil {
			return diffusion.Denoiser{}, err
		}
		if s.Config.ZeroTerminalSNR {
			return diffusion.ExactX0Denoiser(g, s), nil // defined at abar = 0
		}
		return diffusion.ExactDenoiser(g, s), nil
	}
	if c.Model.Kind == ModelCheckpoint {
		if err := c.pinCheckpoint(); err != nil {
			return diffusion.Denoiser{}, err
		}
		l, err := pipeline.LoadCheckpoint(c.Model.pinned, false)
		if err != nil {
			return diffusion.Denoiser{}, err
		}
		if l.Schedule.Config.Kind != s.Config.Kind || l.Schedule.T() != s.T() || l.Schedule.Config.ZeroTerminalSNR != s.Config.ZeroTerminalSNR {
			return diffusion.Denoiser{}, fmt.Errorf("experiment: field model.checkpoint was trained with schedule %s, T = %d, zero terminal SNR %v, but the experiment asks for %s, T = %d, zero terminal SNR %v",
				l.Schedule.Config.Kind, l.Schedule.T(), l.Schedule.Config.ZeroTerminalSNR, s.Config.Kind, s.T(), s.Config.ZeroTerminalSNR)
		}
		return l.Denoiser, nil
	}
	rec, err := c.Recipe(s.Config.Kind)
	if err != nil {
		return diffusion.Denoiser{}, err
	}
	res, err := pipeline.Train(ctx, rec, pipeline.TrainOptions{Store: r.Store, Experiment: c.Name,
		RunName: "train " + string(s.Config.Kind), Progress: r.Progress, Backend: r.Backend})
	if err != nil {
		return diffusion.Denoiser{}, err
	}
	l, err := pipeline.LoadCheckpoint(res.Checkpoint, false)
	if err != nil {
		return diffusion.Denoiser{}, err
	}
	return l.Denoiser, nil
}

// Recipe is the training recipe of model.kind = "train" for one schedule:
// ModelConfig.Train with the experiment's data, the schedule and T. Its hash names
// the checkpoint folder, so a model trained once is reused by every later run with
// the same recipe. The recipe is validated; errors name the field.
func (c *Config) Recipe(schedule diffusion.ScheduleKind) (*pipeline.Recipe, error) {
	if c.Model.Train == nil {
		return nil, errors.New("experiment: field model.train is empty: model.kind = \"train\" needs training settings")
	}
	r := *c.Model.Train
	r.Data.Name, r.Data.DataDir, r.Data.N = c.Data.Name, c.Data.DataDir, c.Data.TrainN
	if c.Data.GMM != "" {
		abs, err := filepath.Abs(c.Path(c.Data.GMM))
		if err != nil {
			return nil, err
		}
		r.Data.GMM = abs
	}
	r.Schedule = c.ScheduleConfig(schedule)
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("experiment: field model.train: %w", err)
	}
	return &r, nil
}

// truth returns a sampler of the true distribution.
// It is read once and kept; the GMM is nil for other data.
func (r *Runner) truth() (data.Sampler, *gmm.Mixture, error) {
	if r.truthSampler != nil {
		return r.truthSampler, r.truthGMM, nil
	}
	c := r.Config
	if c.Data.Name == "gmm" {
		g, err := gmm.Load(c.Path(c.Data.GMM))
		if err != nil {
			return nil, nil, err
		}
		r.truthSampler, r.truthGMM = g, g
		return g, g, nil
	}
	s, err := data.NewSampler(c.Data.Name, data.Options{GMMPath: c.Path(c.Data.GMM), DataDir: c.Data.DataDir})
	if err != nil {
		return nil, nil, err
	}
	r.truthSampler = s
	return s, nil, nil
}

// Streams of the per-cell randomness, so that the sampler's noise, the reference
// sample and the metrics' projections never share a stream.
const (
	streamReference = 0x7265666572656e63 // "referenc"
	streamFloor     = 0x666c6f6f72666c72 // "floorflr"
	streamVLB       = 0x766c62766c62766c // "vlbvlbvl"
)

// floor evaluates the metrics on a second fresh sample of the true distribution
// against the same reference sample the cells of this seed use.
func (r *Runner) floor(seed uint64) (map[string]float64, error) {
	if r.Config.isImage() {
		return r.imageFloor(seed)
	}
	truth, mix, err := r.truth()
	if err != nil {
		return nil, err
	}
	n := r.Config.Eval.N
	ref := truth.Sample(n, newRand(seed, streamReference))
	x := truth.Sample(n, newRand(seed, streamFloor))
	var names []string // a true sample has no ODE solution to be compared with
	for _, name := range r.Config.Eval.Metrics {
		if m, _ := metrics.Lookup(name); m.Domain != metrics.Solutions {
			names = append(names, name)
		}
	}
	res, err := metrics.Evaluate(names, metrics.Input{X: x, Ref: ref, GMM: mix, Seed: seed})
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, m := range res {
		out[m.Name] = m.Value
	}
	return out, nil
}

// odeKey identifies a fine ODE solution: the schedule, the seed of x_T and
// the timestep it starts from.
type odeKey struct {
	schedule diffusion.ScheduleKind
	seed     uint64
	start    int
}

// odeSolution returns, for ode_error, where a fine solution of the
// probability-flow ODE takes the cell's x_T: Heun (Karras et al. 2022,
// Algorithm 1) over every timestep from the cell's first (noisiest) one down
// to 0 (in float64 for the exact denoiser), from the same eval.n draws of the cell's seed that the
// cell's deterministic sampler starts from. It is computed once per schedule,
// seed and first timestep.
func (r *Runner) odeSolution(cell Cell, sm0 *diffusion.Sampler, den diffusion.Denoiser, dim int) ([][]float64, error) {
	ts := sm0.Timesteps()
	k := odeKey{cell.Schedule, cell.Seed, ts[len(ts)-1]}
	if ref, ok := r.odeRef[k]; ok {
		return ref, nil
	}
	n := r.Config.Eval.N
	// The schedule cut after the first timestep: the same abar_t for t <= start,
	// so the denoiser is queried as in the full one.
	s := sm0.Schedule
	if k.start < s.T()-1 {
		var err error
		if s, err = diffusion.NewSchedule(diffusion.ScheduleConfig{Kind: diffusion.Custom, Betas: s.Betas[:k.start+1]}); err != nil {
			return nil, err
		}
	}
	sm, err := diffusion.NewSampler(r.Backend, s, den, diffusion.SamplerConfig{Kind: diffusion.Heun, Steps: s.T(), Spacing: diffusion.Linspace})
	if err != nil {
		return nil, err
	}
	if den.Store == nil { // the exact denoiser; a trained model's weights are float32
		sm.DType = dtypes.Float64
	}
	out, err := sm.Sample([]int{n, dim}, nil, diffusion.NewPCGNoise(cell.Seed), diffusion.SampleOptions{})
	if err != nil {
		return nil, fmt.Errorf("the fine ODE solution: %w", err)
	}
	if r.odeRef == nil {
		r.odeRef = map[odeKey][][]float64{}
	}
	r.odeRef[k] = rows(out.X0, dim)
	return r.odeRef[k], nil
}

// runCell samples and evaluates a cell and records it (see logCell).
func (r *Runner) runCell(cell Cell, s *diffusion.Schedule, den diffusion.Denoiser, lease *track.Lease) (CellResult, error) {
	c := r.Config
	sm, err := diffusion.NewSampler(r.Backend, s, den, cell.SamplerConfig(*c.Grid.ClipX0, c.Grid.EqualNFE))
	if err != nil {
		return CellResult{}, err
	}
	if c.isImage() {
		vals, params, secs, err := r.imageCell(cell, sm)
		if err != nil {
			return CellResult{}, err
		}
		vals["time/sample_s"] = secs
		vals["time/steps_per_s"] = float64(cell.Steps) * float64(c.Eval.N) / secs
		return r.logCell(cell, vals, params, nil, lease)
	}
	truth, mix, err := r.truth()
	if err != nil {
		return CellResult{}, err
	}
	dim := truth.Dim()
	n := c.Eval.N
	bs := c.Eval.BatchSize
	if bs == 0 || bs > n {
		bs = n
	}
	noise := diffusion.NewPCGNoise(cell.Seed)
	ref := truth.Sample(n, newRand(cell.Seed, streamReference))
	t0 := time.Now()
	var flat, latent []float64
	for done := 0; done < n; done += bs {
		b := min(bs, n-done)
		var xT []float64
		if c.Mode == ModeInversion {
			for _, p := range ref[done : done+b] {
				xT = append(xT, p...)
			}
			if xT, err = sm.Invert([]int{b, dim}, xT); err != nil {
				return CellResult{}, err
			}
			latent = append(latent, xT...)
		}
		out, err := sm.Sample([]int{b, dim}, xT, noise, diffusion.SampleOptions{})
		if err != nil {
			return CellResult{}, err
		}
		flat = append(flat, out.X0...)
	}
	secs := time.Since(t0).Seconds()
	x := rows(flat, dim)
	in := metrics.Input{X: x, Ref: ref, GMM: mix, Latent: latent, Seed: cell.Seed}
	if slices.Contains(c.Eval.Metrics, "ode_error") {
		if in.ODE, err = r.odeSolution(cell, sm, den, dim); err != nil {
			return CellResult{}, err
		}
	}
	results, err := metrics.Evaluate(c.Eval.Metrics, in)
	if err != nil {
		return CellResult{}, err
	}

	params := track.Params{}
	vals := map[string]float64{"time/sample_s": secs, "time/steps_per_s": float64(cell.Steps*((n+bs-1)/bs)) / secs, "nfe": float64(sm.NFE())}
	for _, m := range results {
		vals[m.Name] = m.Value
		for k, v := range m.Params {
			params[m.Name+"."+k] = v
		}
		params[m.Name+".ref_n"] = m.M
		params[m.Name+".seed"] = int64(m.Seed)
		for k, v := range m.Parts {
			vals[m.Name+"/"+k] = v
		}
	}
	samples, _ := json.Marshal(cellSamples{x})
	return r.logCell(cell, vals, params, samples, lease)
}

// logCell records a cell as a tracker run: the cell's coordinates and the metrics'
// settings as params, the values as metrics, and the samples (JSON, for 2-D data)
// or the picture of the first samples (images) as an artifact. With a lease, the
// run's end finishes the lease's task in the same transaction.
func (r *Runner) logCell(cell Cell, vals map[string]float64, params track.Params, samples []byte, lease *track.Lease) (CellResult, error) {
	c := r.Config
	coords := track.Params{
		"schedule": string(cell.Schedule), "spacing": string(cell.Spacing), "sampler": string(cell.Sampler), "eta": cell.Eta,
		"steps": cell.Steps, "seed": int64(cell.Seed), "T": c.T, "eval_n": c.Eval.N, "data": c.Data.Name,
		"model": string(c.Model.Kind), "clip_x0": *c.Grid.ClipX0, "metrics_version": metrics.Version, "mode": string(c.Mode),
	}
	maps.Copy(params, coords)
	if cell.Sampler == diffusion.DDPMStrided {
		params["variance"] = string(diffusion.FixedLarge)
	}
	if c.Model.pinned != "" {
		params["checkpoint"], params["checkpoint_step"], params["checkpoint_weights"] = c.Model.pinned, c.Model.pinnedStep, c.Model.weights
	}
	cellJSON, _ := json.Marshal(cell)
	seed := int64(cell.Seed)
	run, err := r.Store.StartRun(track.RunOptions{
		Experiment: c.Name, Name: cell.Key(), Params: params, Seed: &seed, ConfigHash: c.Hash(),
		Backend: backend.Description(),
		Tags: map[string]string{"row": cell.Row(), "eval_hash": c.evalHash(), "cell_json": string(cellJSON),
			"schedule": string(cell.Schedule), "model": string(c.Model.Kind)},
	})
	if err != nil {
		return CellResult{}, err
	}
	run.LogMetrics(0, vals)
	if samples != nil {
		if err := os.WriteFile(r.cellFile(cell), samples, 0o644); err != nil {
			run.End(err)
			return CellResult{}, err
		}
		run.LogArtifact("samples.json", bytes.NewReader(samples))
	} else if err := run.LogArtifactFile(r.cellPicture(cell)); err != nil {
		run.End(err)
		return CellResult{}, err
	}
	if lease != nil {
		err = lease.Finish(run)
	} else {
		err = run.End(nil)
	}
	if err != nil {
		return CellResult{}, err
	}
	extractor, _ := params["extractor"].(string)
	return CellResult{Cell: cell, Metrics: vals, Seconds: vals["time/sample_s"], RunID: run.ID(), Extractor: extractor}, nil
}

// Goals are the tracker's goals of the metrics that cells log, from the metrics
// registry: track.Maximize where higher is better, track.Minimize otherwise (the
// tracker's default). Pass them to Store.CompareWith.
func Goals() map[string]track.Goal {
	goals := map[string]track.Goal{}
	for _, m := range metrics.All() {
		if m.Direction == metrics.HigherIsBetter {
			goals[m.Name] = track.Maximize
		}
	}
	return goals
}

func (r *Runner) cellFile(cell Cell) string {
	name := strings.NewReplacer(" ", "_", "=", "-").Replace(cell.Key())
	return filepath.Join(r.OutDir, "cells", name+".json")
}

// cellSamples is the JSON of a 2-D cell's samples, one point per row.
type cellSamples struct {
	Samples [][]float64 `json:"samples"`
}

// loadCellSamples reads a cell's samples back for the report ("" if missing).
func (r *Runner) loadCellSamples(cell Cell) [][]float64 {
	b, err := os.ReadFile(r.cellFile(cell))
	if err != nil {
		return nil
	}
	var v cellSamples
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	return v.Samples
}

func rows(flat []float64, dim int) [][]float64 {
	out := make([][]float64, len(flat)/dim)
	for i := range out {
		out[i] = flat[i*dim : (i+1)*dim]
	}
	return out
}

func newRand(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }

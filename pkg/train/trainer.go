package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive // graph-building code reads like the maths
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// A BatchSource gives the training examples. The lead's data.Loader fits through SourceOf.
type BatchSource interface {
	// Next returns the next batch: Config.BatchSize examples of the trainer's
	// per-example shape, row-major, one after the other. The trainer does not keep
	// the slice after the call.
	Next() ([]float32, error)
	// State returns where the source stands as JSON; it is saved with every checkpoint.
	State() ([]byte, error)
	// Restore moves a new source to a state returned by State, so that it returns
	// the same batches as the source that wrote it.
	Restore(state []byte) error
}

// SourceOf adapts a loader whose state is any JSON-serialisable value S (for
// example data.Loader: SourceOf(func() []float32 { return l.Next().X }, l.State, l.Restore)).
func SourceOf[S any](next func() []float32, state func() S, restore func(S) error) BatchSource {
	return &funcSource[S]{next, state, restore}
}

type funcSource[S any] struct {
	next    func() []float32
	state   func() S
	restore func(S) error
}

func (s *funcSource[S]) Next() ([]float32, error) { return s.next(), nil }
func (s *funcSource[S]) State() ([]byte, error)   { return json.Marshal(s.state()) }
func (s *funcSource[S]) Restore(b []byte) error {
	var st S
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("train: decoding data state: %w", err)
	}
	return s.restore(st)
}

// A Logger records a run; pkg/track's Run satisfies it. A nil Logger logs nothing.
type Logger interface {
	LogParam(key string, value any) error
	LogMetric(key string, step int64, value float64) error
	LogArtifact(name string, r io.Reader) error
}

// A Hook is called by Run after update step (1-based) with the trainer, whose
// weights are those after that update. A non-nil error stops Run.
type Hook func(step int, tr *Trainer) error

// stateScope holds the trainer's variables in the model store: Adam's moments and
// the EMA of each trainable variable, at stateScope/{adam_m,adam_v,ema}/<variable path>.
const stateScope = "/difflab_train"

// pcgStream is the second seed word of the trainer's PCG source (the ASCII of "difflab").
const pcgStream = 0x646966666c6162

// Trainer trains a diffusion.Denoiser with the simplified DDPM objective.
//
// # Why a hand-written step
//
// The update is one GoMLX graph built here (not ml/train.Trainer): forward noising,
// loss, graph.Gradient, global-norm clipping, AdamW and the EMA all happen in the
// same compiled step, and every quantity that depends on the step number (learning
// rate, Adam's bias corrections, EMA decay) is computed in float64 on the Go side and
// fed as a scalar. This gives exact control over the EMA and clipping, keeps the
// compiled graph independent of the schedule, lets the step skip the update when
// the loss is not finite, and makes resume exact: the whole state is the variables
// plus a few Go values that the checkpoint holds.
//
// # Randomness
//
// The timesteps and the noise are drawn on the Go side from a PCG source seeded with
// (Config.Seed, pcgStream) through math/rand/v2: for each update, first t_b =
// IntN(T) for b = 0..B-1, then eps_i = NormFloat64() for every element of the batch
// in row-major order, rounded to float32. The source's state is saved in each
// checkpoint, so a resumed run draws the same numbers, on any backend. The model
// store's own RNG (GoMLX's "#rngState" variable, used by initialisers and dropout)
// is a store variable and is checkpointed with the weights.
//
// A Trainer is not safe for concurrent use.
type Trainer struct {
	cfg      Config
	backend  compute.Backend
	sched    *diffusion.Schedule
	den      diffusion.Denoiser
	store    *model.Store
	src      BatchSource
	xShape   []int
	exSize   int
	weights  []float64 // min-SNR weights per timestep, nil when off
	adamHyp  adamWHyper
	exec     *model.Exec
	pcg      *rand.PCG
	rng      *rand.Rand
	metadata map[string]json.RawMessage

	modelVars []*model.Variable // every model variable in creation order (not the trainer's own)
	trainable []*model.Variable // the trainable subset of modelVars
	adamM     []*model.Variable // Adam's first moment of trainable[i]
	adamV     []*model.Variable // Adam's second moment of trainable[i]
	ema       []*model.Variable // EMA of trainable[i]

	step           int
	loss, gradNorm float64
	lastCheckpoint string
	lastSavedStep  int
	cleanedTemp    bool

	hooks       []hookEntry
	sampleHooks []Hook
	progressFns []func(Progress)
	logger      Logger // the Logger given to the current Run
}

type hookEntry struct {
	every int
	h     Hook
}

// New returns a trainer of den on batches from src, whose examples have shape xShape
// (without the batch axis), e.g. {2} or {28, 28, 1}.
//
// It builds den.Fn once on a batch of one zero example to create and initialise
// the model's variables (setting the store's param model.ParamInitialSeed to
// cfg.Seed first when the store has neither that param nor an RNG state), checks that the output has the input's shape, and creates the optimiser
// and EMA variables (Adam moments at zero, EMA equal to the initial weights) under
// "/difflab_train" in den.Store. It returns an error if cfg is invalid, den has no
// Store or Fn, or the model fails to build.
func New(backend compute.Backend, sched *diffusion.Schedule, den diffusion.Denoiser, cfg Config, src BatchSource, xShape []int) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case backend == nil:
		return nil, errors.New("train.New: backend is nil")
	case sched == nil:
		return nil, errors.New("train.New: schedule is nil")
	case den.Store == nil || den.Fn == nil:
		return nil, errors.New("train.New: the denoiser needs a Store and an Fn")
	case src == nil:
		return nil, errors.New("train.New: batch source is nil")
	case !slices.Contains(diffusion.Predictions, den.Prediction):
		return nil, fmt.Errorf("train.New: unknown prediction type %q", den.Prediction)
	case len(xShape) == 0:
		return nil, errors.New("train.New: xShape is empty, want the per-example shape, e.g. {2}")
	}
	exSize := 1
	for _, d := range xShape {
		if d < 1 {
			return nil, fmt.Errorf("train.New: xShape = %v, want every dimension >= 1", xShape)
		}
		exSize *= d
	}
	tr := &Trainer{
		cfg: cfg, backend: backend, sched: sched, den: den, store: den.Store, src: src,
		xShape: slices.Clone(xShape), exSize: exSize,
		adamHyp:  adamWHyper{cfg.AdamBeta1, cfg.AdamBeta2, cfg.AdamEpsilon, cfg.WeightDecay},
		metadata: map[string]json.RawMessage{},
	}
	if cfg.MinSNRGamma > 0 {
		tr.weights = MinSNRWeights(sched, den.Prediction, cfg.MinSNRGamma)
	}
	tr.pcg = rand.NewPCG(cfg.Seed, pcgStream)
	tr.rng = rand.New(tr.pcg)
	if err := exceptions.TryCatch[error](tr.buildVariables); err != nil {
		return nil, fmt.Errorf("train.New: %w", err)
	}
	exec, err := model.NewExec(backend, tr.store, tr.stepGraph)
	if err != nil {
		return nil, fmt.Errorf("train.New: %w", err)
	}
	tr.exec = exec.WithName("difflab_train_step")
	return tr, nil
}

// buildVariables creates and initialises the model's variables with a probe
// forward pass, then the trainer's own. It panics on error (called under TryCatch).
func (tr *Trainer) buildVariables() {
	store := tr.store
	if _, found := store.GetParam(model.ParamInitialSeed); !found {
		if v := store.GetVariable(model.JoinPath("/", model.RNGStateVariableName)); v == nil || !v.HasValue() {
			store.SetParam(model.ParamInitialSeed, int64(tr.cfg.Seed))
		}
	}
	probe, err := model.NewExec(tr.backend, store, func(scope *model.Scope, x, t *Node) *Node {
		store.SetTraining(x.Graph(), true)
		return tr.den.Fn(scope, x, t)
	})
	must(err)
	x := tensors.FromShape(shapeOf(dtypes.Float32, append([]int{1}, tr.xShape...)))
	t := tensors.FromShape(shapeOf(dtypes.Int32, []int{1}))
	out, err := probe.Call(x, t)
	must(err)
	if got := out[0].Shape().Dimensions; !slices.Equal(got, append([]int{1}, tr.xShape...)) {
		panic(fmt.Errorf("the model maps x of shape %v to %v, want the same shape", append([]int{1}, tr.xShape...), got))
	}
	probe.Finalize()
	for v := range store.IterVariables() {
		if strings.HasPrefix(v.Path(), stateScope+"/") {
			continue
		}
		tr.modelVars = append(tr.modelVars, v)
		if v.Trainable {
			tr.trainable = append(tr.trainable, v)
		}
	}
	if len(tr.trainable) == 0 {
		panic(errors.New("the model has no trainable variables"))
	}
	for _, v := range tr.trainable {
		val, err := v.Value()
		must(err)
		zeros := func() *tensors.Tensor { return tensors.FromShape(val.Shape()) }
		ema, err := val.LocalClone()
		must(err)
		tr.adamM = append(tr.adamM, stateVar(store, "adam_m", v.Path(), zeros()))
		tr.adamV = append(tr.adamV, stateVar(store, "adam_v", v.Path(), zeros()))
		tr.ema = append(tr.ema, stateVar(store, "ema", v.Path(), ema))
	}
}

// stateVar creates (or resets) the non-trainable variable stateScope/role/path with value.
func stateVar(store *model.Store, role, path string, value *tensors.Tensor) *model.Variable {
	full := stateScope + "/" + role + path
	v := store.GetVariable(full)
	if v == nil {
		v = store.VariableWithValue(full, value)
	} else {
		must(v.SetValue(value))
	}
	return v.SetTrainable(false)
}

// stepGraph builds one training update; see Trainer. Inputs: x0 [B, ...] float32,
// t [B] int32, eps like x0, then the float32 scalars lr, bc1, bc2 and the EMA decay.
// Outputs: the loss and the gradient's global norm before clipping. When either is
// not finite every variable keeps its value.
func (tr *Trainer) stepGraph(scope *model.Scope, in []*Node) []*Node {
	x0, t, eps := in[0], in[1], in[2]
	lr, bc1, bc2, emaDecay := in[3], in[4], in[5], in[6]
	g := x0.Graph()
	tr.store.SetTraining(g, true)
	xt := diffusion.QSample(tr.sched, x0, t, eps)
	target := diffusion.Target(tr.sched, tr.den.Prediction, x0, t, eps)
	out := tr.den.Fn(scope, xt, t)
	if !out.Shape().Equal(xt.Shape()) {
		exceptions.Panicf("train: the model returned shape %s for x_t of shape %s", out.Shape(), xt.Shape())
	}
	loss := lossGraph(target, ConvertDType(out, target.DType()), t, tr.weights)
	params := make([]*Node, len(tr.trainable))
	for i, v := range tr.trainable {
		params[i] = v.NodeValue(g)
	}
	grads := Gradient(loss, params...)
	grads, norm := clipByGlobalNorm(grads, tr.cfg.GradClip)
	ok := LogicalAnd(IsFinite(loss), IsFinite(norm))
	for i, v := range tr.trainable {
		dt := v.DType()
		w := params[i]
		m, vv, e := tr.adamM[i].NodeValue(g), tr.adamV[i].NodeValue(g), tr.ema[i].NodeValue(g)
		w2, m2, v2 := adamWUpdate(tr.adamHyp, w, ConvertDType(grads[i], dt), m, vv,
			ConvertDType(lr, dt), ConvertDType(bc1, dt), ConvertDType(bc2, dt))
		e2 := emaUpdate(e, w2, ConvertDType(emaDecay, dt))
		v.SetNodeValue(Where(ok, w2, w))
		tr.adamM[i].SetNodeValue(Where(ok, m2, m))
		tr.adamV[i].SetNodeValue(Where(ok, v2, vv))
		tr.ema[i].SetNodeValue(Where(ok, e2, e))
	}
	return []*Node{loss, norm}
}

// Config returns the trainer's configuration.
func (tr *Trainer) Config() Config { return tr.cfg }

// Step is the number of updates done (restored by Resume).
func (tr *Trainer) Step() int { return tr.step }

// Loss is the loss of the last update (0 before the first; restored by Resume).
func (tr *Trainer) Loss() float64 { return tr.loss }

// GradNorm is the global gradient norm of the last update, before clipping.
func (tr *Trainer) GradNorm() float64 { return tr.gradNorm }

// LastCheckpoint is the directory of the last checkpoint saved or resumed from, or "".
func (tr *Trainer) LastCheckpoint() string { return tr.lastCheckpoint }

// SetMetadata stores value (JSON-encoded) under key in every later checkpoint's
// manifest, e.g. the model's configuration so that a sampler can rebuild it.
func (tr *Trainer) SetMetadata(key string, value any) error {
	b, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("train: metadata %q: %w", key, err)
	}
	tr.metadata[key] = b
	return nil
}

// OnStep registers h to run after every update whose number is a multiple of every (>= 1).
// It panics if every < 1.
func (tr *Trainer) OnStep(every int, h Hook) {
	if every < 1 {
		panic(fmt.Sprintf("train: OnStep(every = %d), want every >= 1", every))
	}
	tr.hooks = append(tr.hooks, hookEntry{every, h})
}

// Logger returns the Logger given to Run while Run is going (for hooks that log
// sample grids with LogArtifact), else nil.
func (tr *Trainer) Logger() Logger { return tr.logger }

// OnSample registers h to run every Config.SampleEvery updates (never when it is 0),
// typically to draw a grid of samples from EMADenoiser.
func (tr *Trainer) OnSample(h Hook) { tr.sampleHooks = append(tr.sampleHooks, h) }

// TrainStep does one update: draws a batch, timesteps and noise, runs the step and
// records the loss. When the loss or the gradient norm is NaN or infinite it
// returns an error naming the step and the last good checkpoint, and the weights,
// moments, EMA and Step keep their values from before the step (the batch source
// and the PCG source have moved on: resume from a checkpoint to retry).
func (tr *Trainer) TrainStep() error {
	k := tr.step + 1
	b := tr.cfg.BatchSize
	x, err := tr.src.Next()
	if err != nil {
		return fmt.Errorf("train: batch for step %d: %w", k, err)
	}
	if len(x) != b*tr.exSize {
		return fmt.Errorf("train: batch for step %d has %d values, want batch_size %d × %d", k, len(x), b, tr.exSize)
	}
	T := tr.sched.T()
	ts := make([]int32, b)
	for i := range ts {
		ts[i] = int32(tr.rng.IntN(T))
	}
	eps := make([]float32, len(x))
	for i := range eps {
		eps[i] = float32(tr.rng.NormFloat64())
	}
	dims := append([]int{b}, tr.xShape...)
	fk := float64(k)
	bc1 := 1 / (1 - math.Pow(tr.cfg.AdamBeta1, fk))
	bc2 := 1 / (1 - math.Pow(tr.cfg.AdamBeta2, fk))
	outs, err := tr.exec.Call(
		tensors.FromFlatDataAndDimensions(x, dims...),
		tensors.FromFlatDataAndDimensions(ts, b),
		tensors.FromFlatDataAndDimensions(eps, dims...),
		float32(tr.cfg.LearningRateAt(k)), float32(bc1), float32(bc2), float32(tr.cfg.EMADecayAt(k)))
	if err != nil {
		return fmt.Errorf("train: step %d: %w", k, err)
	}
	loss, gnorm := scalarOf(outs[0]), scalarOf(outs[1])
	for _, o := range outs {
		_ = o.FinalizeAll()
	}
	if !isFinite(loss) || !isFinite(gnorm) {
		last := tr.lastCheckpoint
		if last == "" {
			last = "none"
		}
		what, val := "loss", loss
		if isFinite(loss) {
			what, val = "gradient norm", gnorm
		}
		return fmt.Errorf("train: %s is %v at step %d; last good checkpoint: %s", what, val, k, last)
	}
	tr.step, tr.loss, tr.gradNorm = k, loss, gnorm
	return nil
}

// Run trains until Config.Steps updates are done, from the current step (0, or
// the one Resume restored). Along the way it logs to logger (nil for none): every
// config field as a param "train/<json name>" at the start; "train/loss" (mean over
// the last LogEvery updates), "train/grad_norm" and "train/lr" every LogEvery
// updates; "train/checkpoint_step" at each checkpoint, whose directory is
// CheckpointDir/ckpt-<step, 8 digits>. It runs the hooks, saves a checkpoint every
// CheckpointEvery updates and at the end (when CheckpointDir is set).
//
// When ctx is cancelled, Run saves a checkpoint (if CheckpointDir is set) and returns
// an error wrapping ctx.Err(). A non-finite loss stops it with the error of
// TrainStep; the last good checkpoint is left as it was. A logger error does not
// stop training: the first one is returned, joined, when Run ends.
func (tr *Trainer) Run(ctx context.Context, logger Logger) error {
	tr.logger = logger
	defer func() { tr.logger = nil }()
	var logErr error
	logf := func(err error) {
		if err != nil && logErr == nil {
			logErr = fmt.Errorf("train: logger: %w", err)
		}
	}
	if logger != nil {
		for _, p := range tr.cfg.params() {
			logf(logger.LogParam(p.key, p.value))
		}
		logf(logger.LogParam("train/prediction", string(tr.den.Prediction)))
		logf(logger.LogParam("train/num_parameters", tr.NumParameters()))
	}
	prog := newProgressReporter(tr.progressFns, tr.step, tr.cfg.Steps, time.Now())
	defer prog.done()
	var winSum float64
	var winN int
	for tr.step < tr.cfg.Steps {
		if err := ctx.Err(); err != nil {
			dir, serr := tr.saveIfEnabled(logger, logf)
			if serr != nil {
				return errors.Join(fmt.Errorf("train: stopped at step %d: %w", tr.step, err), serr, logErr)
			}
			return errors.Join(fmt.Errorf("train: stopped at step %d (checkpoint: %s): %w", tr.step, orNone(dir), err), logErr)
		}
		if err := tr.TrainStep(); err != nil {
			return errors.Join(err, logErr)
		}
		k := tr.step
		winSum += tr.loss
		winN++
		prog.update(k, tr.loss, time.Now())
		if tr.cfg.LogEvery > 0 && k%tr.cfg.LogEvery == 0 {
			if logger != nil {
				logf(logger.LogMetric("train/loss", int64(k), winSum/float64(winN)))
				logf(logger.LogMetric("train/grad_norm", int64(k), tr.gradNorm))
				logf(logger.LogMetric("train/lr", int64(k), tr.cfg.LearningRateAt(k)))
			}
			winSum, winN = 0, 0
		}
		for _, h := range tr.hooks {
			if k%h.every == 0 {
				if err := h.h(k, tr); err != nil {
					return errors.Join(fmt.Errorf("train: hook at step %d: %w", k, err), logErr)
				}
			}
		}
		if tr.cfg.SampleEvery > 0 && k%tr.cfg.SampleEvery == 0 {
			for _, h := range tr.sampleHooks {
				if err := h(k, tr); err != nil {
					return errors.Join(fmt.Errorf("train: sample hook at step %d: %w", k, err), logErr)
				}
			}
		}
		if tr.cfg.CheckpointEvery > 0 && k%tr.cfg.CheckpointEvery == 0 {
			if _, err := tr.saveIfEnabled(logger, logf); err != nil {
				return errors.Join(err, logErr)
			}
		}
	}
	if _, err := tr.saveIfEnabled(logger, logf); err != nil {
		return errors.Join(err, logErr)
	}
	return logErr
}

// saveIfEnabled saves a checkpoint when CheckpointDir is set and none exists yet for this step.
func (tr *Trainer) saveIfEnabled(logger Logger, logf func(error)) (string, error) {
	if tr.cfg.CheckpointDir == "" {
		return "", nil
	}
	if tr.lastCheckpoint != "" && tr.lastSavedStep == tr.step {
		return tr.lastCheckpoint, nil
	}
	dir, err := tr.SaveCheckpoint()
	if err == nil && logger != nil {
		logf(logger.LogMetric("train/checkpoint_step", int64(tr.step), float64(tr.step)))
	}
	return dir, err
}

// NumParameters is the number of scalars in the trainable variables.
func (tr *Trainer) NumParameters() int {
	n := 0
	for _, v := range tr.trainable {
		n += v.Shape().Size()
	}
	return n
}

// Denoiser returns the denoiser with the raw (latest) weights: the one given to
// New, whose Store also holds the trainer's variables under "/difflab_train".
func (tr *Trainer) Denoiser() diffusion.Denoiser { return tr.den }

// EMADenoiser returns a denoiser whose Store is a snapshot of the EMA weights, under
// the same variable paths as the model's, so that den.Fn runs on it unchanged.
// Non-trainable model variables (such as the RNG state) are copied as they are, and
// the store's params are copied. Call it again to see later training.
func (tr *Trainer) EMADenoiser() (diffusion.Denoiser, error) {
	ema := make(map[string]*model.Variable, len(tr.trainable))
	for i, v := range tr.trainable {
		ema[v.Path()] = tr.ema[i]
	}
	store := model.NewStore()
	for k, v := range tr.store.IterParams() {
		store.SetParam(k, v)
	}
	for _, v := range tr.modelVars {
		src := v
		if e, ok := ema[v.Path()]; ok {
			src = e
		}
		val, err := src.Value()
		if err != nil {
			return diffusion.Denoiser{}, fmt.Errorf("train: EMADenoiser: %w", err)
		}
		c, err := val.LocalClone()
		if err != nil {
			return diffusion.Denoiser{}, fmt.Errorf("train: EMADenoiser: %w", err)
		}
		store.VariableWithValue(v.Path(), c).SetTrainable(v.Trainable)
	}
	return diffusion.Denoiser{Prediction: tr.den.Prediction, Store: store, Fn: tr.den.Fn}, nil
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// scalarOf reads a scalar float tensor as float64.
func scalarOf(t *tensors.Tensor) float64 {
	switch v := t.Value().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	panic(fmt.Sprintf("train: want a float scalar, got %s", t.Shape()))
}

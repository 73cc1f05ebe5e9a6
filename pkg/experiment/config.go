// Package experiment runs declarative sweeps over noise schedules, samplers, eta
// and step counts, evaluates every cell with trustworthy metrics, logs each cell
// as a tracker run, and writes a report laid out like Table 1 of the DDIM paper
// (Song et al. 2021): rows eta = 0, 0.2, 0.5, 1 and sigma-hat, columns S.
//
// An experiment is a folder with a config.toml (see Config) and a README.md. The
// same config and seeds give the same numbers on the same backend.
package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/difflab/difflab/pkg/data"
	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/difflab/difflab/pkg/gmm"
	"github.com/difflab/difflab/pkg/metrics"
	"github.com/difflab/difflab/pkg/pipeline"
	"github.com/difflab/difflab/pkg/train"
)

// ConfigFile is the name of an experiment's config inside its folder.
const ConfigFile = "config.toml"

// Config is an experiment definition, read from TOML. Paths are relative to the
// experiment's folder. Every field's default is set in withDefaults, nowhere else.
type Config struct {
	// Name of the experiment; also the tracker experiment and the run folder's name.
	// Default: the folder's name.
	Name string `toml:"name" json:"name"`
	// Description says what the experiment shows, for the report.
	Description string `toml:"description" json:"description"`
	// Mode is what the experiment measures (ModeSample or ModeInversion). Default
	// "sample".
	Mode Mode `toml:"mode" json:"mode"`
	// Seeds: every cell is sampled and evaluated once per seed; the report shows the
	// mean (and the spread when there are several). Default [1].
	Seeds []uint64 `toml:"seeds" json:"seeds"`

	Data  DataConfig  `toml:"data" json:"data"`
	Model ModelConfig `toml:"model" json:"model"`
	// Schedules are the noise schedules compared, each with its own model when the
	// model is trained. Default ["linear"]; diffusion.Custom is not allowed.
	Schedules []diffusion.ScheduleKind `toml:"schedules" json:"schedules"`
	T         int                      `toml:"T" json:"T"` // diffusion steps; default 1000
	// ZeroTerminalSNR rescales every schedule to abar_{T-1} = 0 (Lin et al. 2024,
	// Algorithm 1; see diffusion.ScheduleConfig), for training and sampling. The
	// exact denoiser then predicts x0; a trained model must predict v or x0 when
	// the spacing visits t = T-1.
	ZeroTerminalSNR bool         `toml:"zero_terminal_snr" json:"zero_terminal_snr,omitempty"`
	Grid            GridConfig   `toml:"grid" json:"grid"`
	Eval            EvalConfig   `toml:"eval" json:"eval"`
	Report          ReportConfig `toml:"report" json:"report"`

	dir string // the experiment's folder
}

// DataConfig names the dataset.
type DataConfig struct {
	// Name: one of data.Names() ("gmm", "moons", "swissroll", "8gaussians",
	// "mnist", "fashion-mnist", "cifar10"). Required.
	Name string `toml:"name" json:"name"`
	// GMM is the mixture JSON for Name = "gmm" (and for the oracle model).
	GMM string `toml:"gmm" json:"gmm,omitempty"`
	// DataDir overrides where image datasets are looked for.
	DataDir string `toml:"data_dir" json:"data_dir,omitempty"`
	// TrainN is the number of training examples (synthetic data; 0: data.DefaultN;
	// images: 0 means the whole split).
	TrainN int `toml:"train_n" json:"train_n,omitempty"`
}

// Mode is what an experiment measures.
type Mode string

const (
	// ModeSample draws samples and compares them with the true distribution: the
	// DDIM paper's Table 1.
	ModeSample Mode = "sample"
	// ModeInversion encodes data with the deterministic DDIM update and decodes it
	// back, reporting the reconstruction error against S: the DDIM paper's Table 2.
	ModeInversion Mode = "inversion"
)

// Modes lists every mode.
var Modes = []Mode{ModeSample, ModeInversion}

// ModelKind says where an experiment's denoiser comes from.
type ModelKind string

const (
	// ModelOracle is the exact denoiser of the Gaussian mixture in Data.GMM:
	// sampler error alone, no learning error.
	ModelOracle ModelKind = "oracle"
	// ModelTrain trains a model per schedule (or reuses a checkpoint whose recipe
	// hash matches) with the recipe in ModelConfig.Train.
	ModelTrain ModelKind = "train"
	// ModelCheckpoint loads the EMA weights of an existing checkpoint.
	ModelCheckpoint ModelKind = "checkpoint"
)

// ModelConfig says where the denoiser comes from.
type ModelConfig struct {
	// Kind of model. Required.
	Kind ModelKind `toml:"kind" json:"kind"`
	// Checkpoint is the checkpoint folder for Kind = "checkpoint".
	Checkpoint string `toml:"checkpoint" json:"checkpoint,omitempty"`
	// Train is the training recipe for Kind = "train": the [model.train] tables
	// ([model.train.model], [model.train.train], ...) of the file decoded field by
	// field over pipeline.DefaultRecipe of the experiment's data. The data, the
	// schedule and T come from the experiment (see Config.Recipe), so
	// [model.train.schedule] and the keys of [model.train.data] that [data] sets are
	// errors.
	Train *pipeline.Recipe `toml:"-" json:"train,omitempty"`

	// pinned is the checkpoint (ckpt-NNNNNNNN) that Checkpoint resolved to when the
	// run started (see Config.pinCheckpoint), and weights the identity of its EMA
	// weights; both are set by the runner, never read from the file.
	pinned, weights string
	pinnedStep      int
}

// GridConfig is the sampler grid: samplers x etas x steps x spacings.
type GridConfig struct {
	// Samplers: diffusion.DDIM (one row per eta), diffusion.DDPMStrided (the
	// sigma-hat row) and the ODE solvers dpmpp-2m, unipc, plms and heun (a row
	// each). Default ["ddim", "ddpm-strided"].
	Samplers []diffusion.SamplerKind `toml:"samplers" json:"samplers"`
	// EqualNFE makes Steps the number of model evaluations rather than of
	// steps, so that samplers compare at equal cost: heun, with two evaluations a
	// step but the last, then takes (NFE + 1) / 2 steps (at most NFE
	// evaluations); the others one step per evaluation.
	EqualNFE bool `toml:"equal_nfe" json:"equal_nfe,omitempty"`
	// Etas of DDIM. Default [0, 0.2, 0.5, 1] (the DDIM paper's Table 1).
	Etas []float64 `toml:"etas" json:"etas"`
	// Steps S. Default [10, 20, 50, 100, 1000]; each must be <= T.
	Steps []int `toml:"steps" json:"steps"`
	// Spacings of the timesteps. Default ["leading"] (the paper's "uniform").
	Spacings []diffusion.Spacing `toml:"spacings" json:"spacings"`
	// ClipX0 clips x0_hat at every step (0: off). Default 0 for 2-D data, 1 for images.
	ClipX0 *float64 `toml:"clip_x0" json:"clip_x0,omitempty"`
}

// EvalConfig says how each cell is measured.
type EvalConfig struct {
	// N is the number of samples drawn per cell and seed. Default 2000.
	N int `toml:"n" json:"n"`
	// BatchSize splits the N samples into batches (0: all at once).
	BatchSize int `toml:"batch_size" json:"batch_size,omitempty"`
	// Metrics to compute, by their names in the metrics registry: for 2-D data
	// metrics.Points ("swd", "mmd", "energy"), for a Gaussian mixture also
	// metrics.Mixture ("loglik", "modes"), for images metrics.Images, in inversion
	// mode metrics.Reconstructions. Default: all that apply.
	Metrics []string `toml:"metrics" json:"metrics"`
	// VLBN, for image data and trained models, is the number of test images on which
	// the variational bound on the negative log-likelihood (bits/dim, Ho et al. 2020, eq. (5))
	// is computed, once per schedule; it costs T forward passes. 0 skips it.
	VLBN int `toml:"vlb_n" json:"vlb_n,omitempty"`
	// Primary is the metric of the report's headline tables and plots. Default: the first of Metrics.
	Primary string `toml:"primary" json:"primary"`
}

// ReportConfig tunes the report.
type ReportConfig struct {
	// ScatterPoints caps the points drawn per cell in scatter grids. Default 1000.
	ScatterPoints int `toml:"scatter_points" json:"scatter_points"`
}

// Load reads dir/config.toml, fills defaults and validates it. Unknown keys are an
// error that names them, so a typo is not silently ignored.
func Load(dir string) (*Config, error) {
	path := filepath.Join(dir, ConfigFile)
	c, err := decode(path)
	if err != nil {
		return nil, fmt.Errorf("experiment %s: %w", path, err)
	}
	c.dir = dir
	*c = c.withDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("experiment %s: %w", path, err)
	}
	return c, nil
}

// decode reads the TOML file: the experiment's fields into a Config, and the
// [model.train] tables field by field over the default recipe of its data.
func decode(path string) (*Config, error) {
	var c Config
	md, err := toml.DecodeFile(path, &c)
	if err != nil {
		return nil, err
	}
	var file struct {
		Model struct {
			Train toml.Primitive `toml:"train"`
		} `toml:"model"`
	}
	trainMD, err := toml.DecodeFile(path, &file)
	if err != nil {
		return nil, err
	}
	var unknown []string
	for _, k := range md.Undecoded() {
		if !isTrainKey(k) {
			unknown = append(unknown, k.String())
		}
	}
	if trainMD.IsDefined("model", "train") {
		for _, k := range [][]string{{"data", "name"}, {"data", "gmm"}, {"data", "data_dir"}, {"data", "n"}, {"schedule"}} {
			if trainMD.IsDefined(append([]string{"model", "train"}, k...)...) {
				return nil, fmt.Errorf("field model.train.%s: the experiment sets it (data.*, data.train_n, schedules and T)", strings.Join(k, "."))
			}
		}
		rec := pipeline.DefaultRecipe(c.Data.Name)
		if err := trainMD.PrimitiveDecode(file.Model.Train, &rec); err != nil {
			return nil, fmt.Errorf("field model.train: %w", err)
		}
		c.Model.Train = &rec
		for _, k := range trainMD.Undecoded() {
			if isTrainKey(k) {
				unknown = append(unknown, k.String())
			}
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unknown field(s) %s", strings.Join(unknown, ", "))
	}
	return &c, nil
}

func isTrainKey(k toml.Key) bool { return len(k) > 1 && k[0] == "model" && k[1] == "train" }

// Dir is the experiment's folder.
func (c *Config) Dir() string { return c.dir }

// Path resolves a path of the config relative to the experiment's folder.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = filepath.Base(filepath.Clean(c.dir))
	}
	if c.Mode == "" {
		c.Mode = ModeSample
	}
	if len(c.Seeds) == 0 {
		c.Seeds = []uint64{1}
	}
	if c.Mode == ModeInversion {
		if len(c.Grid.Samplers) == 0 {
			c.Grid.Samplers = []diffusion.SamplerKind{diffusion.DDIM}
		}
		if len(c.Grid.Etas) == 0 {
			c.Grid.Etas = []float64{0}
		}
	}
	if len(c.Schedules) == 0 {
		c.Schedules = []diffusion.ScheduleKind{diffusion.Linear}
	}
	if c.T == 0 {
		c.T = diffusion.DefaultT
	}
	if len(c.Grid.Samplers) == 0 {
		c.Grid.Samplers = []diffusion.SamplerKind{diffusion.DDIM, diffusion.DDPMStrided}
	}
	if len(c.Grid.Etas) == 0 {
		c.Grid.Etas = []float64{0, 0.2, 0.5, 1}
	}
	if len(c.Grid.Steps) == 0 {
		c.Grid.Steps = []int{10, 20, 50, 100, 1000}
	}
	if len(c.Grid.Spacings) == 0 {
		c.Grid.Spacings = []diffusion.Spacing{diffusion.Leading}
	}
	if c.Grid.ClipX0 == nil {
		clip := 0.0
		if c.isImage() {
			clip = 1
		}
		c.Grid.ClipX0 = &clip
	}
	if c.Eval.N == 0 {
		c.Eval.N = 2000
	}
	if len(c.Eval.Metrics) == 0 {
		c.Eval.Metrics = c.defaultMetrics()
	}
	if c.Eval.Primary == "" && len(c.Eval.Metrics) > 0 {
		c.Eval.Primary = c.Eval.Metrics[0]
	}
	if c.Report.ScatterPoints == 0 {
		c.Report.ScatterPoints = 1000
	}
	return c
}

func (c *Config) isImage() bool { return data.IsImage(c.Data.Name) }

// Validate checks every field; the error names the field, the bad value and what
// is allowed.
func (c *Config) Validate() error {
	if !slices.Contains(data.Names(), c.Data.Name) {
		return fmt.Errorf("field data.name = %q, want one of %s", c.Data.Name, strings.Join(data.Names(), ", "))
	}
	if c.Data.Name == "gmm" && c.Data.GMM == "" {
		return fmt.Errorf("field data.gmm is empty: data.name = \"gmm\" needs a mixture JSON file")
	}
	if c.Data.GMM != "" {
		if _, err := gmm.Load(c.Path(c.Data.GMM)); err != nil {
			return fmt.Errorf("field data.gmm: %w", err)
		}
	}
	if !slices.Contains(Modes, c.Mode) {
		return fmt.Errorf("field mode = %q, want sample or inversion", c.Mode)
	}
	if c.Mode == ModeInversion && (!slices.Equal(c.Grid.Samplers, []diffusion.SamplerKind{diffusion.DDIM}) || !slices.Equal(c.Grid.Etas, []float64{0})) {
		return fmt.Errorf("fields grid.samplers = %v and grid.etas = %v: inversion uses deterministic DDIM only (samplers = [\"ddim\"], etas = [0])", c.Grid.Samplers, c.Grid.Etas)
	}
	switch c.Model.Kind {
	case ModelOracle:
		if c.Data.Name != "gmm" {
			return fmt.Errorf("field model.kind = \"oracle\" needs data.name = \"gmm\" (the exact denoiser is known for Gaussian mixtures only), got %q", c.Data.Name)
		}
	case ModelTrain:
		if c.Model.Train == nil {
			return fmt.Errorf("field model.train is empty: model.kind = \"train\" needs training settings")
		}
	case ModelCheckpoint:
		if c.Model.Checkpoint == "" {
			return fmt.Errorf("field model.checkpoint is empty: model.kind = \"checkpoint\" needs a checkpoint folder")
		}
		if len(c.Schedules) != 1 {
			return fmt.Errorf("field schedules has %d entries; model.kind = \"checkpoint\" uses the checkpoint's schedule only", len(c.Schedules))
		}
	default:
		return fmt.Errorf("field model.kind = %q, want one of oracle, train, checkpoint", c.Model.Kind)
	}
	if c.Model.Kind != ModelTrain && c.Model.Train != nil {
		return fmt.Errorf("field model.train is set but model.kind = %q: training settings need model.kind = \"train\"", c.Model.Kind)
	}
	if c.T < 1 {
		return fmt.Errorf("field T = %d, want T >= 1", c.T)
	}
	for i, s := range c.Schedules {
		if s == diffusion.Custom || !slices.Contains(diffusion.ScheduleKinds, s) {
			return fmt.Errorf("field schedules[%d] = %q, want one of linear, scaled-linear, cosine, sigmoid", i, s)
		}
	}
	for i, s := range c.Grid.Samplers {
		if s == diffusion.DDPM || !slices.Contains(diffusion.SamplerKinds, s) {
			return fmt.Errorf("field grid.samplers[%d] = %q, want one of ddim, ddpm-strided (at S = T it is DDPM), dpmpp-2m, unipc, plms, heun", i, s)
		}
	}
	if slices.Contains(c.Eval.Metrics, "ode_error") {
		for _, cell := range c.Cells() {
			if cell.Sampler.Stochastic(cell.Eta) {
				return fmt.Errorf("field eval.metrics has ode_error, the distance to the probability-flow ODE's solution, but row %s draws noise: use deterministic samplers only (ddim with etas = [0], dpmpp-2m, unipc, plms, heun)", cell.Row())
			}
		}
	}
	for i, e := range c.Grid.Etas {
		if !(e >= 0) {
			return fmt.Errorf("field grid.etas[%d] = %v, want eta >= 0", i, e)
		}
	}
	// The schedules' kinds are checked above; the karras spacing needs their
	// noise levels, so every step count is checked on each schedule.
	scheds := make([]*diffusion.Schedule, len(c.Schedules))
	for i, kind := range c.Schedules {
		s, err := diffusion.NewSchedule(c.ScheduleConfig(kind))
		if err != nil {
			return fmt.Errorf("field schedules: %w", err)
		}
		scheds[i] = s
	}
	for _, sp := range c.Grid.Spacings {
		if _, err := diffusion.ParseSpacing(string(sp)); err != nil {
			return fmt.Errorf("field grid.spacings: %w", err)
		}
		for i, S := range c.Grid.Steps {
			if S < 1 || S > c.T {
				return fmt.Errorf("field grid.steps[%d] = %d, want 1 <= S <= T = %d", i, S, c.T)
			}
			for j, s := range scheds {
				sched := c.Schedules[j]
				for _, smp := range c.Grid.Samplers {
					steps := Cell{Sampler: smp, Steps: S}.samplerSteps(c.Grid.EqualNFE)
					if _, err := s.Timesteps(sp, steps); err != nil {
						return fmt.Errorf("field grid.steps[%d] = %d with spacing %s and schedule %s: %w", i, S, sp, sched, err)
					}
				}
			}
		}
	}
	if *c.Grid.ClipX0 < 0 {
		return fmt.Errorf("field grid.clip_x0 = %v, want 0 (off) or > 0", *c.Grid.ClipX0)
	}
	if c.Eval.N < 2 {
		return fmt.Errorf("field eval.n = %d, want at least 2 samples per cell", c.Eval.N)
	}
	if c.Eval.VLBN < 0 || (c.Eval.VLBN > 0 && !c.isImage()) {
		return fmt.Errorf("field eval.vlb_n = %d: want 0, or > 0 for image data", c.Eval.VLBN)
	}
	if c.Eval.BatchSize < 0 {
		return fmt.Errorf("field eval.batch_size = %d, want >= 0", c.Eval.BatchSize)
	}
	allowed := c.allowedMetrics()
	for i, m := range c.Eval.Metrics {
		if !slices.Contains(allowed, m) {
			return fmt.Errorf("field eval.metrics[%d] = %q, want one of %s for data %q", i, m, strings.Join(allowed, ", "), c.Data.Name)
		}
	}
	if !slices.Contains(c.Eval.Metrics, c.Eval.Primary) {
		return fmt.Errorf("field eval.primary = %q, want one of eval.metrics (%s)", c.Eval.Primary, strings.Join(c.Eval.Metrics, ", "))
	}
	if c.Model.Kind == ModelTrain {
		for _, s := range c.Schedules {
			if _, err := c.Recipe(s); err != nil {
				return err
			}
		}
	}
	return nil
}

// ScheduleConfig is the experiment's schedule of the given kind.
func (c *Config) ScheduleConfig(kind diffusion.ScheduleKind) diffusion.ScheduleConfig {
	return diffusion.ScheduleConfig{Kind: kind, T: c.T, ZeroTerminalSNR: c.ZeroTerminalSNR}
}

// allowedMetrics are the names of the metrics registry that an experiment of
// this mode and data may ask for: the defaults, and for samples of 2-D data
// the solver's ode_error too.
func (c *Config) allowedMetrics() []string {
	m := c.defaultMetrics()
	if c.Mode == ModeSample && !c.isImage() {
		m = append(m, metrics.Names(metrics.Solutions)...)
	}
	return m
}

// defaultMetrics are the names of the metrics registry that apply to the
// experiment's mode and data, in report order: what eval.metrics defaults to.
func (c *Config) defaultMetrics() []string {
	switch {
	case c.Mode == ModeInversion:
		return metrics.Names(metrics.Reconstructions)
	case c.isImage():
		return metrics.Names(metrics.Images)
	case c.Data.Name == "gmm":
		return metrics.Names(metrics.Points, metrics.Mixture)
	}
	return metrics.Names(metrics.Points)
}

// pinCheckpoint resolves Model.Checkpoint (a checkpoint, or a folder whose latest
// checkpoint is used) once, so that every cell of a run evaluates the same weights
// even while a training writes newer checkpoints, and records the sha256 of the
// checkpoint's EMA tensors in the config's hash: results of an earlier checkpoint
// of a training that went on are then never reused for a later one.
func (c *Config) pinCheckpoint() error {
	if c.Model.Kind != ModelCheckpoint || c.Model.pinned != "" {
		return nil
	}
	m, err := train.ReadManifest(c.Path(c.Model.Checkpoint))
	if err != nil {
		return fmt.Errorf("experiment: field model.checkpoint = %q: %w", c.Model.Checkpoint, err)
	}
	h := sha256.New()
	for _, t := range m.Tensors {
		if t.Role == train.RoleEMA {
			fmt.Fprintf(h, "%s %s\n", t.Path, t.SHA256)
		}
	}
	c.Model.pinned, c.Model.weights, c.Model.pinnedStep = m.Dir, hex.EncodeToString(h.Sum(nil))[:16], m.Step
	return nil
}

// Hash is a sha256 of the resolved config (defaults filled, files' contents
// included, and for a checkpoint model the identity of its weights once the run
// pinned it), used to recognise finished cells and matching checkpoints.
func (c *Config) Hash() string {
	h := sha256.New()
	b, _ := json.Marshal(c)
	h.Write(b)
	h.Write([]byte(c.Model.weights))
	if c.Data.GMM != "" {
		if g, err := os.ReadFile(c.Path(c.Data.GMM)); err == nil {
			h.Write(g)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

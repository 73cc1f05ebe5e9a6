// Package pipeline puts a dataset, a denoiser, a noise schedule and the trainer
// together, as diffusers' pipelines combine a UNet and a scheduler: it trains a
// denoiser from a recipe (a TOML file), loads a checkpoint back as a ready
// diffusion.Denoiser with its schedule, and samples pictures from it. Each part
// stays in its own package; this one only wires them.
package pipeline

import (
	"bytes"
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
	"github.com/difflab/difflab/pkg/models"
	"github.com/difflab/difflab/pkg/train"
)

// Model kinds.
const (
	ModelMLP  = "mlp"
	ModelUNet = "unet"
)

// Recipe is everything needed to train a denoiser. Zero fields take the defaults
// of DefaultRecipe (and of the model's and the trainer's own defaults).
type Recipe struct {
	Data     DataConfig               `toml:"data" json:"data"`
	Model    ModelConfig              `toml:"model" json:"model"`
	Schedule diffusion.ScheduleConfig `toml:"schedule" json:"schedule"`
	Train    train.Config             `toml:"train" json:"train"`
	Preview  PreviewConfig            `toml:"preview" json:"preview"`
}

// DataConfig names the training data.
type DataConfig struct {
	// Name is one of data.Names(). Required.
	Name string `toml:"name" json:"name"`
	// GMM is the mixture JSON file for Name = "gmm".
	GMM string `toml:"gmm" json:"gmm,omitempty"`
	// DataDir overrides where image datasets are looked for.
	DataDir string `toml:"data_dir" json:"data_dir,omitempty"`
	// N is the number of training examples: synthetic data draws N (0: data.DefaultN);
	// image datasets keep the first N of the split (0: all).
	N int `toml:"n" json:"n,omitempty"`
	// Pad pads images on every side (2 turns 28x28 into 32x32). Default 0.
	Pad int `toml:"pad" json:"pad,omitempty"`
	// Flip randomly flips images horizontally. Default false (digits are not symmetric).
	Flip bool `toml:"flip" json:"flip,omitempty"`
	// Seed of synthetic data generation. Default 0.
	Seed uint64 `toml:"seed" json:"seed,omitempty"`
}

// ModelConfig chooses the denoiser.
type ModelConfig struct {
	// Kind is "mlp" (low-dimensional data) or "unet" (images). Default: "unet" for
	// image datasets, "mlp" otherwise.
	Kind string            `toml:"kind" json:"kind"`
	MLP  models.MLPConfig  `toml:"mlp" json:"mlp"`
	UNet models.UNetConfig `toml:"unet" json:"unet"`
}

// PreviewConfig draws samples while training, logged as PNG artifacts.
type PreviewConfig struct {
	// N is the number of samples drawn. Default 64 for images, 1000 for 2-D data.
	N int `toml:"n" json:"n"`
	// Steps of the DDIM (eta = 0) sampler used. Default 50.
	Steps int `toml:"steps" json:"steps"`
	// Seed of the preview's noise. Default 0, the same every time, so previews show
	// how the same x_T's images change as training goes on.
	Seed uint64 `toml:"seed" json:"seed"`
}

// DefaultRecipe returns the defaults of a recipe for the named dataset; every
// default of Recipe is set here.
func DefaultRecipe(dataset string) Recipe {
	r := Recipe{
		Data:     DataConfig{Name: dataset},
		Model:    ModelConfig{Kind: ModelMLP, MLP: models.DefaultMLPConfig(), UNet: models.DefaultUNetConfig()},
		Schedule: diffusion.ScheduleConfig{Kind: diffusion.Linear, T: diffusion.DefaultT},
		Train:    train.DefaultConfig(),
		Preview:  PreviewConfig{N: 1000, Steps: 50},
	}
	if data.IsImage(dataset) {
		r.Model.Kind = ModelUNet
		r.Preview.N = 64
	}
	return r
}

// LoadRecipe reads a TOML recipe over the defaults of its dataset, applies the
// overrides ("train.steps=200", "model.unet.basechannels=16": dotted keys and
// TOML values) and validates it. Unknown keys are errors that name them.
func LoadRecipe(path string, overrides ...string) (*Recipe, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("recipe: %w", err)
	}
	r, err := ParseRecipe(string(b), overrides...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Data.GMM != "" && !filepath.IsAbs(r.Data.GMM) {
		r.Data.GMM = filepath.Join(filepath.Dir(path), r.Data.GMM)
	}
	return r, nil
}

// ParseRecipe is LoadRecipe on the TOML text itself.
func ParseRecipe(text string, overrides ...string) (*Recipe, error) {
	var raw map[string]any
	if _, err := toml.Decode(text, &raw); err != nil {
		return nil, fmt.Errorf("recipe: %w", err)
	}
	for _, o := range overrides {
		if err := setDotted(raw, o); err != nil {
			return nil, err
		}
	}
	name := ""
	if d, ok := raw["data"].(map[string]any); ok {
		name, _ = d["name"].(string)
	}
	if name == "" {
		return nil, fmt.Errorf("recipe: field data.name is empty, want one of %s", strings.Join(data.Names(), ", "))
	}
	r := DefaultRecipe(name)
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(raw); err != nil {
		return nil, fmt.Errorf("recipe: %w", err)
	}
	md, err := toml.Decode(buf.String(), &r)
	if err != nil {
		return nil, fmt.Errorf("recipe: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		var keys []string
		for _, k := range und {
			keys = append(keys, k.String())
		}
		return nil, fmt.Errorf("recipe: unknown field(s) %s", strings.Join(keys, ", "))
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// setDotted sets raw[a][b]...= value from "a.b.c=value", the value parsed as TOML
// (so 200, 2e-4, true, "cosine" and [1, 2] all work; a bare word is a string).
func setDotted(raw map[string]any, kv string) error {
	key, val, ok := strings.Cut(kv, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return fmt.Errorf("recipe override %q: want key=value, e.g. train.steps=200", kv)
	}
	var v map[string]any
	if _, err := toml.Decode("v = "+strings.TrimSpace(val), &v); err != nil {
		if _, err2 := toml.Decode("v = "+fmt.Sprintf("%q", strings.TrimSpace(val)), &v); err2 != nil {
			return fmt.Errorf("recipe override %q: %v", kv, err)
		}
	}
	parts := strings.Split(key, ".")
	m := raw
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v["v"]
	return nil
}

// Validate checks the recipe; errors name the field.
func (r *Recipe) Validate() error {
	if !slices.Contains(data.Names(), r.Data.Name) {
		return fmt.Errorf("recipe: field data.name = %q, want one of %s", r.Data.Name, strings.Join(data.Names(), ", "))
	}
	if r.Data.Name == "gmm" && r.Data.GMM == "" {
		return fmt.Errorf("recipe: field data.gmm is empty: data.name = \"gmm\" needs a mixture JSON file")
	}
	if r.Data.N < 0 || r.Data.Pad < 0 {
		return fmt.Errorf("recipe: fields data.n = %d and data.pad = %d must be >= 0", r.Data.N, r.Data.Pad)
	}
	switch r.Model.Kind {
	case ModelMLP:
		if data.IsImage(r.Data.Name) {
			return fmt.Errorf("recipe: field model.kind = \"mlp\" is for low-dimensional data; use \"unet\" for %s", r.Data.Name)
		}
		if err := r.Model.MLP.Validate(); err != nil {
			return fmt.Errorf("recipe: model.mlp: %w", err)
		}
	case ModelUNet:
		if !data.IsImage(r.Data.Name) {
			return fmt.Errorf("recipe: field model.kind = \"unet\" is for images; use \"mlp\" for %s", r.Data.Name)
		}
		if err := r.Model.UNet.Validate(); err != nil {
			return fmt.Errorf("recipe: model.unet: %w", err)
		}
	default:
		return fmt.Errorf("recipe: field model.kind = %q, want mlp or unet", r.Model.Kind)
	}
	if _, err := diffusion.NewSchedule(r.Schedule); err != nil {
		return fmt.Errorf("recipe: %w", err)
	}
	if err := r.Train.Validate(); err != nil {
		return fmt.Errorf("recipe: %w", err)
	}
	if r.Preview.N < 0 || r.Preview.Steps < 0 || r.Preview.Steps > r.Schedule.T {
		return fmt.Errorf("recipe: preview.n = %d and preview.steps = %d: want n >= 0 and 0 <= steps <= T", r.Preview.N, r.Preview.Steps)
	}
	return nil
}

// Hash is a sha256 of everything that determines the trained weights (the data,
// the model, the schedule and the training settings, with the mixture file's
// content), 16 hex digits. Checkpoints are reused when it matches.
func (r *Recipe) Hash() string {
	h := sha256.New()
	rr := *r
	rr.Preview = PreviewConfig{}
	rr.Train.CheckpointDir, rr.Train.CheckpointEvery, rr.Train.KeepLast, rr.Train.LogEvery, rr.Train.SampleEvery = "", 0, 0, 0, 0
	b, _ := json.Marshal(rr)
	h.Write(b)
	if r.Data.GMM != "" {
		if g, err := os.ReadFile(r.Data.GMM); err == nil {
			h.Write(g)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

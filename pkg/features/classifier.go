package features

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/model"
	gtrain "github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gomlx/gomlx/support/exceptions"

	"github.com/difflab/difflab/internal/fastmath"
	"github.com/difflab/difflab/pkg/data"
	"github.com/difflab/difflab/pkg/models"
)

// ImageShape is the per-example shape the classifier takes: 28×28 pixels, one
// channel, HWC, values in [-1, 1] (data.ScalePixel).
var ImageShape = []int{28, 28, 1}

// imageSize is prod(ImageShape).
const imageSize = 28 * 28

// Architecture is the version of the network's layout. It enters every cache key,
// so weights cached by an older layout are never loaded into a newer one. Bump it
// whenever modelGraph changes.
const Architecture = "convnet-relu-v1"

// Defaults of ClassifierConfig, the only place they are set.
const (
	// DefaultSteps is the number of Adam updates: 500 at batch 128 is 64,000
	// examples, a little over one epoch of MNIST's 60,000.
	DefaultSteps = 500
	// DefaultBatchSize is the training batch size.
	DefaultBatchSize = 128
	// DefaultLearningRate is Adam's learning rate (Kingma & Ba 2015's default, 1e-3).
	DefaultLearningRate = 1e-3
	// DefaultConv1 and DefaultConv2 are the channels of the two 3×3 convolutions.
	DefaultConv1 = 32
	DefaultConv2 = 64
	// DefaultFeatureDim is the width of the penultimate (feature) layer.
	DefaultFeatureDim = 128
	// DefaultClasses is the number of classes (10 for MNIST and Fashion-MNIST).
	DefaultClasses = 10
	// DefaultEvalBatch is the batch size of Features and Predict.
	DefaultEvalBatch = 500
)

// ClassifierConfig configures the classifier and its training. A zero field means
// its default (the Default... constants); WithDefaults fills them in.
type ClassifierConfig struct {
	// Steps is the number of Adam updates, >= 1. Default DefaultSteps (500).
	Steps int `json:"steps"`
	// BatchSize is the training batch size, >= 1. Default DefaultBatchSize (128).
	BatchSize int `json:"batch_size"`
	// LearningRate is Adam's constant learning rate, > 0. Default DefaultLearningRate (1e-3).
	LearningRate float64 `json:"learning_rate"`
	// Seed seeds the weights' initialisation (GoMLX's model.ParamInitialSeed) and the
	// order of the batches (data.NewLoader). Default 0. Training on the pure-Go backend
	// with the same seed, data and config gives the same weights from the same matrix
	// kernels: its AVX2 and AVX-512 kernels round float32 sums differently, so an
	// AVX-512 machine trains other weights unless GOMLX_SIMD_AVX512=false (the AVX2
	// kernels, which gave the same weights on two machines); other backends differ again.
	Seed uint64 `json:"seed"`
	// Conv1 and Conv2 are the channels of the first and second 3×3 convolution, >= 1.
	// Defaults DefaultConv1 (32) and DefaultConv2 (64).
	Conv1 int `json:"conv1"`
	Conv2 int `json:"conv2"`
	// FeatureDim is the width F of the feature layer, >= 2. Default DefaultFeatureDim (128).
	FeatureDim int `json:"feature_dim"`
	// Classes is the number of classes K >= 2; labels must lie in [0, K).
	// Default DefaultClasses (10).
	Classes int `json:"classes"`
	// EvalBatch is the batch size of Features and Predict, >= 1. Default
	// DefaultEvalBatch (500). It does not change the weights and is not part of
	// the cache key.
	EvalBatch int `json:"-"`
	// Progress, when set, is called after every update with the step (1-based),
	// the number of steps and the batch's loss. Not part of the cache key.
	Progress func(step, steps int, loss float64) `json:"-"`
}

// WithDefaults returns c with every zero field set to its default.
func (c ClassifierConfig) WithDefaults() ClassifierConfig {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Steps, DefaultSteps)
	def(&c.BatchSize, DefaultBatchSize)
	def(&c.Conv1, DefaultConv1)
	def(&c.Conv2, DefaultConv2)
	def(&c.FeatureDim, DefaultFeatureDim)
	def(&c.Classes, DefaultClasses)
	def(&c.EvalBatch, DefaultEvalBatch)
	if c.LearningRate == 0 {
		c.LearningRate = DefaultLearningRate
	}
	return c
}

// Validate checks c after WithDefaults; the error names the field, its value and
// what is allowed.
func (c ClassifierConfig) Validate() error {
	c = c.WithDefaults()
	for _, f := range []struct {
		name   string
		v, min int
	}{
		{"Steps", c.Steps, 1}, {"BatchSize", c.BatchSize, 1}, {"Conv1", c.Conv1, 1},
		{"Conv2", c.Conv2, 1}, {"FeatureDim", c.FeatureDim, 2}, {"Classes", c.Classes, 2},
		{"EvalBatch", c.EvalBatch, 1},
	} {
		if f.v < f.min {
			return fmt.Errorf("features: ClassifierConfig.%s = %d, want >= %d (or 0 for the default)", f.name, f.v, f.min)
		}
	}
	if !(c.LearningRate > 0) || math.IsInf(c.LearningRate, 0) {
		return fmt.Errorf("features: ClassifierConfig.LearningRate = %v, want a finite value > 0 (or 0 for the default %v)", c.LearningRate, DefaultLearningRate)
	}
	return nil
}

// Classifier is a trained feature extractor. Its weights do not change after Train
// or LoadOrTrain; Features and Predict are safe to call one at a time (not
// concurrently).
type Classifier struct {
	// Config is the configuration the weights were trained with, defaults filled in.
	Config ClassifierConfig
	// Dataset is the name of the training dataset ("mnist", "fashion-mnist", or the
	// Name of the dataset given to Train).
	Dataset string
	// TestAccuracy is the accuracy on the dataset's test split, in [0, 1], when
	// LoadOrTrain measured it; -1 when unknown (Train alone does not measure it).
	TestAccuracy float64
	// TrainSeconds is the wall time of training (0 when loaded from the cache
	// and unknown).
	TrainSeconds float64

	backend compute.Backend
	store   *model.Store
	exec    *model.Exec
	names   []string          // variable paths, sorted
	weights []*tensors.Tensor // values, in the order of names
	hash    string
}

// modelScope is the scope under which the classifier's variables live.
const modelScope = "classifier"

// modelGraph builds the network for x [B, 28, 28, 1] and returns the features
// [B, FeatureDim] and the logits [B, Classes].
//
// The activation is ReLU, max(x, 0), not SiLU: on the pure-Go backend (GoMLX v0.28.1)
// the sigmoid of SiLU runs math.Exp per element and took 82% of a training step's
// CPU time in a profile (4-5 s per step at batch 128 under load), which ReLU removes.
func modelGraph(scope *model.Scope, c ClassifierConfig, x *graph.Node) (feats, logits *graph.Node) {
	scope = scope.In(modelScope)
	h := activation.Relu(models.Conv2D(scope.In("conv1"), x, c.Conv1, 3, 1))
	h = models.Downsample(scope, h, models.DownsampleAvgPool) // [B, 14, 14, Conv1]
	h = activation.Relu(models.Conv2D(scope.In("conv2"), h, c.Conv2, 3, 1))
	h = models.Downsample(scope, h, models.DownsampleAvgPool) // [B, 7, 7, Conv2]
	d := h.Shape().Dimensions
	h = graph.Reshape(h, d[0], d[1]*d[2]*d[3])
	feats = activation.Relu(models.Dense(scope.In("features"), h, c.FeatureDim))
	logits = models.Dense(scope.In("logits"), feats, c.Classes)
	return feats, logits
}

// Train trains a classifier on the labelled dataset ds (examples of shape
// ImageShape) for cfg.Steps Adam updates on the sparse categorical cross-entropy,
//
//	loss = -1/B sum_b log softmax(logits_b)[y_b]
//
// drawing batches with data.NewLoader(ds, cfg.BatchSize, cfg.Seed). It returns an
// error when cfg is invalid, ds has no labels, the wrong shape or a label outside
// [0, cfg.Classes), or the backend fails. The result's TestAccuracy is -1: measure
// it with Accuracy.
func Train(b compute.Backend, ds *data.Dataset, cfg ClassifierConfig) (*Classifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if err := checkDataset(ds, cfg.Classes); err != nil {
		return nil, err
	}
	loader, err := data.NewLoader(ds, cfg.BatchSize, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	start := time.Now()
	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(cfg.Seed))
	modelFn := func(scope *model.Scope, x *graph.Node) *graph.Node {
		_, logits := modelGraph(scope, cfg, x)
		return logits
	}
	var cls *Classifier
	err = exceptions.TryCatch[error](func() {
		tr := gtrain.NewTrainer(b, store, modelFn, loss.SparseCategoricalCrossEntropyLogits,
			optimizer.Adam().LearningRate(cfg.LearningRate).Done(), nil, nil)
		labels := make([]int32, cfg.BatchSize)
		for step := 1; step <= cfg.Steps; step++ {
			batch := loader.Next()
			for i, l := range batch.Labels {
				labels[i] = int32(l)
			}
			x := tensors.FromFlatDataAndDimensions(batch.X, batch.Shape...)
			y := tensors.FromFlatDataAndDimensions(slices.Clone(labels), cfg.BatchSize, 1)
			metrics, err := tr.TrainStep(gtrain.Batch{Inputs: []*tensors.Tensor{x}, Labels: []*tensors.Tensor{y}})
			if err != nil {
				panic(err)
			}
			if cfg.Progress != nil && len(metrics) > 0 {
				cfg.Progress(step, cfg.Steps, scalar(metrics[0]))
			}
			for _, m := range metrics {
				m.FinalizeAll()
			}
		}
		names, weights := modelWeights(store)
		if len(names) == 0 {
			panic(fmt.Errorf("no variables under /%s after training", modelScope))
		}
		cls, err = newClassifier(b, cfg, ds.Name, names, weights)
		if err != nil {
			panic(err)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("features: training on %q: %w", ds.Name, err)
	}
	cls.TrainSeconds = time.Since(start).Seconds()
	return cls, nil
}

// checkDataset checks that ds is a labelled set of 28×28×1 images with labels in [0, classes).
func checkDataset(ds *data.Dataset, classes int) error {
	if err := ds.Validate(); err != nil {
		return fmt.Errorf("features: %w", err)
	}
	if !slices.Equal(ds.Shape, ImageShape) {
		return fmt.Errorf("features: dataset %q has examples of shape %v, want %v", ds.Name, ds.Shape, ImageShape)
	}
	if ds.Labels == nil {
		return fmt.Errorf("features: dataset %q has no labels", ds.Name)
	}
	for i, l := range ds.Labels {
		if l < 0 || l >= classes {
			return fmt.Errorf("features: dataset %q: Labels[%d] = %d, want a class in [0, Classes = %d)", ds.Name, i, l, classes)
		}
	}
	return nil
}

// scalar reads a scalar float tensor as float64.
func scalar(t *tensors.Tensor) float64 {
	switch t.DType() {
	case dtypes.Float32:
		return float64(tensors.MustCopyFlatData[float32](t)[0])
	case dtypes.Float64:
		return tensors.MustCopyFlatData[float64](t)[0]
	}
	return math.NaN()
}

// modelWeights copies the classifier's variables (those under /classifier, not the
// optimizer's or the RNG's) out of store, sorted by path.
func modelWeights(store *model.Store) (names []string, weights []*tensors.Tensor) {
	prefix := model.ScopeSeparator + modelScope + model.ScopeSeparator
	byName := map[string]*tensors.Tensor{}
	for v := range store.IterVariables() {
		if !strings.HasPrefix(v.Path(), prefix) {
			continue
		}
		t, err := v.MustValue().LocalClone()
		if err != nil {
			panic(err)
		}
		names = append(names, v.Path())
		byName[v.Path()] = t
	}
	slices.Sort(names)
	for _, n := range names {
		weights = append(weights, byName[n])
	}
	return names, weights
}

// newClassifier builds an inference classifier over the given weights: a fresh
// store holding exactly them, and the feature/logit graph.
func newClassifier(b compute.Backend, cfg ClassifierConfig, dataset string, names []string, weights []*tensors.Tensor) (*Classifier, error) {
	c := &Classifier{Config: cfg, Dataset: dataset, TestAccuracy: -1, backend: b, names: names, weights: weights}
	c.hash = weightsHash(names, weights)
	c.store = model.NewStore()
	for i, n := range names {
		w, err := weights[i].LocalClone() // the store's own copy: c.weights stay untouched
		if err != nil {
			return nil, err
		}
		c.store.VariableWithValue(n, w)
	}
	var err error
	c.exec, err = model.NewExec(b, c.store, func(scope *model.Scope, x *graph.Node) (*graph.Node, *graph.Node) {
		return modelGraph(scope, cfg, x)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// weightsHash is the hex sha256 of, for each variable in path order, its path, its
// dtype and dimensions and its raw little-endian bytes. Two classifiers have the
// same hash exactly when they compute the same function with the same weights.
func weightsHash(names []string, weights []*tensors.Tensor) string {
	h := sha256.New()
	var buf [8]byte
	for i, n := range names {
		sh := weights[i].Shape()
		fmt.Fprintf(h, "%s\x00%s\x00", n, sh.DType)
		for _, d := range sh.Dimensions {
			binary.LittleEndian.PutUint64(buf[:], uint64(d))
			h.Write(buf[:])
		}
		if err := weights[i].ConstBytes(func(b []byte) { h.Write(b) }); err != nil {
			panic(err) // local tensors created by this package: cannot fail
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Hash identifies the extractor: the first 16 hex digits of the sha256 of its
// weights (see weightsHash for exactly what is hashed). Store it with every FID,
// KID, precision or recall: those numbers are comparable only under one extractor.
func (c *Classifier) Hash() string { return c.hash[:16] }

// NumParameters is the number of scalar weights.
func (c *Classifier) NumParameters() int {
	n := 0
	for _, w := range c.weights {
		n += w.Shape().Size()
	}
	return n
}

// run applies the network to n images (n*784 values), in batches of
// Config.EvalBatch; the last batch is padded with zeros so that one compiled graph
// serves every call. It calls emit with each batch's features and logits for the
// rows [lo, hi).
func (c *Classifier) run(images []float32, n int, emit func(lo, hi int, feats, logits []float32)) error {
	if n < 1 || len(images) != n*imageSize {
		return fmt.Errorf("features: %d values for n = %d images, want n >= 1 and n*%d values (images of shape %v)", len(images), n, imageSize, ImageShape)
	}
	bs := c.Config.EvalBatch
	buf := make([]float32, bs*imageSize)
	return exceptions.TryCatch[error](func() {
		for lo := 0; lo < n; lo += bs {
			hi := min(lo+bs, n)
			clear(buf)
			copy(buf, images[lo*imageSize:hi*imageSize])
			x := tensors.FromFlatDataAndDimensions(buf, bs, 28, 28, 1)
			out := c.exec.MustExec(x)
			x.FinalizeAll()
			if got := c.store.NumVariables(); got != len(c.names) {
				// The graph asked for a variable the weights lack: it was
				// initialised at random instead of loaded. Never return its output.
				panic(fmt.Errorf("features: the network has %d variables but the classifier holds %d weights (config and weights disagree)", got, len(c.names)))
			}
			emit(lo, hi, tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1]))
			out[0].FinalizeAll()
			out[1].FinalizeAll()
		}
	})
}

// Features returns the penultimate activations (after the ReLU of the feature
// layer) of n images laid out as in data.Dataset.X (each 28×28×1, values in
// [-1, 1]): n rows of Config.FeatureDim values. It returns an error when
// len(images) != n*784 or the backend fails. The same input always gives the same
// output.
func (c *Classifier) Features(images []float32, n int) ([][]float64, error) {
	feats, _, err := c.outputs(images, n)
	return feats, err
}

// Predict returns the most likely class (argmax of the logits; the lowest index on
// ties) of each of n images. Errors are as for Features.
func (c *Classifier) Predict(images []float32, n int) ([]int, error) {
	probs, err := c.Probs(images, n)
	if err != nil {
		return nil, err
	}
	return argmax(probs), nil
}

// Probs returns the class probabilities p(y|x) = softmax(logits) of each of n images:
// n rows of Config.Classes values summing to 1. Errors are as for Features.
func (c *Classifier) Probs(images []float32, n int) ([][]float64, error) {
	var probs [][]float64
	err := c.run(images, n, func(lo, hi int, _, logits []float32) {
		probs = append(probs, softmaxRows(logits[:(hi-lo)*c.Config.Classes], c.Config.Classes)...)
	})
	if err != nil {
		return nil, err
	}
	return probs, nil
}

// outputs returns Features and Probs of n images from one pass of the network.
func (c *Classifier) outputs(images []float32, n int) (feats, probs [][]float64, err error) {
	f, k := c.Config.FeatureDim, c.Config.Classes
	feats = make([][]float64, 0, max(n, 0)) // run rejects n < 1
	flat := make([]float64, max(n, 0)*f)
	err = c.run(images, n, func(lo, hi int, fb, logits []float32) {
		for i := lo; i < hi; i++ {
			row := flat[i*f : (i+1)*f : (i+1)*f]
			for j, v := range fb[(i-lo)*f : (i-lo+1)*f] {
				row[j] = float64(v)
			}
			feats = append(feats, row)
		}
		probs = append(probs, softmaxRows(logits[:(hi-lo)*k], k)...)
	})
	if err != nil {
		return nil, nil, err
	}
	return feats, probs, nil
}

// softmaxRows is softmax over each row of k logits, in float64 and shifted by the
// row's maximum so that no exponential overflows.
func softmaxRows(logits []float32, k int) [][]float64 {
	out := make([][]float64, len(logits)/k)
	for i := range out {
		row := logits[i*k : (i+1)*k]
		m := row[0]
		for _, v := range row[1:] {
			m = max(m, v)
		}
		p := make([]float64, k)
		var s float64
		for j, v := range row {
			p[j] = fastmath.Exp(float64(v - m))
			s += p[j]
		}
		for j := range p {
			p[j] /= s
		}
		out[i] = p
	}
	return out
}

// argmax returns each row's index of its largest value, the lowest index on ties.
func argmax(rows [][]float64) []int {
	out := make([]int, len(rows))
	for i, row := range rows {
		for j, v := range row {
			if v > row[out[i]] {
				out[i] = j
			}
		}
	}
	return out
}

// Accuracy is the fraction of ds's examples whose predicted class equals the label.
// It returns an error when ds is not a labelled set of 28×28×1 images with labels
// in [0, Classes).
func (c *Classifier) Accuracy(ds *data.Dataset) (float64, error) {
	if err := checkDataset(ds, c.Config.Classes); err != nil {
		return 0, err
	}
	pred, err := c.Predict(ds.X, ds.Len())
	if err != nil {
		return 0, err
	}
	right := 0
	for i, p := range pred {
		if p == ds.Labels[i] {
			right++
		}
	}
	return float64(right) / float64(len(pred)), nil
}

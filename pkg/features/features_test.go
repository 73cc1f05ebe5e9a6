package features

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gomlx/compute"

	"github.com/difflab/difflab/pkg/backend"
	"github.com/difflab/difflab/pkg/data"
	"github.com/difflab/difflab/pkg/metrics"
)

func testBackend(t testing.TB) compute.Backend {
	t.Helper()
	b, err := backend.New()
	if err != nil {
		t.Fatalf("backend.New() = %v", err)
	}
	return b
}

// squares is a two-class dataset of n 28×28×1 images: background -1 plus N(0, 0.1²)
// noise, and a 7×7 square of value 1 in the top-left corner (class 0) or the
// bottom-right corner (class 1), alternating. Seeded.
func squares(n int, seed uint64) *data.Dataset {
	rng := rand.New(rand.NewPCG(seed, 1))
	d := &data.Dataset{Name: "squares", Shape: slices.Clone(ImageShape), X: make([]float32, n*imageSize), Labels: make([]int, n)}
	for i := range n {
		img := d.X[i*imageSize : (i+1)*imageSize]
		for j := range img {
			img[j] = float32(-1 + 0.1*rng.NormFloat64())
		}
		c := i % 2
		d.Labels[i] = c
		off := 3 + 15*c
		for y := off; y < off+7; y++ {
			for x := off; x < off+7; x++ {
				img[y*28+x] = 1
			}
		}
	}
	return d
}

// smallConfig trains a narrow network on squares in about a second.
var smallConfig = ClassifierConfig{Steps: 30, BatchSize: 16, Conv1: 4, Conv2: 8, FeatureDim: 16, Classes: 2, Seed: 7, EvalBatch: 50}

var (
	smallOnce sync.Once
	smallCls  *Classifier
	smallErr  error
)

// trainedSmall trains smallConfig on 200 squares once per test binary.
func trainedSmall(t *testing.T) *Classifier {
	t.Helper()
	smallOnce.Do(func() { smallCls, smallErr = Train(testBackend(t), squares(200, 1), smallConfig) })
	if smallErr != nil {
		t.Fatalf("Train(squares) = %v", smallErr)
	}
	return smallCls
}

func TestTrainSquares(t *testing.T) {
	c := trainedSmall(t)
	acc, err := c.Accuracy(squares(100, 2))
	if err != nil {
		t.Fatal(err)
	}
	if acc != 1 {
		t.Errorf("Accuracy(held-out squares) = %v, want 1", acc)
	}
	if c.TestAccuracy != -1 {
		t.Errorf("TestAccuracy = %v after Train alone, want -1 (unknown)", c.TestAccuracy)
	}
	if h := c.Hash(); len(h) != 16 {
		t.Errorf("Hash() = %q, want 16 hex digits", h)
	}
}

// TestTrainSeeded checks that the same seed gives the same weights and another seed
// other weights.
func TestTrainSeeded(t *testing.T) {
	c := trainedSmall(t)
	b := testBackend(t)
	cfg := smallConfig
	cfg.Steps = 3
	ds := squares(200, 1)
	h := func(cfg ClassifierConfig) string {
		t.Helper()
		c, err := Train(b, ds, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c.Hash()
	}
	h1, h2 := h(cfg), h(cfg)
	if h1 != h2 {
		t.Errorf("two trainings with seed %d: hashes %s and %s, want equal", cfg.Seed, h1, h2)
	}
	cfg.Seed++
	if h3 := h(cfg); h3 == h1 {
		t.Errorf("seeds %d and %d gave the same hash %s", cfg.Seed-1, cfg.Seed, h1)
	}
	if h1 == c.Hash() {
		t.Errorf("3 and 30 steps gave the same hash %s", h1)
	}
}

func TestFeaturesDeterministicAndBatched(t *testing.T) {
	c := trainedSmall(t)
	ds := squares(120, 3) // 120 = 2 full batches of 50 and a padded one of 20
	f1, err := c.Features(ds.X, ds.Len())
	if err != nil {
		t.Fatal(err)
	}
	f2, err := c.Features(ds.X, ds.Len())
	if err != nil {
		t.Fatal(err)
	}
	if len(f1) != 120 || len(f1[0]) != smallConfig.FeatureDim {
		t.Fatalf("Features: %d rows of %d, want 120 rows of %d", len(f1), len(f1[0]), smallConfig.FeatureDim)
	}
	for i := range f1 {
		if !slices.Equal(f1[i], f2[i]) {
			t.Fatalf("Features row %d differs between two calls: %v vs %v", i, f1[i][:4], f2[i][:4])
		}
	}
	// A row must not depend on its batch or on padding: image 110 alone (padded
	// batch of 1) equals row 110 of the full call, up to float32 summation order.
	one, err := c.Features(ds.Example(110), 1)
	if err != nil {
		t.Fatal(err)
	}
	for j, v := range one[0] {
		if math.Abs(v-f1[110][j]) > 1e-5*(1+math.Abs(v)) {
			t.Fatalf("Features(image 110 alone)[%d] = %v, in a batch %v", j, v, f1[110][j])
		}
	}
	if _, err := c.Features(ds.X[:100], 2); err == nil {
		t.Error("Features with 100 values for 2 images: no error")
	}
}

func TestCacheRoundTrip(t *testing.T) {
	c := trainedSmall(t)
	path := filepath.Join(t.TempDir(), "sub", "c"+cacheExt)
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	l, err := Load(testBackend(t), path)
	if err != nil {
		t.Fatal(err)
	}
	if l.Hash() != c.Hash() {
		t.Errorf("loaded Hash() = %s, saved %s", l.Hash(), c.Hash())
	}
	// EvalBatch is not saved (it does not change the weights); the float32 sums of
	// a matrix product may round differently at another batch size, so compare at
	// the same one, bit for bit.
	if l.Config.EvalBatch != DefaultEvalBatch {
		t.Errorf("loaded EvalBatch = %d, want the default %d", l.Config.EvalBatch, DefaultEvalBatch)
	}
	l.Config.EvalBatch = c.Config.EvalBatch
	ds := squares(60, 4)
	f1, _ := c.Features(ds.X, ds.Len())
	f2, err := l.Features(ds.X, ds.Len())
	if err != nil {
		t.Fatal(err)
	}
	for i := range f1 {
		if !slices.Equal(f1[i], f2[i]) {
			t.Fatalf("loaded Features row %d = %v, saved model gives %v", i, f2[i][:4], f1[i][:4])
		}
	}
	if l.Config.Classes != 2 || l.Dataset != "squares" {
		t.Errorf("loaded Config.Classes = %d, Dataset = %q; want 2, squares", l.Config.Classes, l.Dataset)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("cache folder holds %d entries, want only the cache file (no temporary left)", len(ents))
	}
}

func TestCacheCorrupt(t *testing.T) {
	c := trainedSmall(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "c"+cacheExt)
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	cases := []struct {
		name string
		edit func([]byte) []byte
		want string
	}{
		{"flipped weight byte", func(b []byte) []byte { b[len(b)-3] ^= 0x40; return b }, "weights sha256"},
		{"truncated", func(b []byte) []byte { return b[:len(b)-10] }, "does not fit"},
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }, "does not start with"},
		{"empty", func(b []byte) []byte { return nil }, "does not start with"},
		{"garbage header", func(b []byte) []byte { b[20] = '#'; return b }, "header"},
	}
	for _, tc := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+cacheExt)
		if err := os.WriteFile(p, tc.edit(slices.Clone(good)), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(testBackend(t), p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "delete it to retrain") {
			t.Errorf("%s: Load = %v, want an error naming the file, %q and how to fix it", tc.name, err, tc.want)
		}
	}
	if _, err := Load(testBackend(t), filepath.Join(dir, "missing"+cacheExt)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want an error wrapping os.ErrNotExist", err)
	}
}

// TestLoadOrTrainCorruptIsError: LoadOrTrain reports a damaged cache file instead
// of training over it (training would need MNIST, which this test never reaches).
func TestLoadOrTrainCorruptIsError(t *testing.T) {
	dir := t.TempDir()
	cfg := ClassifierConfig{Steps: 1}
	path := CachePath(dir, "mnist", cfg)
	if err := os.WriteFile(path, []byte("not a cache"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrTrain(testBackend(t), "mnist", dir, cfg)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadOrTrain over a corrupt cache = %v, want an error naming %s", err, path)
	}
}

func TestCacheKey(t *testing.T) {
	base := CacheKey("mnist", ClassifierConfig{})
	if k := CacheKey("mnist", ClassifierConfig{Steps: DefaultSteps, BatchSize: DefaultBatchSize, EvalBatch: 7}); k != base {
		t.Errorf("explicit defaults and EvalBatch changed the key: %s vs %s", k, base)
	}
	for name, k := range map[string]string{
		"dataset": CacheKey("fashion-mnist", ClassifierConfig{}),
		"seed":    CacheKey("mnist", ClassifierConfig{Seed: 1}),
		"steps":   CacheKey("mnist", ClassifierConfig{Steps: 1}),
	} {
		if k == base {
			t.Errorf("changing %s left the key at %s", name, base)
		}
	}
	p := CachePath("", "mnist", ClassifierConfig{})
	if want := filepath.Join(DefaultCacheDir, "mnist-"+base+cacheExt); p != want {
		t.Errorf("CachePath = %s, want %s", p, want)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (ClassifierConfig{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	for _, tc := range []struct {
		cfg  ClassifierConfig
		want string
	}{
		{ClassifierConfig{Steps: -1}, "ClassifierConfig.Steps = -1"},
		{ClassifierConfig{Classes: 1}, "ClassifierConfig.Classes = 1"},
		{ClassifierConfig{LearningRate: -1e-3}, "ClassifierConfig.LearningRate = -0.001"},
		{ClassifierConfig{LearningRate: math.NaN()}, "ClassifierConfig.LearningRate = NaN"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestTrainRejectsBadData(t *testing.T) {
	b := testBackend(t)
	ds := squares(10, 1)
	ds.Labels[3] = 5
	if _, err := Train(b, ds, smallConfig); err == nil || !strings.Contains(err.Error(), "Labels[3] = 5") {
		t.Errorf("Train with label 5 of 2 classes = %v", err)
	}
	ds = squares(10, 1)
	ds.Labels = nil
	if _, err := Train(b, ds, smallConfig); err == nil || !strings.Contains(err.Error(), "no labels") {
		t.Errorf("Train without labels = %v", err)
	}
}

// TestEvalImagesSquares runs EvalImages on the small classifier: two real sets from
// the same distribution are close, real vs noise far, and all-class-0 "generated"
// images give a one-class histogram.
func TestEvalImagesSquares(t *testing.T) {
	c := trainedSmall(t)
	a, b := squares(200, 10), squares(200, 11)
	same, cs, err := EvalImages(c, a.X, b.X, 200, 1)
	if err != nil {
		t.Fatal(err)
	}
	noise := make([]float32, len(a.X))
	rng := rand.New(rand.NewPCG(5, 5))
	for i := range noise {
		noise[i] = float32(2*rng.Float64() - 1)
	}
	far, _, err := EvalImages(c, noise, b.X, 200, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"fid", "kid", "precision", "recall", "is", "confident"} {
		r, ok := same[k]
		if !ok {
			t.Fatalf("EvalImages: no %q", k)
		}
		if r.Params["extractor"] != c.Hash() {
			t.Errorf("%s Params[extractor] = %v, want %s", k, r.Params["extractor"], c.Hash())
		}
	}
	t.Logf("squares: real-real fid %.4g kid %.4g P %.3f R %.3f; noise-real fid %.4g kid %.4g P %.3f R %.3f",
		same["fid"].Value, same["kid"].Value, same["precision"].Value, same["recall"].Value,
		far["fid"].Value, far["kid"].Value, far["precision"].Value, far["recall"].Value)
	if !(far["fid"].Value > 10*same["fid"].Value) || !(far["kid"].Value > 10*math.Abs(same["kid"].Value)) {
		t.Errorf("fid/kid real-real %v/%v, noise-real %v/%v: want noise 10x farther", same["fid"].Value, same["kid"].Value, far["fid"].Value, far["kid"].Value)
	}
	if same["precision"].Value < 0.8 || same["recall"].Value < 0.8 || far["precision"].Value > 0.2 {
		t.Errorf("precision/recall real-real %v/%v, noise precision %v", same["precision"].Value, same["recall"].Value, far["precision"].Value)
	}
	// "is" and "confident" are the metrics of the generated set's Probs (this small
	// classifier is accurate but not confident: both are checked on MNIST below).
	probs, err := c.Probs(a.X, 200)
	if err != nil {
		t.Fatal(err)
	}
	if is, want := same["is"].Value, metrics.ClassifierScore(probs).Value; is != want || is < 1 || is > 2 {
		t.Errorf("real squares: is = %v, want ClassifierScore(Probs) = %v in [1, 2]", is, want)
	}
	if conf, want := same["confident"].Value, metrics.Confident(probs, 0).Value; conf != want {
		t.Errorf("real squares: confident = %v, want Confident(Probs) = %v", conf, want)
	}
	if math.Abs(cs.Hist[0]-0.5) > 1e-12 || cs.Missing != 0 {
		t.Errorf("class histogram of alternating squares = %v, want [0.5 0.5]", cs.Hist)
	}
	zeros := squares(200, 12)
	for i := 1; i < 200; i += 2 { // make every image class 0
		copy(zeros.Example(i), zeros.Example(i-1))
	}
	_, cs, err = EvalImages(c, zeros.X, b.X, 200, 1)
	if err != nil {
		t.Fatal(err)
	}
	if cs.Hist[0] != 1 || cs.Missing != 1 {
		t.Errorf("class histogram of class-0 squares = %v (missing %d), want [1 0] (missing 1)", cs.Hist, cs.Missing)
	}
	one, _, err := EvalImages(c, zeros.X, b.X, 200, 1)
	if err != nil {
		t.Fatal(err)
	}
	if is := one["is"].Value; !(is < same["is"].Value) {
		t.Errorf("one-class squares: is = %v, want below the two-class %v (no diversity)", is, same["is"].Value)
	}
	if _, _, err := EvalImages(c, a.X, b.X[:784], 200, 1); err == nil {
		t.Error("EvalImages with a short real set: no error")
	}
}

// TestProbs: each row of Probs is a distribution, and Predict is its argmax.
func TestProbs(t *testing.T) {
	c := trainedSmall(t)
	a := squares(37, 3) // not a multiple of EvalBatch: the padded last batch is cut off
	probs, err := c.Probs(a.X, a.Len())
	if err != nil {
		t.Fatal(err)
	}
	pred, err := c.Predict(a.X, a.Len())
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != a.Len() {
		t.Fatalf("Probs gave %d rows for %d images", len(probs), a.Len())
	}
	for i, row := range probs {
		var s float64
		best := 0
		for j, p := range row {
			if !(p >= 0) {
				t.Fatalf("Probs[%d][%d] = %v", i, j, p)
			}
			s += p
			if p > row[best] {
				best = j
			}
		}
		if math.Abs(s-1) > 1e-9 || best != pred[i] {
			t.Errorf("Probs[%d] = %v (sum %v), Predict = %d", i, row, s, pred[i])
		}
	}
	if _, err := c.Probs(a.X[:100], 1); err == nil {
		t.Error("Probs with a short image: no error")
	}
	for _, n := range []int{0, -1} {
		if _, err := c.Features(a.X, n); err == nil {
			t.Errorf("Features with n = %d: no error", n)
		}
		if _, err := c.Probs(a.X, n); err == nil {
			t.Errorf("Probs with n = %d: no error", n)
		}
	}
}

// MNIST: trained once per test binary, in a temporary cache, for the non-short tests.
var (
	mnistOnce sync.Once
	mnistCls  *Classifier
	mnistErr  error
)

func trainedMNIST(t *testing.T) *Classifier {
	t.Helper()
	if testing.Short() {
		t.Skip("trains on MNIST (minutes); skipped with -short")
	}
	if _, err := data.LoadMNIST("", data.Test); err != nil {
		t.Skipf("MNIST not found: %v", err)
	}
	mnistOnce.Do(func() {
		dir := os.Getenv("DIFFLAB_FEATURES_CACHE") // reuse weights between runs when set
		if dir == "" {
			dir, mnistErr = os.MkdirTemp("", "difflab-features-*")
			if mnistErr != nil {
				return
			}
		}
		start := time.Now()
		mnistCls, mnistErr = LoadOrTrain(testBackend(t), "mnist", dir, ClassifierConfig{})
		t.Logf("LoadOrTrain(mnist) in %v (training %.1f s), %d parameters, test accuracy %.4f, hash %s",
			time.Since(start).Round(time.Millisecond), mnistCls.TrainSeconds, mnistCls.NumParameters(), mnistCls.TestAccuracy, mnistCls.Hash())
	})
	if mnistErr != nil {
		t.Fatal(mnistErr)
	}
	return mnistCls
}

func TestMNISTAccuracy(t *testing.T) {
	c := trainedMNIST(t)
	if c.TestAccuracy < 0.95 {
		t.Errorf("MNIST test accuracy = %.4f, want > 0.95", c.TestAccuracy)
	}
}

// TestMNISTEvalImages: FID between two disjoint halves of MNIST's test split (even
// and odd indices, so both are draws from one distribution) against FID between
// uniform noise and real images, in the classifier's feature space. (Contiguous
// halves are not equally distributed: MNIST's first 5000 test images come from
// other writers than the last 5000, and their FID is visibly larger.)
func TestMNISTEvalImages(t *testing.T) {
	c := trainedMNIST(t)
	test, err := data.LoadMNIST("", data.Test)
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	a, b := make([]float32, 0, n*imageSize), make([]float32, 0, n*imageSize)
	for i := range 2 * n {
		if i%2 == 0 {
			a = append(a, test.Example(i)...)
		} else {
			b = append(b, test.Example(i)...)
		}
	}
	start := time.Now()
	same, cs, err := EvalImages(c, a, b, n, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("EvalImages(real, real), n = %d: %v", n, time.Since(start).Round(time.Millisecond))
	noise := make([]float32, n*imageSize)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = float32(2*rng.Float64() - 1)
	}
	far, _, err := EvalImages(c, noise, b, n, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"fid", "kid", "precision", "recall", "is", "confident"} {
		t.Logf("%-9s real-vs-real %-50v noise-vs-real %v", k, same[k], far[k])
	}
	t.Logf("class histogram of the even half: %.3f (entropy %.4f, TV to uniform %.4f)", cs.Hist, cs.Entropy, cs.TVUniform)
	if !(same["fid"].Value < 0.01*far["fid"].Value) {
		t.Errorf("FID real-vs-real = %v, noise-vs-real = %v; want real-vs-real < 1%% of noise", same["fid"].Value, far["fid"].Value)
	}
	if k := same["kid"]; math.Abs(k.Value) > 4*k.Std+0.01*far["kid"].Value {
		t.Errorf("KID real-vs-real = %v ± %v, want 0 within 4 std (noise-vs-real %v)", k.Value, k.Std, far["kid"].Value)
	}
	// A classifier right on > 95% of test digits reads real digits as one class each.
	if is, conf := same["is"].Value, same["confident"].Value; is < 8.5 || conf < 0.9 {
		t.Errorf("real MNIST: is = %v, confident = %v; want is >= 8.5 (of 10) and confident >= 0.9", is, conf)
	}
	if cs.Missing != 0 || cs.TVUniform > 0.05 {
		t.Errorf("class histogram of MNIST test images %v: want all ten classes, near uniform", cs.Hist)
	}
}

// BenchmarkFeatures measures feature extraction (batches of 500) on MNIST test images.
func BenchmarkFeatures(b *testing.B) {
	if _, err := data.LoadMNIST("", data.Test); err != nil {
		b.Skipf("MNIST not found: %v", err)
	}
	c := smallForBench(b)
	test, _ := data.LoadMNIST("", data.Test)
	const n = 2000
	x := test.X[:n*imageSize]
	if _, err := c.Features(x, n); err != nil { // compile outside the timing
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Features(x, n); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
}

// smallForBench builds a default-size classifier with one training step: the
// timing of Features does not depend on the weights' values.
func smallForBench(b *testing.B) *Classifier {
	b.Helper()
	c, err := Train(testBackend(b), squares(200, 1), ClassifierConfig{Steps: 1, Classes: 10})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// TestConfigWeightsMismatch: a classifier whose config asks for layers its weights
// lack must fail rather than compute with random weights.
func TestConfigWeightsMismatch(t *testing.T) {
	c := trainedSmall(t)
	// The logits layer's two weights are missing: GoMLX would initialise them.
	bad, err := newClassifier(testBackend(t), c.Config, c.Dataset, c.names[:len(c.names)-2], c.weights[:len(c.weights)-2])
	if err == nil {
		_, err = bad.Features(squares(2, 1).X, 2)
	}
	if err == nil || !strings.Contains(err.Error(), "config and weights disagree") {
		t.Errorf("Features with two weights missing = %v, want a disagreement error", err)
	}
	// Other shapes than the weights': GoMLX refuses to reuse the variables.
	cfg := c.Config
	cfg.FeatureDim++
	bad, err = newClassifier(testBackend(t), cfg, c.Dataset, c.names, c.weights)
	if err == nil {
		_, err = bad.Features(squares(2, 1).X, 2)
	}
	if err == nil {
		t.Error("Features with FeatureDim+1 over the weights: no error")
	}
}

// BenchmarkTrainStep times Train's updates at the default sizes and batch 128 on
// synthetic images (the time per update does not depend on the pixels).
func BenchmarkTrainStep(b *testing.B) {
	be := testBackend(b)
	ds := squares(512, 1)
	if _, err := Train(be, ds, ClassifierConfig{Steps: 1, Classes: 10}); err != nil { // compile and warm up
		b.Fatal(err)
	}
	const steps = 10
	b.ResetTimer()
	for b.Loop() {
		if _, err := Train(be, ds, ClassifierConfig{Steps: steps, Classes: 10}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(steps*b.N), "s/step")
}

// TestDatasetsHaveTheClassifiersShape: every name in Datasets loads as labelled
// images of ImageShape with labels in [0, DefaultClasses).
func TestDatasetsHaveTheClassifiersShape(t *testing.T) {
	for _, name := range Datasets {
		ds, err := data.Load(name, data.Options{Split: data.Test})
		if err != nil {
			t.Logf("%s not installed here: %v", name, err)
			continue
		}
		if err := checkDataset(ds, DefaultClasses); err != nil {
			t.Errorf("Datasets holds %q, but: %v", name, err)
		}
	}
}

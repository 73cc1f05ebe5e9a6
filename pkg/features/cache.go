package features

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/difflab/difflab/pkg/data"
)

// DefaultCacheDir is where LoadOrTrain keeps weights when its cacheDir is "".
const DefaultCacheDir = "runs/cache/features"

// Cache file layout. One file per (dataset, config) holds everything, so that one
// rename publishes it atomically:
//
//	cacheMagic (8 bytes) | header length L (uint64, little-endian) | header (L bytes of JSON) | tensor bytes
//
// The header (cacheHeader) indexes the tensors, which follow one after the other as
// raw little-endian values, and holds the full sha256 of the weights (weightsHash),
// checked on every load.
const (
	cacheMagic   = "DLFEAT01"
	cacheFormat  = "difflab-features"
	cacheVersion = 1
	cacheExt     = ".dlfeat"
	// maxHeader bounds the header length read from a file, against garbage.
	maxHeader = 1 << 20
)

// cacheHeader is the JSON header of a cache file.
type cacheHeader struct {
	Format        string           `json:"format"`
	Version       int              `json:"version"`
	Architecture  string           `json:"architecture"`
	Dataset       string           `json:"dataset"`
	Key           string           `json:"key"`
	Config        ClassifierConfig `json:"config"`
	TestAccuracy  float64          `json:"test_accuracy"`
	TrainSeconds  float64          `json:"train_seconds"`
	Created       string           `json:"created"`
	WeightsSHA256 string           `json:"weights_sha256"`
	Tensors       []cacheTensor    `json:"tensors"`
}

// cacheTensor locates one variable's bytes after the header.
type cacheTensor struct {
	Path   string `json:"path"`
	DType  string `json:"dtype"`
	Shape  []int  `json:"shape"`
	Offset int64  `json:"offset"`
	Size   int64  `json:"size"`
}

// CacheKey is the key of a classifier trained on dataset with cfg: the first 12 hex
// digits of the sha256 of the JSON of {Architecture, dataset, cfg with defaults}
// (EvalBatch and Progress, which do not change the weights, are left out).
func CacheKey(dataset string, cfg ClassifierConfig) string {
	b, err := json.Marshal(struct {
		Architecture string           `json:"architecture"`
		Dataset      string           `json:"dataset"`
		Config       ClassifierConfig `json:"config"`
	}{Architecture, dataset, cfg.WithDefaults()})
	if err != nil {
		panic(err) // a struct of numbers and strings always marshals
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])[:12]
}

// CachePath is the file LoadOrTrain uses for dataset and cfg under cacheDir ("" means
// DefaultCacheDir): <cacheDir>/<dataset>-<CacheKey>.dlfeat.
func CachePath(cacheDir, dataset string, cfg ClassifierConfig) string {
	if cacheDir == "" {
		cacheDir = DefaultCacheDir
	}
	return filepath.Join(cacheDir, dataset+"-"+CacheKey(dataset, cfg)+cacheExt)
}

// Datasets are the datasets LoadOrTrain trains a classifier on: the labelled
// image datasets of data.Load whose examples have ImageShape.
var Datasets = []string{"fashion-mnist", "mnist"}

// LoadOrTrain returns the classifier for the named dataset (one of Datasets,
// loaded with data.Load from its default place) and cfg: loaded
// from CachePath(cacheDir, dataset, cfg) when that file exists, otherwise trained
// with Train on the train split, measured on the test split (TestAccuracy), and
// saved there (the folder is created; the file is written under a temporary name,
// synced and renamed, so a reader sees either the whole file or none).
//
// A cache file that exists but cannot be read back exactly (bad magic, header or
// size, a weights checksum that does not match, a config or architecture other than
// the one asked for) is an error naming the file: LoadOrTrain does not silently
// retrain over it, since a damaged cache is worth knowing about. Delete the file to
// retrain.
func LoadOrTrain(b compute.Backend, dataset string, cacheDir string, cfg ClassifierConfig) (*Classifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	path := CachePath(cacheDir, dataset, cfg)
	c, err := Load(b, path)
	if err == nil {
		if c.Dataset != dataset || CacheKey(dataset, c.Config) != CacheKey(dataset, cfg) {
			return nil, fmt.Errorf("features: cache file %s holds a classifier for %q with key %s, want %q with key %s; delete it to retrain",
				path, c.Dataset, CacheKey(c.Dataset, c.Config), dataset, CacheKey(dataset, cfg))
		}
		c.Config.EvalBatch, c.Config.Progress = cfg.EvalBatch, cfg.Progress
		return c, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	train, err := data.Load(dataset, data.Options{Split: data.Train})
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	test, err := data.Load(dataset, data.Options{Split: data.Test})
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	c, err = Train(b, train, cfg)
	if err != nil {
		return nil, err
	}
	c.Dataset = dataset
	if c.TestAccuracy, err = c.Accuracy(test); err != nil {
		return nil, err
	}
	if err := c.Save(path); err != nil {
		return nil, err
	}
	return c, nil
}

// Save writes the classifier to path atomically (temporary file in the same
// folder, fsync, rename, fsync of the folder), creating the folder if needed.
func (c *Classifier) Save(path string) error {
	h := cacheHeader{
		Format: cacheFormat, Version: cacheVersion, Architecture: Architecture,
		Dataset: c.Dataset, Key: CacheKey(c.Dataset, c.Config), Config: c.Config,
		TestAccuracy: c.TestAccuracy, TrainSeconds: c.TrainSeconds,
		Created: time.Now().UTC().Format(time.RFC3339), WeightsSHA256: c.hash,
	}
	var body bytes.Buffer
	for i, n := range c.names {
		sh := c.weights[i].Shape()
		off := int64(body.Len())
		if err := c.weights[i].ConstBytes(func(b []byte) { body.Write(b) }); err != nil {
			return fmt.Errorf("features: saving %s: %w", n, err)
		}
		h.Tensors = append(h.Tensors, cacheTensor{Path: n, DType: sh.DType.String(), Shape: slices.Clone(sh.Dimensions),
			Offset: off, Size: int64(body.Len()) - off})
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("features: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("features: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("features: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hb)))
	for _, part := range [][]byte{[]byte(cacheMagic), lenBuf[:], hb, body.Bytes()} {
		if _, err := f.Write(part); err != nil {
			f.Close()
			return fmt.Errorf("features: writing %s: %w", tmp, err)
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("features: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("features: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("features: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Load reads a classifier written by Save. A missing file gives an error that
// wraps os.ErrNotExist; any other problem an error naming the file and what is
// wrong with it (see LoadOrTrain).
func Load(b compute.Backend, path string) (*Classifier, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("features: cache file %s is corrupt: %s; delete it to retrain", path, fmt.Sprintf(format, args...))
	}
	if len(raw) < len(cacheMagic)+8 || string(raw[:len(cacheMagic)]) != cacheMagic {
		return nil, bad("it does not start with %q", cacheMagic)
	}
	hl := binary.LittleEndian.Uint64(raw[len(cacheMagic):])
	rest := raw[len(cacheMagic)+8:]
	if hl > maxHeader || hl > uint64(len(rest)) {
		return nil, bad("header length %d exceeds the file", hl)
	}
	var h cacheHeader
	dec := json.NewDecoder(bytes.NewReader(rest[:hl]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return nil, bad("header: %v", err)
	}
	if h.Format != cacheFormat || h.Version != cacheVersion {
		return nil, bad("format %q version %d, want %q version %d", h.Format, h.Version, cacheFormat, cacheVersion)
	}
	if h.Architecture != Architecture {
		return nil, bad("architecture %q, want %q", h.Architecture, Architecture)
	}
	if err := h.Config.Validate(); err != nil {
		return nil, bad("%v", err)
	}
	if k := CacheKey(h.Dataset, h.Config); h.Key != k {
		return nil, bad("key %q does not match its dataset and config (key %q)", h.Key, k)
	}
	body := rest[hl:]
	var end int64
	names := make([]string, len(h.Tensors))
	weights := make([]*tensors.Tensor, len(h.Tensors))
	for i, e := range h.Tensors {
		dt, ok := map[string]dtypes.DType{dtypes.Float32.String(): dtypes.Float32, dtypes.Float64.String(): dtypes.Float64}[e.DType]
		if !ok {
			return nil, bad("tensor %s has dtype %q, want Float32 or Float64", e.Path, e.DType)
		}
		sh := shapes.Make(dt, e.Shape...)
		if e.Offset != end || e.Size != int64(sh.ByteSize()) || e.Offset+e.Size > int64(len(body)) {
			return nil, bad("tensor %s at [%d, %d+%d) does not fit (shape %s, %d bytes of data)", e.Path, e.Offset, e.Offset, e.Size, sh, len(body))
		}
		t := tensors.FromShape(sh)
		if err := t.MutableBytes(func(dst []byte) { copy(dst, body[e.Offset:e.Offset+e.Size]) }); err != nil {
			return nil, bad("%v", err)
		}
		names[i], weights[i] = e.Path, t
		end = e.Offset + e.Size
	}
	if end != int64(len(body)) {
		return nil, bad("%d bytes of tensor data, want %d", len(body), end)
	}
	if !slices.IsSorted(names) {
		return nil, bad("tensors are not sorted by path")
	}
	if got := weightsHash(names, weights); got != h.WeightsSHA256 {
		return nil, bad("weights sha256 %s, header says %s", got, h.WeightsSHA256)
	}
	c, err := newClassifier(b, h.Config.WithDefaults(), h.Dataset, names, weights)
	if err != nil {
		return nil, fmt.Errorf("features: loading %s: %w", path, err)
	}
	c.TestAccuracy, c.TrainSeconds = h.TestAccuracy, h.TrainSeconds
	return c, nil
}

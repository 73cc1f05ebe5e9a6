package train

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/difflab/difflab/pkg/diffusion"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Checkpoint layout. GoMLX's ml/model/checkpoint writes its files in place (a kill
// during a save leaves a truncated latest checkpoint) and holds neither the data
// source's state nor a Go-side RNG, so difflab has its own format:
//
//	CheckpointDir/
//	  ckpt-00001000/            one directory per saved step, 8-digit zero-padded
//	    manifest.json           Manifest: step, config, RNG, data state, tensor index
//	    tensors.bin             the raw tensors, little-endian, one after the other
//	  .tmp-...                  a save in progress or one killed midway (ignored, removed)
//
// A save writes both files into a fresh .tmp-ckpt-* directory, fsyncs them and the
// directory, then renames it to ckpt-<step> and fsyncs CheckpointDir: a checkpoint
// directory is either complete or absent. Old checkpoints beyond KeepLast are
// renamed to .tmp-del-* before being removed. On load every tensor's size and
// sha256 are checked against the manifest.
const (
	// ManifestFile and DataFile are the names of a checkpoint's two files.
	ManifestFile = "manifest.json"
	DataFile     = "tensors.bin"
	// ManifestFormat and ManifestVersion identify the format in every manifest.
	ManifestFormat  = "difflab-train-checkpoint"
	ManifestVersion = 1
)

// Tensor roles in a checkpoint.
const (
	// RoleParam is a model variable's raw value (trainable or not, RNG state included).
	RoleParam = "param"
	// RoleEMA is the EMA of a trainable variable.
	RoleEMA = "ema"
	// RoleAdamM and RoleAdamV are Adam's first and second moments of a trainable variable.
	RoleAdamM = "adam_m"
	RoleAdamV = "adam_v"
)

// ErrNoCheckpoint is returned (wrapped) when a directory holds no checkpoint.
var ErrNoCheckpoint = errors.New("no checkpoint")

// Manifest is the JSON description of a checkpoint (manifest.json).
type Manifest struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Step is the number of updates done.
	Step int `json:"step"`
	// Loss is the loss of the last update.
	Loss float64 `json:"loss"`
	// Time is when the checkpoint was written (RFC 3339, UTC).
	Time string `json:"time"`
	// Prediction is what the model predicts; XShape is the per-example shape.
	Prediction diffusion.Prediction `json:"prediction"`
	XShape     []int                `json:"x_shape"`
	// Config is the training configuration.
	Config Config `json:"config"`
	// RNG is the trainer's PCG state (math/rand/v2 PCG.MarshalBinary), base64 in JSON.
	RNG []byte `json:"rng"`
	// DataState is the BatchSource's State.
	DataState json.RawMessage `json:"data_state"`
	// Metadata holds the values given to Trainer.SetMetadata.
	Metadata map[string]json.RawMessage `json:"metadata,omitempty"`
	// Tensors indexes DataFile.
	Tensors []TensorEntry `json:"tensors"`

	// Dir is the checkpoint directory the manifest was read from (not saved).
	Dir string `json:"-"`
}

// TensorEntry locates one tensor in DataFile.
type TensorEntry struct {
	// Role is RoleParam, RoleEMA, RoleAdamM or RoleAdamV.
	Role string `json:"role"`
	// Path is the model variable's path in the store, e.g. "/mlp/dense_0/weights".
	Path string `json:"path"`
	// Trainable is the variable's flag (RoleParam only).
	Trainable bool `json:"trainable,omitempty"`
	// DType is the GoMLX dtype name, e.g. "Float32"; Shape its dimensions.
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
	// Offset and Size locate the raw little-endian bytes in DataFile.
	Offset int64 `json:"offset"`
	Size   int64 `json:"size"`
	// SHA256 is the hex sha256 of those bytes.
	SHA256 string `json:"sha256"`
}

// testHookMidSave, when set by a test, runs in SaveCheckpoint between writing the
// tensors and the manifest, so that a test can kill the process mid-save.
var testHookMidSave func(step int)

var ckptName = regexp.MustCompile(`^ckpt-(\d{8,})$`)

func shapeOf(dt dtypes.DType, dims []int) shapes.Shape { return shapes.Make(dt, dims...) }

func littleEndian() error {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return errors.New("train: checkpoints need a little-endian machine")
	}
	return nil
}

// entryVar is a variable to save, with its role and model path.
type entryVar struct {
	role, path string
	v          *model.Variable
}

func (tr *Trainer) entries() []entryVar {
	var es []entryVar
	for _, v := range tr.modelVars {
		es = append(es, entryVar{RoleParam, v.Path(), v})
	}
	for i, v := range tr.trainable {
		es = append(es, entryVar{RoleEMA, v.Path(), tr.ema[i]},
			entryVar{RoleAdamM, v.Path(), tr.adamM[i]}, entryVar{RoleAdamV, v.Path(), tr.adamV[i]})
	}
	return es
}

// SaveCheckpoint writes a checkpoint of the current step to
// Config.CheckpointDir/ckpt-<step> atomically (see the layout above), then removes
// checkpoints beyond Config.KeepLast, oldest first. If that directory already exists
// (the same step was saved before) it is kept and returned. It returns the
// checkpoint's directory.
func (tr *Trainer) SaveCheckpoint() (dir string, err error) {
	root := tr.cfg.CheckpointDir
	if root == "" {
		return "", errors.New("train: SaveCheckpoint: config field \"checkpoint_dir\" is empty")
	}
	if err := littleEndian(); err != nil {
		return "", err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("train: %w", err)
	}
	if !tr.cleanedTemp {
		cleanTemp(root)
		tr.cleanedTemp = true
	}
	final := filepath.Join(root, fmt.Sprintf("ckpt-%08d", tr.step))
	if _, err := os.Stat(filepath.Join(final, ManifestFile)); err == nil {
		tr.lastCheckpoint, tr.lastSavedStep = final, tr.step
		return final, nil
	}
	m := &Manifest{
		Format: ManifestFormat, Version: ManifestVersion, Step: tr.step, Loss: tr.loss,
		Time: time.Now().UTC().Format(time.RFC3339), Prediction: tr.den.Prediction,
		XShape: tr.xShape, Config: tr.cfg, Metadata: tr.metadata,
	}
	if m.RNG, err = tr.pcg.MarshalBinary(); err != nil {
		return "", fmt.Errorf("train: saving RNG state: %w", err)
	}
	ds, err := tr.src.State()
	if err != nil {
		return "", fmt.Errorf("train: saving data state: %w", err)
	}
	if !json.Valid(ds) {
		return "", fmt.Errorf("train: the batch source's State is not valid JSON: %.80q", ds)
	}
	m.DataState = ds

	tmp, err := os.MkdirTemp(root, ".tmp-ckpt-")
	if err != nil {
		return "", fmt.Errorf("train: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	if err = tr.writeTensors(filepath.Join(tmp, DataFile), m); err != nil {
		return "", err
	}
	if testHookMidSave != nil {
		testHookMidSave(tr.step)
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", fmt.Errorf("train: %w", err)
	}
	if err = writeFileSync(filepath.Join(tmp, ManifestFile), append(mb, '\n')); err != nil {
		return "", err
	}
	if err = syncDir(tmp); err != nil {
		return "", err
	}
	if err = os.Rename(tmp, final); err != nil {
		return "", fmt.Errorf("train: %w", err)
	}
	if err = syncDir(root); err != nil {
		return "", err
	}
	tr.lastCheckpoint, tr.lastSavedStep = final, tr.step
	return final, prune(root, tr.cfg.KeepLast)
}

func (tr *Trainer) writeTensors(path string, m *Manifest) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	var off int64
	for _, e := range tr.entries() {
		val, err := e.v.Value()
		if err != nil {
			return fmt.Errorf("train: saving %s %s: %w", e.role, e.path, err)
		}
		h := sha256.New()
		var n int
		var werr error
		if err := val.ConstBytes(func(b []byte) {
			h.Write(b)
			n, werr = w.Write(b)
		}); err != nil {
			return fmt.Errorf("train: saving %s %s: %w", e.role, e.path, err)
		}
		if werr != nil {
			return fmt.Errorf("train: %w", werr)
		}
		sh := val.Shape()
		m.Tensors = append(m.Tensors, TensorEntry{
			Role: e.role, Path: e.path, Trainable: e.role == RoleParam && e.v.Trainable,
			DType: sh.DType.String(), Shape: slices.Clone(sh.Dimensions),
			Offset: off, Size: int64(n), SHA256: hex.EncodeToString(h.Sum(nil)),
		})
		off += int64(n)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return f.Close()
}

func writeFileSync(path string, b []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("train: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("train: %w", err)
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("train: fsync %s: %w", dir, err)
	}
	return nil
}

// cleanTemp removes the .tmp-* leftovers of saves that were killed midway. Only one
// trainer may write to a checkpoint directory at a time.
func cleanTemp(root string) {
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if len(e.Name()) > 5 && e.Name()[:5] == ".tmp-" {
			_ = os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
}

// listCheckpoints returns the checkpoint directories under root (complete by
// construction) by increasing step.
func listCheckpoints(root string) ([]string, []int, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("train: %w", err)
	}
	type ck struct {
		dir  string
		step int
	}
	var cks []ck
	for _, e := range ents {
		sm := ckptName.FindStringSubmatch(e.Name())
		if sm == nil || !e.IsDir() {
			continue
		}
		step, err := strconv.Atoi(sm[1])
		if err != nil {
			continue
		}
		cks = append(cks, ck{filepath.Join(root, e.Name()), step})
	}
	slices.SortFunc(cks, func(a, b ck) int { return a.step - b.step })
	dirs, steps := make([]string, len(cks)), make([]int, len(cks))
	for i, c := range cks {
		dirs[i], steps[i] = c.dir, c.step
	}
	return dirs, steps, nil
}

func prune(root string, keep int) error {
	if keep <= 0 {
		return nil
	}
	dirs, _, err := listCheckpoints(root)
	if err != nil {
		return err
	}
	for len(dirs) > keep {
		tmp := filepath.Join(root, ".tmp-del-"+filepath.Base(dirs[0]))
		if err := os.Rename(dirs[0], tmp); err != nil {
			return fmt.Errorf("train: pruning old checkpoint: %w", err)
		}
		if err := os.RemoveAll(tmp); err != nil {
			return fmt.Errorf("train: pruning old checkpoint: %w", err)
		}
		dirs = dirs[1:]
	}
	return nil
}

// LatestCheckpoint returns the directory of the checkpoint with the highest step
// under root, or an error wrapping ErrNoCheckpoint when there is none.
func LatestCheckpoint(root string) (string, error) {
	dirs, _, err := listCheckpoints(root)
	if err != nil {
		return "", err
	}
	if len(dirs) == 0 {
		return "", fmt.Errorf("train: %w in %s", ErrNoCheckpoint, root)
	}
	return dirs[len(dirs)-1], nil
}

// ReadManifest reads the manifest of the checkpoint in dir, which may be a
// checkpoint directory (holding manifest.json) or a CheckpointDir, in which case
// the latest checkpoint is read. Manifest.Dir tells which.
func ReadManifest(dir string) (*Manifest, error) {
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); err != nil {
		latest, lerr := LatestCheckpoint(dir)
		if lerr != nil {
			return nil, lerr
		}
		dir = latest
	}
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("train: %s: %w", filepath.Join(dir, ManifestFile), err)
	}
	if m.Format != ManifestFormat || m.Version != ManifestVersion {
		return nil, fmt.Errorf("train: %s: format %q version %d, want %q version %d", dir, m.Format, m.Version, ManifestFormat, ManifestVersion)
	}
	m.Dir = dir
	return &m, nil
}

type tensorKey struct{ role, path string }

// readTensors reads and checks every tensor of m.
func readTensors(m *Manifest) (map[tensorKey]*tensors.Tensor, error) {
	if err := littleEndian(); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(m.Dir, DataFile))
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	defer f.Close()
	out := make(map[tensorKey]*tensors.Tensor, len(m.Tensors))
	for _, e := range m.Tensors {
		dt, err := dtypes.DTypeString(e.DType)
		if err != nil {
			return nil, fmt.Errorf("train: %s: tensor %s %s: %w", m.Dir, e.Role, e.Path, err)
		}
		sh := shapes.Make(dt, e.Shape...)
		if int64(sh.ByteSize()) != e.Size {
			return nil, fmt.Errorf("train: %s: tensor %s %s: %d bytes, want %d for %s", m.Dir, e.Role, e.Path, e.Size, sh.ByteSize(), sh)
		}
		buf := make([]byte, e.Size)
		if _, err := f.ReadAt(buf, e.Offset); err != nil && !(errors.Is(err, io.EOF) && e.Size == 0) {
			return nil, fmt.Errorf("train: %s: reading tensor %s %s: %w", m.Dir, e.Role, e.Path, err)
		}
		sum := sha256.Sum256(buf)
		if hex.EncodeToString(sum[:]) != e.SHA256 {
			return nil, fmt.Errorf("train: %s: tensor %s %s: sha256 mismatch (corrupt checkpoint)", m.Dir, e.Role, e.Path)
		}
		t := tensors.FromShape(sh)
		if err := t.MutableBytes(func(b []byte) { copy(b, buf) }); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		out[tensorKey{e.Role, e.Path}] = t
	}
	return out, nil
}

// Resume restores the trainer from the checkpoint in dir: a checkpoint directory,
// or a CheckpointDir whose latest checkpoint is used; "" means Config.CheckpointDir.
// It restores every model variable, the EMA, Adam's moments, the step, the last
// loss, the PCG source and the batch source's state, so that Run continues exactly
// where the saving run was (bitwise on the pure-Go backend). It also removes .tmp-*
// leftovers of killed saves when dir is a CheckpointDir.
//
// It returns an error wrapping ErrNoCheckpoint when there is no checkpoint, and an
// error, leaving the trainer as it was, if the checkpoint is corrupt or was written
// for another model (variable paths, shapes or dtypes), prediction type, example
// shape or batch size. Other config fields may differ: the current ones apply.
func (tr *Trainer) Resume(dir string) error {
	if dir == "" {
		dir = tr.cfg.CheckpointDir
	}
	if dir == "" {
		return errors.New("train: Resume: no directory given and config field \"checkpoint_dir\" is empty")
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); err != nil {
		cleanTemp(dir)
	}
	m, err := ReadManifest(dir)
	if err != nil {
		return err
	}
	switch {
	case m.Prediction != tr.den.Prediction:
		return fmt.Errorf("train: Resume %s: checkpoint predicts %q, the model %q", m.Dir, m.Prediction, tr.den.Prediction)
	case !slices.Equal(m.XShape, tr.xShape):
		return fmt.Errorf("train: Resume %s: checkpoint x_shape %v, trainer %v", m.Dir, m.XShape, tr.xShape)
	case m.Config.BatchSize != tr.cfg.BatchSize:
		return fmt.Errorf("train: Resume %s: checkpoint batch_size %d, config %d", m.Dir, m.Config.BatchSize, tr.cfg.BatchSize)
	}
	ts, err := readTensors(m)
	if err != nil {
		return err
	}
	es := tr.entries()
	if len(es) != len(ts) {
		return fmt.Errorf("train: Resume %s: checkpoint has %d tensors, the trainer %d (another model?)", m.Dir, len(ts), len(es))
	}
	for _, e := range es {
		t, ok := ts[tensorKey{e.role, e.path}]
		if !ok {
			return fmt.Errorf("train: Resume %s: checkpoint lacks %s %s (another model?)", m.Dir, e.role, e.path)
		}
		if !t.Shape().Equal(e.v.Shape()) {
			return fmt.Errorf("train: Resume %s: %s %s has shape %s, the model %s", m.Dir, e.role, e.path, t.Shape(), e.v.Shape())
		}
	}
	pcg := rand.NewPCG(0, 0)
	if err := pcg.UnmarshalBinary(m.RNG); err != nil {
		return fmt.Errorf("train: Resume %s: RNG state: %w", m.Dir, err)
	}
	if err := tr.src.Restore(m.DataState); err != nil {
		return fmt.Errorf("train: Resume %s: data state: %w", m.Dir, err)
	}
	for _, e := range es {
		if err := e.v.SetValue(ts[tensorKey{e.role, e.path}]); err != nil {
			return fmt.Errorf("train: Resume %s: %w", m.Dir, err)
		}
	}
	*tr.pcg = *pcg
	tr.step, tr.loss, tr.gradNorm = m.Step, m.Loss, 0
	tr.lastCheckpoint, tr.lastSavedStep = m.Dir, m.Step
	for k, v := range m.Metadata {
		if _, ok := tr.metadata[k]; !ok {
			tr.metadata[k] = v
		}
	}
	return nil
}

// Weights selects which weights LoadDenoiser loads.
type Weights string

const (
	// EMAWeights are the exponential moving average of the weights (the default for sampling).
	EMAWeights Weights = "ema"
	// RawWeights are the weights of the last update.
	RawWeights Weights = "raw"
)

// LoadDenoiser returns den with a new Store holding the weights of the checkpoint in
// dir (a checkpoint directory or a CheckpointDir, whose latest checkpoint is used),
// under the model's own variable paths, so that den.Fn runs on it unchanged. den is
// the model as built for training (its Store may be nil; its params, if any, are
// copied). With EMAWeights the trainable variables get their EMA; non-trainable
// ones (such as the RNG state) their saved value. den.Prediction must match the
// checkpoint's, or be "" to take it. Use ReadManifest for the step, config and
// metadata.
func LoadDenoiser(dir string, den diffusion.Denoiser, w Weights) (diffusion.Denoiser, error) {
	if w != EMAWeights && w != RawWeights {
		return diffusion.Denoiser{}, fmt.Errorf("train: LoadDenoiser: weights %q, want %q or %q", w, EMAWeights, RawWeights)
	}
	m, err := ReadManifest(dir)
	if err != nil {
		return diffusion.Denoiser{}, err
	}
	if den.Prediction == "" {
		den.Prediction = m.Prediction
	} else if den.Prediction != m.Prediction {
		return diffusion.Denoiser{}, fmt.Errorf("train: LoadDenoiser %s: checkpoint predicts %q, the model %q", m.Dir, m.Prediction, den.Prediction)
	}
	ts, err := readTensors(m)
	if err != nil {
		return diffusion.Denoiser{}, err
	}
	store := model.NewStore()
	if den.Store != nil {
		for k, v := range den.Store.IterParams() {
			store.SetParam(k, v)
		}
	}
	for _, e := range m.Tensors {
		if e.Role != RoleParam {
			continue
		}
		t := ts[tensorKey{RoleParam, e.Path}]
		if w == EMAWeights && e.Trainable {
			et, ok := ts[tensorKey{RoleEMA, e.Path}]
			if !ok {
				return diffusion.Denoiser{}, fmt.Errorf("train: LoadDenoiser %s: no EMA for %s", m.Dir, e.Path)
			}
			t = et
		}
		store.VariableWithValue(e.Path, t).SetTrainable(e.Trainable)
	}
	den.Store = store
	return den, nil
}

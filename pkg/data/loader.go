package data

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
)

// A Loader yields batches of a dataset in a seeded random order, reshuffling each
// epoch.
//
// Order. Epoch e visits the examples in the order of a permutation that is a pure
// function of (seed, e): a Fisher-Yates shuffle driven by a PCG source seeded with
// rand.NewPCG(seed, e) (see Permutation). It does not depend on the batch size or on
// what the loader did before, which is why LoaderState is a few integers.
//
// Batches are always full. When an epoch runs out in the middle of a batch, the
// batch goes on with the first examples of the next epoch's permutation, so no
// example is dropped and none is repeated within an epoch; over a run every example
// is seen equally often, up to one. A batch larger than the dataset spans several
// epochs and so holds some examples more than once; this is allowed.
//
// A Loader is not safe for concurrent use.
type Loader struct {
	d         *Dataset
	batchSize int
	flip      bool
	seed      uint64

	epoch int // epoch of the next example
	pos   int // position of the next example in that epoch's permutation, in [0, n)

	perm      []int    // permutation of epoch permEpoch
	flips     []uint64 // flip bits of epoch permEpoch, bit p is position p
	permEpoch int      // -1 when perm is not computed
}

// A LoaderOption changes how a Loader builds batches; see WithHorizontalFlip.
type LoaderOption func(*Loader)

// WithHorizontalFlip makes the loader mirror each image left to right with
// probability 1/2. Whether the example at position p of epoch e is flipped is a pure
// function of (seed, e, p), so a restored loader flips exactly as the original.
// Default: off. NewLoader returns an error if the dataset's examples are not images
// of shape {H, W, C}.
func WithHorizontalFlip() LoaderOption {
	return func(l *Loader) { l.flip = true }
}

// A Batch is batchSize examples, copied out of the dataset (the caller owns every
// slice; a later Next does not overwrite them).
type Batch struct {
	// X holds the examples one after the other, Shape[0]*prod(Shape[1:]) values.
	X []float32
	// Shape is {batchSize, dataset shape...}, e.g. {128, 28, 28, 1}.
	Shape []int
	// Labels has the label of each example, or is nil for an unlabelled dataset.
	Labels []int
	// Indices has the dataset index of each example.
	Indices []int
	// Flipped tells which examples were mirrored; nil unless WithHorizontalFlip.
	Flipped []bool
	// Epoch is the epoch of the batch's first example (0 for the first epoch). A
	// batch that crosses into the next epoch keeps the epoch it started in.
	Epoch int
}

// LoaderState is where a Loader stands: encoded as JSON it goes with a checkpoint,
// and Restore on a new Loader of the same dataset resumes the exact same stream of
// batches.
type LoaderState struct {
	// Seed is the loader's seed.
	Seed uint64 `json:"seed"`
	// Epoch is the epoch of the next example.
	Epoch int `json:"epoch"`
	// Position is the index, in Epoch's permutation, of the next example; in [0, DatasetLen).
	Position int `json:"position"`
	// BatchSize, DatasetLen and HorizontalFlip describe the loader that wrote the
	// state; Restore checks that they match.
	BatchSize      int  `json:"batch_size"`
	DatasetLen     int  `json:"dataset_len"`
	HorizontalFlip bool `json:"horizontal_flip"`
}

// NewLoader returns a loader of batches of batchSize examples of d, in an order
// drawn from seed, starting at epoch 0. It returns an error if d is invalid (see
// Dataset.Validate), batchSize < 1, or an option does not fit the dataset.
func NewLoader(d *Dataset, batchSize int, seed uint64, opts ...LoaderOption) (*Loader, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("data.NewLoader: %w", err)
	}
	if batchSize < 1 {
		return nil, fmt.Errorf("data.NewLoader: batchSize = %d, want >= 1", batchSize)
	}
	l := &Loader{d: d, batchSize: batchSize, seed: seed, permEpoch: -1}
	for _, o := range opts {
		o(l)
	}
	if l.flip && len(d.Shape) != 3 {
		return nil, fmt.Errorf("data.NewLoader: WithHorizontalFlip needs images of shape {H, W, C}, dataset %q has shape %v", d.Name, d.Shape)
	}
	return l, nil
}

// BatchSize is the number of examples in every batch.
func (l *Loader) BatchSize() int { return l.batchSize }

// Dataset is the dataset the loader reads.
func (l *Loader) Dataset() *Dataset { return l.d }

// Next returns the next batch. It never fails: batches are always full (see Loader).
func (l *Loader) Next() Batch {
	d := l.d
	s := d.ExampleSize()
	n := d.Len()
	b := Batch{
		X:       make([]float32, l.batchSize*s),
		Shape:   append([]int{l.batchSize}, d.Shape...),
		Indices: make([]int, l.batchSize),
		Epoch:   l.epoch,
	}
	if d.Labels != nil {
		b.Labels = make([]int, l.batchSize)
	}
	if l.flip {
		b.Flipped = make([]bool, l.batchSize)
	}
	for i := range l.batchSize {
		l.ensurePerm()
		idx := l.perm[l.pos]
		b.Indices[i] = idx
		dst := b.X[i*s : (i+1)*s]
		src := d.X[idx*s : (idx+1)*s]
		if l.flip && l.flips[l.pos/64]>>(l.pos%64)&1 == 1 {
			flipHWC(dst, src, d.Shape[0], d.Shape[1], d.Shape[2])
			b.Flipped[i] = true
		} else {
			copy(dst, src)
		}
		if b.Labels != nil {
			b.Labels[i] = d.Labels[idx]
		}
		l.pos++
		if l.pos == n {
			l.pos = 0
			l.epoch++
		}
	}
	return b
}

// State returns where the loader stands; see LoaderState.
func (l *Loader) State() LoaderState {
	return LoaderState{
		Seed:           l.seed,
		Epoch:          l.epoch,
		Position:       l.pos,
		BatchSize:      l.batchSize,
		DatasetLen:     l.d.Len(),
		HorizontalFlip: l.flip,
	}
}

// Restore moves the loader to st, which it takes the seed, epoch and position from;
// the next batch is the one the loader that wrote st would have returned. It returns
// an error, and leaves the loader as it was, if st was written for a dataset of
// another length, another batch size or another flip setting, or if its epoch or
// position is out of range.
func (l *Loader) Restore(st LoaderState) error {
	n := l.d.Len()
	switch {
	case st.DatasetLen != n:
		return fmt.Errorf("data: Loader.Restore: state's dataset_len = %d, but dataset %q has %d examples", st.DatasetLen, l.d.Name, n)
	case st.BatchSize != l.batchSize:
		return fmt.Errorf("data: Loader.Restore: state's batch_size = %d, but the loader's is %d", st.BatchSize, l.batchSize)
	case st.HorizontalFlip != l.flip:
		return fmt.Errorf("data: Loader.Restore: state's horizontal_flip = %v, but the loader's is %v", st.HorizontalFlip, l.flip)
	case st.Epoch < 0:
		return fmt.Errorf("data: Loader.Restore: state's epoch = %d, want >= 0", st.Epoch)
	case st.Position < 0 || st.Position >= n:
		return fmt.Errorf("data: Loader.Restore: state's position = %d, want in [0, %d)", st.Position, n)
	}
	if st.Seed != l.seed {
		l.permEpoch = -1
	}
	l.seed, l.epoch, l.pos = st.Seed, st.Epoch, st.Position
	return nil
}

// ensurePerm computes the permutation and flip bits of the current epoch if they
// are not cached.
func (l *Loader) ensurePerm() {
	if l.permEpoch == l.epoch {
		return
	}
	l.perm, l.flips = epochOrder(l.seed, l.epoch, l.d.Len(), l.perm)
	l.permEpoch = l.epoch
}

// Permutation is the order in which a Loader with this seed visits the n examples
// in the given epoch: a Fisher-Yates shuffle of 0..n-1 driven by
// rand.NewPCG(seed, uint64(epoch)), with Lemire's unbiased bounded draws. It uses
// only PCG's specified output, so it is the same on every platform and Go release.
// It panics if n < 0 or epoch < 0.
func Permutation(seed uint64, epoch, n int) []int {
	if n < 0 || epoch < 0 {
		panic(fmt.Sprintf("data.Permutation: epoch = %d, n = %d, want both >= 0", epoch, n))
	}
	p, _ := epochOrder(seed, epoch, n, nil)
	return p
}

// epochOrder returns the permutation of epoch and, drawn from the same source after
// it, n flip bits packed 64 to a word. buf is reused when its capacity allows.
func epochOrder(seed uint64, epoch, n int, buf []int) ([]int, []uint64) {
	src := rand.NewPCG(seed, uint64(epoch))
	p := slices.Grow(buf[:0], n)[:n]
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := boundedUint64(src, uint64(i+1))
		p[i], p[j] = p[j], p[i]
	}
	flips := make([]uint64, (n+63)/64)
	for i := range flips {
		flips[i] = src.Uint64()
	}
	return p, flips
}

// boundedUint64 is a uniform draw from [0, n), n >= 1, by Lemire's multiply-shift
// method with rejection ("Fast Random Integer Generation in an Interval", 2019).
func boundedUint64(src *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}

// flipHWC writes src mirrored left to right into dst; both are h x w x c images.
func flipHWC(dst, src []float32, h, w, c int) {
	rowLen := w * c
	for y := range h {
		d := dst[y*rowLen : (y+1)*rowLen]
		s := src[y*rowLen : (y+1)*rowLen]
		if c == 1 {
			for x := range d {
				d[x] = s[w-1-x]
			}
			continue
		}
		for x := range w {
			copy(d[x*c:(x+1)*c], s[(w-1-x)*c:(w-x)*c])
		}
	}
}

package data

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// rampDataset is n examples of the given shape whose values count up from 0, with
// label i%7 for example i, so every value tells where it came from.
func rampDataset(n int, shape ...int) *Dataset {
	d := &Dataset{Name: "ramp", Shape: shape}
	d.X = make([]float32, n*d.ExampleSize())
	for i := range d.X {
		d.X[i] = float32(i)
	}
	d.Labels = make([]int, n)
	for i := range d.Labels {
		d.Labels[i] = i % 7
	}
	return d
}

func mustLoader(t testing.TB, d *Dataset, batch int, seed uint64, opts ...LoaderOption) *Loader {
	t.Helper()
	l, err := NewLoader(d, batch, seed, opts...)
	if err != nil {
		t.Fatalf("NewLoader: %v", err)
	}
	return l
}

// TestPermutationGolden pins the order of the first epochs. The numbers were
// computed by this implementation; since they use only PCG's specified output
// (rand.PCG.Uint64) they must never change, or saved LoaderStates would resume into
// a different order.
func TestPermutationGolden(t *testing.T) {
	tests := []struct {
		seed  uint64
		epoch int
		want  []int
	}{
		{1, 0, []int{7, 6, 1, 3, 2, 4, 8, 9, 0, 5}},
		{1, 1, []int{2, 5, 8, 3, 4, 1, 7, 6, 0, 9}},
		{2, 0, []int{4, 2, 9, 5, 8, 0, 1, 3, 7, 6}},
	}
	for _, tc := range tests {
		if got := Permutation(tc.seed, tc.epoch, 10); !slices.Equal(got, tc.want) {
			t.Errorf("Permutation(%d, %d, 10) = %v, want %v", tc.seed, tc.epoch, got, tc.want)
		}
	}
	if got := Permutation(1, 0, 0); len(got) != 0 {
		t.Errorf("Permutation(1, 0, 0) = %v, want []", got)
	}
}

func TestPermutationPanicsOnMisuse(t *testing.T) {
	for _, tc := range []struct{ epoch, n int }{{-1, 3}, {0, -1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Permutation(0, %d, %d) did not panic", tc.epoch, tc.n)
				}
			}()
			Permutation(0, tc.epoch, tc.n)
		}()
	}
}

// TestPermutationUniform checks that the shuffle is unbiased: over 60000 epochs
// the position of example 0 in a permutation of 6 is uniform, each position
// 10000 +- 5 sigma (sigma = sqrt(60000 * 1/6 * 5/6) = 91).
func TestPermutationUniform(t *testing.T) {
	counts := make([]int, 6)
	for e := range 60000 {
		counts[slices.Index(Permutation(5, e, 6), 0)]++
	}
	for pos, c := range counts {
		if math.Abs(float64(c)-10000) > 5*91 {
			t.Errorf("example 0 at position %d in %d of 60000 epochs, want 10000 +- 455", pos, c)
		}
	}
}

// epochsOf reads batches until nEpochs whole epochs of indices have been seen and
// returns them split by epoch, checking Batch.Epoch on the way.
func epochsOf(t *testing.T, l *Loader, nEpochs int) [][]int {
	t.Helper()
	n := l.Dataset().Len()
	var all []int
	for len(all) < nEpochs*n {
		first := len(all)
		b := l.Next()
		if want := first / n; b.Epoch != want {
			t.Fatalf("batch starting at example %d has Epoch %d, want %d", first, b.Epoch, want)
		}
		all = append(all, b.Indices...)
	}
	var out [][]int
	for e := range nEpochs {
		out = append(out, all[e*n:(e+1)*n])
	}
	return out
}

func TestLoaderVisitsEachExampleOncePerEpoch(t *testing.T) {
	d := rampDataset(103, 2)
	l := mustLoader(t, d, 10, 42)
	for e, idx := range epochsOf(t, l, 4) {
		sorted := slices.Sorted(slices.Values(idx))
		for i, v := range sorted {
			if v != i {
				t.Fatalf("epoch %d: sorted indices[%d] = %d, want %d (each example exactly once)", e, i, v, i)
			}
		}
		if want := Permutation(42, e, 103); !slices.Equal(idx, want) {
			t.Errorf("epoch %d order differs from Permutation(42, %d, 103)", e, e)
		}
	}
}

func TestLoaderBatchContent(t *testing.T) {
	d := rampDataset(11, 2, 3)
	l := mustLoader(t, d, 4, 7)
	for range 5 {
		b := l.Next()
		if want := []int{4, 2, 3}; !slices.Equal(b.Shape, want) {
			t.Fatalf("Shape = %v, want %v", b.Shape, want)
		}
		if len(b.X) != 4*6 || len(b.Labels) != 4 || b.Flipped != nil {
			t.Fatalf("len(X), len(Labels), Flipped = %d, %d, %v, want 24, 4, nil", len(b.X), len(b.Labels), b.Flipped)
		}
		for i, idx := range b.Indices {
			if !slices.Equal(b.X[i*6:(i+1)*6], d.Example(idx)) {
				t.Errorf("example %d of batch = %v, want dataset example %d = %v", i, b.X[i*6:(i+1)*6], idx, d.Example(idx))
			}
			if b.Labels[i] != d.Labels[idx] {
				t.Errorf("label %d of batch = %d, want %d", i, b.Labels[i], d.Labels[idx])
			}
		}
	}
	unlabelled := &Dataset{Name: "u", Shape: []int{1}, X: []float32{1, 2, 3}}
	if b := mustLoader(t, unlabelled, 2, 0).Next(); b.Labels != nil {
		t.Errorf("unlabelled dataset: Labels = %v, want nil", b.Labels)
	}
}

func TestLoaderSeedsGiveDifferentOrders(t *testing.T) {
	d := rampDataset(50, 1)
	a := mustLoader(t, d, 50, 1).Next().Indices
	b := mustLoader(t, d, 50, 2).Next().Indices
	if slices.Equal(a, b) {
		t.Errorf("seeds 1 and 2 gave the same order %v", a)
	}
	c := mustLoader(t, d, 50, 1).Next().Indices
	if !slices.Equal(a, c) {
		t.Errorf("seed 1 twice gave %v and %v, want equal", a, c)
	}
	l := mustLoader(t, d, 50, 1)
	e0, e1 := l.Next().Indices, l.Next().Indices
	if slices.Equal(e0, e1) {
		t.Errorf("epochs 0 and 1 have the same order, want a reshuffle")
	}
}

// TestLoaderBatchLargerThanDataset checks the documented policy: a batch larger
// than the dataset runs over several epochs.
func TestLoaderBatchLargerThanDataset(t *testing.T) {
	d := rampDataset(5, 1)
	l := mustLoader(t, d, 12, 3)
	b := l.Next()
	want := slices.Concat(Permutation(3, 0, 5), Permutation(3, 1, 5), Permutation(3, 2, 5)[:2])
	if !slices.Equal(b.Indices, want) {
		t.Errorf("Indices = %v, want %v (epochs 0, 1 and the start of 2)", b.Indices, want)
	}
	if b.Epoch != 0 {
		t.Errorf("Epoch = %d, want 0", b.Epoch)
	}
	if st := l.State(); st.Epoch != 2 || st.Position != 2 {
		t.Errorf("State() = epoch %d position %d, want 2, 2", st.Epoch, st.Position)
	}
}

// sameBatch reports the first difference between two batches, comparing floats
// bit for bit.
func sameBatch(a, b Batch) error {
	if len(a.X) != len(b.X) {
		return fmt.Errorf("len(X) %d vs %d", len(a.X), len(b.X))
	}
	for i := range a.X {
		if math.Float32bits(a.X[i]) != math.Float32bits(b.X[i]) {
			return fmt.Errorf("X[%d] = %v vs %v", i, a.X[i], b.X[i])
		}
	}
	switch {
	case !slices.Equal(a.Labels, b.Labels):
		return fmt.Errorf("Labels %v vs %v", a.Labels, b.Labels)
	case !slices.Equal(a.Indices, b.Indices):
		return fmt.Errorf("Indices %v vs %v", a.Indices, b.Indices)
	case !slices.Equal(a.Flipped, b.Flipped):
		return fmt.Errorf("Flipped %v vs %v", a.Flipped, b.Flipped)
	case !slices.Equal(a.Shape, b.Shape):
		return fmt.Errorf("Shape %v vs %v", a.Shape, b.Shape)
	case a.Epoch != b.Epoch:
		return fmt.Errorf("Epoch %d vs %d", a.Epoch, b.Epoch)
	}
	return nil
}

// TestLoaderResumeExact: N batches in one go equal N/2 batches, State through
// JSON, a new Loader, Restore and N/2 batches, bit for bit; with and without flips,
// at a batch size that does not divide the dataset so that batches cross epochs.
func TestLoaderResumeExact(t *testing.T) {
	d := rampDataset(37, 3, 4, 2)
	for _, flip := range []bool{false, true} {
		t.Run(fmt.Sprintf("flip=%v", flip), func(t *testing.T) {
			var opts []LoaderOption
			if flip {
				opts = append(opts, WithHorizontalFlip())
			}
			const n = 40
			whole := mustLoader(t, d, 9, 11, opts...)
			var want []Batch
			for range n {
				want = append(want, whole.Next())
			}
			first := mustLoader(t, d, 9, 11, opts...)
			var got []Batch
			for range n / 2 {
				got = append(got, first.Next())
			}
			js, err := json.Marshal(first.State())
			if err != nil {
				t.Fatal(err)
			}
			var st LoaderState
			if err := json.Unmarshal(js, &st); err != nil {
				t.Fatal(err)
			}
			// A different seed at construction: the state's seed wins.
			second := mustLoader(t, d, 9, 999, opts...)
			if err := second.Restore(st); err != nil {
				t.Fatalf("Restore(%s): %v", js, err)
			}
			for range n - n/2 {
				got = append(got, second.Next())
			}
			for i := range want {
				if err := sameBatch(got[i], want[i]); err != nil {
					t.Fatalf("batch %d after resume differs: %v", i, err)
				}
			}
			if whole.State() != second.State() {
				t.Errorf("final states %+v and %+v differ", whole.State(), second.State())
			}
		})
	}
}

func TestLoaderStateJSON(t *testing.T) {
	l := mustLoader(t, rampDataset(10, 1), 3, 1<<63+5)
	l.Next()
	l.Next()
	l.Next()
	l.Next()
	js, err := json.Marshal(l.State())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"seed":9223372036854775813,"epoch":1,"position":2,"batch_size":3,"dataset_len":10,"horizontal_flip":false}`
	if string(js) != want {
		t.Errorf("State() as JSON = %s, want %s", js, want)
	}
}

func TestLoaderRestoreErrors(t *testing.T) {
	d := rampDataset(10, 2, 2, 1)
	good := LoaderState{Seed: 1, Epoch: 2, Position: 3, BatchSize: 4, DatasetLen: 10}
	tests := []struct {
		name   string
		change func(*LoaderState)
		want   string
	}{
		{"dataset_len", func(s *LoaderState) { s.DatasetLen = 11 }, "dataset_len = 11"},
		{"batch_size", func(s *LoaderState) { s.BatchSize = 5 }, "batch_size = 5"},
		{"flip", func(s *LoaderState) { s.HorizontalFlip = true }, "horizontal_flip = true"},
		{"epoch", func(s *LoaderState) { s.Epoch = -1 }, "epoch = -1"},
		{"position high", func(s *LoaderState) { s.Position = 10 }, "position = 10"},
		{"position low", func(s *LoaderState) { s.Position = -1 }, "position = -1"},
	}
	for _, tc := range tests {
		l := mustLoader(t, d, 4, 0)
		l.Next()
		before := l.State()
		st := good
		tc.change(&st)
		err := l.Restore(st)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Restore(%+v) = %v, want an error containing %q", tc.name, st, err, tc.want)
		}
		if l.State() != before {
			t.Errorf("%s: failed Restore changed the state to %+v", tc.name, l.State())
		}
	}
	l := mustLoader(t, d, 4, 0)
	if err := l.Restore(good); err != nil {
		t.Errorf("Restore(%+v) = %v, want nil", good, err)
	}
}

func TestNewLoaderErrors(t *testing.T) {
	tests := []struct {
		name  string
		d     *Dataset
		batch int
		opts  []LoaderOption
		want  string
	}{
		{"nil dataset", nil, 1, nil, "nil"},
		{"empty", &Dataset{Name: "e", Shape: []int{2}}, 1, nil, "len(X) = 0"},
		{"ragged", &Dataset{Name: "r", Shape: []int{2}, X: []float32{1, 2, 3}}, 1, nil, "multiple"},
		{"labels", &Dataset{Name: "l", Shape: []int{1}, X: []float32{1, 2}, Labels: []int{0}}, 1, nil, "len(Labels) = 1"},
		{"bad shape", &Dataset{Name: "s", Shape: []int{0}, X: []float32{1}}, 1, nil, "Shape[0] = 0"},
		{"no shape", &Dataset{Name: "s", X: []float32{1}}, 1, nil, "Shape is empty"},
		{"batch 0", rampDataset(3, 1), 0, nil, "batchSize = 0"},
		{"flip 2-D", rampDataset(3, 2), 1, []LoaderOption{WithHorizontalFlip()}, "WithHorizontalFlip"},
	}
	for _, tc := range tests {
		_, err := NewLoader(tc.d, tc.batch, 0, tc.opts...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: NewLoader = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestHorizontalFlip(t *testing.T) {
	// One 2x3 image with 2 channels: pixel (y, x) channel c holds 100y + 10x + c.
	img := &Dataset{Name: "img", Shape: []int{2, 3, 2}}
	for y := range 2 {
		for x := range 3 {
			for c := range 2 {
				img.X = append(img.X, float32(100*y+10*x+c))
			}
		}
	}
	mirrored := []float32{20, 21, 10, 11, 0, 1, 120, 121, 110, 111, 100, 101}
	l := mustLoader(t, img, 1, 5, WithHorizontalFlip())
	flips := 0
	const n = 4000
	for range n {
		b := l.Next()
		want := img.X
		if b.Flipped[0] {
			want = mirrored
			flips++
		}
		if !slices.Equal(b.X, want) {
			t.Fatalf("Flipped = %v, X = %v, want %v", b.Flipped[0], b.X, want)
		}
	}
	// Binomial(4000, 1/2): mean 2000, sigma 31.6; allow 5 sigma.
	if math.Abs(float64(flips)-n/2) > 5*31.6 {
		t.Errorf("%d of %d examples flipped, want %d +- 158", flips, n, n/2)
	}
	if img.X[0] != 0 || img.X[4] != 20 {
		t.Errorf("flipping changed the dataset: %v", img.X)
	}
}

// BenchmarkLoaderNext measures batch assembly (permutation, copy, flip) for a 2-D
// dataset and for MNIST-shaped images, in examples per second.
func BenchmarkLoaderNext(b *testing.B) {
	cases := []struct {
		name  string
		d     *Dataset
		batch int
		opts  []LoaderOption
	}{
		{"2d/n=10000/batch=256", rampDataset(10000, 2), 256, nil},
		{"28x28x1/n=60000/batch=128", rampDataset(60000, 28, 28, 1), 128, nil},
		{"28x28x1/n=60000/batch=128/flip", rampDataset(60000, 28, 28, 1), 128, []LoaderOption{WithHorizontalFlip()}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			l := mustLoader(b, c.d, c.batch, 1, c.opts...)
			for b.Loop() {
				l.Next()
			}
			b.ReportMetric(float64(b.N*c.batch)/b.Elapsed().Seconds(), "examples/s")
		})
	}
}

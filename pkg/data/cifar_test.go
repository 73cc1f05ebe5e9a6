package data

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// cifarPixel is the byte of record r, channel c, row y, column x in the fake
// batches: distinct enough across r, c, y and x that any mix-up shows.
func cifarPixel(r, c, y, x int) byte { return byte(7*r + 50*c + 3*y + 5*x) }

// cifarBytes builds records labelled labels[i] with pixels cifarPixel(first+i, ...),
// channel-major as in the real files.
func cifarBytes(first int, labels ...byte) []byte {
	var out []byte
	for i, l := range labels {
		out = append(out, l)
		for c := range 3 {
			for y := range 32 {
				for x := range 32 {
					out = append(out, cifarPixel(first+i, c, y, x))
				}
			}
		}
	}
	return out
}

// checkCIFARPixels checks every value of d's examples against cifarPixel, in HWC
// order: X[((y*32)+x)*3 + c] of example i is record first+i's channel c at (y, x).
func checkCIFARPixels(t *testing.T, d *Dataset, first int) {
	t.Helper()
	for i := range d.Len() {
		img := d.Example(i)
		for y := range 32 {
			for x := range 32 {
				for c := range 3 {
					want := ScalePixel(cifarPixel(first+i, c, y, x))
					if got := img[(y*32+x)*3+c]; got != want {
						t.Fatalf("example %d at (y %d, x %d, c %d) = %v, want %v", i, y, x, c, got, want)
					}
				}
			}
		}
	}
}

func TestReadCIFAR10Batch(t *testing.T) {
	d, err := ReadCIFAR10Batch(bytes.NewReader(cifarBytes(0, 3, 0, 9)))
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "cifar10" || !slices.Equal(d.Shape, []int{32, 32, 3}) || d.Len() != 3 || !slices.Equal(d.Labels, []int{3, 0, 9}) {
		t.Fatalf("got %q shape %v, %d examples, labels %v; want cifar10 {32, 32, 3}, 3, [3 0 9]", d.Name, d.Shape, d.Len(), d.Labels)
	}
	checkCIFARPixels(t, d, 0)
	// Spot values written out: record 1, pixel (y 0, x 1) is R = 7+5 = 12, G = 62,
	// B = 112, at X[3072 + 3], [3072 + 4], [3072 + 5].
	if got, want := d.X[3072+3:3072+6], []float32{ScalePixel(12), ScalePixel(62), ScalePixel(112)}; !slices.Equal(got, want) {
		t.Errorf("record 1 pixel (0, 1) RGB = %v, want %v", got, want)
	}
}

func TestReadCIFAR10BatchErrors(t *testing.T) {
	good := cifarBytes(0, 1, 2)
	bad := slices.Clone(good)
	bad[3073] = 10
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"truncated", good[:len(good)-1], "6145 bytes is not a whole number of 3073-byte records"},
		{"extra", append(slices.Clone(good), 0), "2 records and 1 bytes over"},
		{"label 10", bad, "label of record 1 is 10"},
	}
	for _, tc := range tests {
		_, err := ReadCIFAR10Batch(bytes.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ReadCIFAR10Batch = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := ReadCIFAR10Batch(&errReader{b: good[:100]}); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("ReadCIFAR10Batch(failing reader) = %v, want the reader's error", err)
	}
}

// writeCIFARDir writes five one-record training batches (records 0..4, labels
// 0..4) and a two-record test batch (records 5, 6) into dir.
func writeCIFARDir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, name := range CIFAR10Files[Train] {
		if err := os.WriteFile(filepath.Join(dir, name), cifarBytes(i, byte(i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "test_batch.bin"), cifarBytes(5, 8, 9), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadCIFAR10(t *testing.T) {
	root := t.TempDir()
	writeCIFARDir(t, filepath.Join(root, "cifar-10-batches-bin"))
	flat := t.TempDir()
	writeCIFARDir(t, flat)
	for _, dir := range []string{root, flat} {
		train, err := LoadCIFAR10(dir, Train)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(train.Labels, []int{0, 1, 2, 3, 4}) {
			t.Errorf("%s: train labels %v, want batches 1..5 in order [0 1 2 3 4]", dir, train.Labels)
		}
		checkCIFARPixels(t, train, 0)
		test, err := LoadCIFAR10(dir, Test, WithPad(1))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(test.Labels, []int{8, 9}) || !slices.Equal(test.Shape, []int{34, 34, 3}) {
			t.Errorf("%s: test labels %v shape %v, want [8 9] {34, 34, 3}", dir, test.Labels, test.Shape)
		}
	}
	if err := os.Remove(filepath.Join(flat, "data_batch_4.bin")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCIFAR10(flat, Train); err == nil || !strings.Contains(err.Error(), "data_batch_4.bin is missing") {
		t.Errorf("LoadCIFAR10 without batch 4 = %v, want an error naming it", err)
	}
	empty := t.TempDir()
	if _, err := LoadCIFAR10(empty, Test); err == nil || !strings.Contains(err.Error(), "test_batch.bin") || !strings.Contains(err.Error(), empty) {
		t.Errorf("LoadCIFAR10(empty dir) = %v, want an error naming test_batch.bin and %s", err, empty)
	}
}

// FuzzReadCIFAR10Batch checks that ReadCIFAR10Batch never panics and that what it
// accepts has one label 0..9 and 3072 values in [-1, 1] per 3073-byte record.
func FuzzReadCIFAR10Batch(f *testing.F) {
	f.Add(cifarBytes(0, 1))
	f.Add(cifarBytes(0, 1)[:100])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := ReadCIFAR10Batch(bytes.NewReader(in))
		if err != nil {
			return
		}
		if d.Len() != len(in)/3073 || len(in)%3073 != 0 || d.Validate() != nil {
			t.Fatalf("accepted %d bytes as %d examples", len(in), d.Len())
		}
		for _, v := range d.X {
			if v < -1 || v > 1 {
				t.Fatalf("value %v outside [-1, 1]", v)
			}
		}
	})
}

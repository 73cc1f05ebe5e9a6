package data

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// CIFAR-10's binary format (https://www.cs.toronto.edu/~kriz/cifar.html, "Binary
// version"): each record is 1 label byte then 3072 pixel bytes, the red, green and
// blue 32x32 planes one after the other, each row-major.
const (
	cifarSide   = 32
	cifarPlane  = cifarSide * cifarSide
	cifarRecord = 1 + 3*cifarPlane
	// maxCIFARRecords bounds one batch file; the real ones hold 10000 records.
	maxCIFARRecords = 1 << 20
)

// ReadCIFAR10Batch reads a CIFAR-10 binary batch (data_batch_N.bin, test_batch.bin)
// as a dataset named "cifar10" of shape {32, 32, 3}: the channel-major planes are
// reordered to height x width x channel, pixels scaled by ScalePixel, labels 0..9.
// It returns an error if the data are empty, not a whole number of 3073-byte
// records, longer than 2^20 records, or hold a label above 9, and r's error if
// reading fails.
func ReadCIFAR10Batch(r io.Reader) (*Dataset, error) {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(r, maxCIFARRecords*cifarRecord+1)); err != nil {
		return nil, fmt.Errorf("cifar10: %w", err)
	}
	raw := buf.Bytes()
	switch {
	case len(raw) == 0:
		return nil, fmt.Errorf("cifar10: empty batch, want records of %d bytes", cifarRecord)
	case len(raw) > maxCIFARRecords*cifarRecord:
		return nil, fmt.Errorf("cifar10: batch is longer than %d records", maxCIFARRecords)
	case len(raw)%cifarRecord != 0:
		return nil, fmt.Errorf("cifar10: %d bytes is not a whole number of %d-byte records (truncated? %d records and %d bytes over)",
			len(raw), cifarRecord, len(raw)/cifarRecord, len(raw)%cifarRecord)
	}
	n := len(raw) / cifarRecord
	d := &Dataset{Name: "cifar10", Shape: []int{cifarSide, cifarSide, 3}, X: make([]float32, n*3*cifarPlane), Labels: make([]int, n)}
	for i := range n {
		rec := raw[i*cifarRecord : (i+1)*cifarRecord]
		if rec[0] > 9 {
			return nil, fmt.Errorf("cifar10: label of record %d is %d, want 0..9", i, rec[0])
		}
		d.Labels[i] = int(rec[0])
		planes := rec[1:]
		x := d.X[i*3*cifarPlane : (i+1)*3*cifarPlane]
		for p := range cifarPlane { // p = row*32 + column
			for c := range 3 {
				x[3*p+c] = pixelTable[planes[c*cifarPlane+p]]
			}
		}
	}
	return d, nil
}

// CIFAR10Files are the batch files of each split, in the order LoadCIFAR10 joins them.
var CIFAR10Files = map[Split][]string{
	Train: {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
	Test:  {"test_batch.bin"},
}

// LoadCIFAR10 loads a split of CIFAR-10 (Train: data_batch_1.bin to
// data_batch_5.bin joined in order, Test: test_batch.bin) as a dataset named
// "cifar10" of shape {32, 32, 3} (more with WithPad), read by ReadCIFAR10Batch. It
// looks in dir/cifar-10-batches-bin, then dir (dir "" is the working directory).
// It returns an error listing where it looked when a file is missing, and one naming
// the file when a file is malformed.
func LoadCIFAR10(dir string, split Split, opts ...ImageOption) (*Dataset, error) {
	if err := split.Validate(); err != nil {
		return nil, fmt.Errorf("cifar10: %w", err)
	}
	cfg := imageOptions(opts)
	if cfg.pad < 0 {
		return nil, fmt.Errorf("cifar10: WithPad(%d): want >= 0", cfg.pad)
	}
	if dir == "" {
		dir = "."
	}
	var dirs []string
	for _, d := range []string{filepath.Join(dir, "cifar-10-batches-bin"), dir} {
		if _, err := os.Stat(filepath.Join(d, CIFAR10Files[split][0])); err == nil {
			dirs = []string{d}
			break
		}
	}
	if dirs == nil {
		return nil, fmt.Errorf("cifar10 %s not found: no %s in %s or %s; download the binary version (cifar-10-binary.tar.gz) from https://www.cs.toronto.edu/~kriz/cifar.html, unpack it and pass --data-dir",
			split, CIFAR10Files[split][0], filepath.Join(dir, "cifar-10-batches-bin"), dir)
	}
	out := &Dataset{Name: "cifar10", Shape: []int{cifarSide, cifarSide, 3}}
	for _, name := range CIFAR10Files[split] {
		p := filepath.Join(dirs[0], name)
		b, err := readCIFARFile(p)
		if err != nil {
			if os.IsNotExist(err) {
				return nil, fmt.Errorf("cifar10 %s: %s is missing (the split needs %s); the download is incomplete", split, p, strings.Join(CIFAR10Files[split], ", "))
			}
			return nil, err
		}
		out.X = append(out.X, b.X...)
		out.Labels = append(out.Labels, b.Labels...)
	}
	return PadImages(out, cfg.pad, -1)
}

// readCIFARFile reads one batch file; errors other than a missing file name the path.
func readCIFARFile(path string) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d, err := ReadCIFAR10Batch(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// IDX is the content of an IDX file of unsigned bytes, the format of MNIST and
// Fashion-MNIST (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS"): a 4-byte magic
// number 0x00 0x00 0x08 ndims, then ndims big-endian uint32 dimensions, then the
// bytes in row-major order. Image files have magic 0x00000803 (count, rows, columns),
// label files 0x00000801 (count).
type IDX struct {
	// Dims are the dimensions, outermost first, e.g. {60000, 28, 28}.
	Dims []int
	// Data holds prod(Dims) bytes in row-major order.
	Data []byte
}

// Limits on what ReadIDX and WriteIDX accept. They are far above MNIST's sizes
// (47,040,000 bytes, 3 dimensions) and keep a corrupt header from asking for an
// absurd allocation.
const (
	// MaxIDXDims is the largest number of dimensions accepted.
	MaxIDXDims = 8
	// MaxIDXBytes is the largest accepted dimension and product of the dimensions.
	MaxIDXBytes = 1 << 30
)

// idxUbyte is the IDX type code of unsigned bytes, the only one supported.
const idxUbyte = 0x08

// idxTypeNames names the IDX type codes, for errors.
var idxTypeNames = map[byte]string{
	0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16",
	0x0C: "int32", 0x0D: "float32", 0x0E: "float64",
}

// ReadIDX reads an IDX file of unsigned bytes from r, gunzipping it first if it
// starts with the gzip header 0x1f 0x8b. It returns an error, never panics, when the
// magic number is wrong (first two bytes not zero, a type other than 0x08, zero or
// more than MaxIDXDims dimensions), a dimension or their product exceeds
// MaxIDXBytes, the file ends before the header or the data do, bytes follow the
// data, or the gzip stream is corrupt. Memory grows with the bytes actually read,
// not with what the header claims.
func ReadIDX(r io.Reader) (*IDX, error) {
	br := bufio.NewReader(r)
	var src io.Reader = br
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("idx: bad gzip header: %w", err)
		}
		defer gz.Close()
		src = gz
	}
	var magic [4]byte
	if n, err := io.ReadFull(src, magic[:]); err != nil {
		return nil, fmt.Errorf("idx: truncated: %d bytes, want a 4-byte magic number: %w", n, readErr(err))
	}
	m := binary.BigEndian.Uint32(magic[:])
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("idx: bad magic number 0x%08x: first two bytes must be zero (MNIST images are 0x00000803, labels 0x00000801)", m)
	}
	if magic[2] != idxUbyte {
		name, ok := idxTypeNames[magic[2]]
		if !ok {
			name = "unknown"
		}
		return nil, fmt.Errorf("idx: magic number 0x%08x has element type 0x%02x (%s), want 0x08 (unsigned byte)", m, magic[2], name)
	}
	nd := int(magic[3])
	if nd < 1 || nd > MaxIDXDims {
		return nil, fmt.Errorf("idx: magic number 0x%08x has %d dimensions, want 1 to %d", m, nd, MaxIDXDims)
	}
	raw := make([]byte, 4*nd)
	if n, err := io.ReadFull(src, raw); err != nil {
		return nil, fmt.Errorf("idx: truncated header: %d of %d bytes of dimensions: %w", n, len(raw), readErr(err))
	}
	dims := make([]int, nd)
	size := int64(1)
	for i := range dims {
		d := int64(binary.BigEndian.Uint32(raw[4*i:]))
		dims[i] = int(d)
		size *= d // both factors <= 2^32 and size <= MaxIDXBytes = 2^30 before: no overflow
		if d > MaxIDXBytes || size > MaxIDXBytes {
			return nil, fmt.Errorf("idx: dimensions %v: a dimension or their product exceeds %d bytes", dims[:i+1], MaxIDXBytes)
		}
	}
	var buf bytes.Buffer
	buf.Grow(int(min(size, 1<<16)))
	n, err := io.CopyN(&buf, src, size)
	if err != nil {
		return nil, fmt.Errorf("idx: truncated data: dimensions %v need %d bytes, file has %d: %w", dims, size, n, readErr(err))
	}
	var one [1]byte
	switch k, err := io.ReadFull(src, one[:]); {
	case k == 1:
		return nil, fmt.Errorf("idx: file is longer than dimensions %v say (%d bytes of data)", dims, size)
	case err != io.EOF:
		return nil, fmt.Errorf("idx: after the data: %w", err)
	}
	return &IDX{Dims: dims, Data: buf.Bytes()}, nil
}

// readErr turns the EOF errors of a short read into io.ErrUnexpectedEOF, so that
// every truncation reads the same, and keeps other errors (a corrupt gzip stream).
func readErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// WriteIDX writes x to w as an uncompressed IDX file of unsigned bytes (magic
// 0x000008nn with nn = len(Dims)). It returns an error, writing nothing, if x is nil,
// has no or more than MaxIDXDims dimensions, a dimension out of [0, MaxIDXBytes], a
// product of dimensions above MaxIDXBytes, or len(Data) != prod(Dims); otherwise it returns
// w's error, if any.
func WriteIDX(w io.Writer, x *IDX) error {
	if x == nil {
		return fmt.Errorf("idx: WriteIDX of nil")
	}
	if len(x.Dims) < 1 || len(x.Dims) > MaxIDXDims {
		return fmt.Errorf("idx: WriteIDX: %d dimensions, want 1 to %d", len(x.Dims), MaxIDXDims)
	}
	head := make([]byte, 4+4*len(x.Dims))
	head[2], head[3] = idxUbyte, byte(len(x.Dims))
	size := int64(1)
	for i, d := range x.Dims {
		if d < 0 || d > MaxIDXBytes {
			return fmt.Errorf("idx: WriteIDX: Dims[%d] = %d, want in [0, %d]", i, d, MaxIDXBytes)
		}
		size *= int64(d)
		if size > MaxIDXBytes {
			return fmt.Errorf("idx: WriteIDX: dimensions %v multiply to more than %d bytes", x.Dims[:i+1], MaxIDXBytes)
		}
		binary.BigEndian.PutUint32(head[4+4*i:], uint32(d))
	}
	if int64(len(x.Data)) != size {
		return fmt.Errorf("idx: WriteIDX: len(Data) = %d, but dimensions %v need %d", len(x.Data), x.Dims, size)
	}
	if _, err := w.Write(head); err != nil {
		return fmt.Errorf("idx: %w", err)
	}
	if _, err := w.Write(x.Data); err != nil {
		return fmt.Errorf("idx: %w", err)
	}
	return nil
}

package data

import (
	"bytes"
	"compress/gzip"
	"errors"
	"slices"
	"strings"
	"testing"
)

// idxBytes writes x with WriteIDX, failing the test on error.
func idxBytes(t testing.TB, x *IDX) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteIDX(&buf, x); err != nil {
		t.Fatalf("WriteIDX: %v", err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tinyImages is 2 images of 2x3 pixels.
var tinyImages = &IDX{Dims: []int{2, 2, 3}, Data: []byte{0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255}}

func TestWriteIDXBytes(t *testing.T) {
	got := idxBytes(t, &IDX{Dims: []int{3}, Data: []byte{7, 8, 9}})
	want := []byte{0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9}
	if !bytes.Equal(got, want) {
		t.Errorf("WriteIDX(labels 7 8 9) = % x, want % x", got, want)
	}
	got = idxBytes(t, tinyImages)
	if want := []byte{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3}; !bytes.Equal(got[:16], want) {
		t.Errorf("WriteIDX(images) header = % x, want % x (magic 0x00000803)", got[:16], want)
	}
}

func TestIDXRoundTrip(t *testing.T) {
	tests := []*IDX{
		tinyImages,
		{Dims: []int{3}, Data: []byte{7, 8, 9}},
		{Dims: []int{0}, Data: []byte{}},
		{Dims: []int{1, 1, 1, 1, 1, 1, 1, 2}, Data: []byte{1, 2}},
	}
	for _, x := range tests {
		raw := idxBytes(t, x)
		for _, gz := range []bool{false, true} {
			in := raw
			if gz {
				in = gzipBytes(t, raw)
			}
			got, err := ReadIDX(bytes.NewReader(in))
			if err != nil {
				t.Fatalf("ReadIDX(WriteIDX(%v), gzip=%v): %v", x.Dims, gz, err)
			}
			if !slices.Equal(got.Dims, x.Dims) || !bytes.Equal(got.Data, x.Data) {
				t.Errorf("ReadIDX(WriteIDX(%v), gzip=%v) = %v %v, want %v %v", x.Dims, gz, got.Dims, got.Data, x.Dims, x.Data)
			}
		}
	}
}

func TestReadIDXErrors(t *testing.T) {
	good := idxBytes(t, tinyImages)
	corruptGzip := gzipBytes(t, good)
	corruptGzip[len(corruptGzip)-6] ^= 0xff // CRC-32 of the gzip trailer
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "4-byte magic"},
		{"short magic", []byte{0, 0, 8}, "4-byte magic"},
		{"bad magic", []byte{1, 2, 8, 3, 0, 0, 0, 0}, "bad magic number 0x01020803"},
		{"float type", []byte{0, 0, 0x0d, 1, 0, 0, 0, 0}, "0x0d (float32)"},
		{"unknown type", []byte{0, 0, 0x42, 1, 0, 0, 0, 0}, "0x42 (unknown)"},
		{"zero dims", []byte{0, 0, 8, 0}, "0 dimensions"},
		{"many dims", []byte{0, 0, 8, 9}, "9 dimensions"},
		{"short dims", good[:10], "truncated header"},
		{"short data", good[:len(good)-1], "need 12 bytes, file has 11"},
		{"no data", good[:16], "need 12 bytes, file has 0"},
		{"trailing", append(slices.Clone(good), 0), "longer than dimensions"},
		{"huge product", []byte{0, 0, 8, 3, 0, 0xea, 0x60, 0, 0, 1, 0, 0, 0, 1, 0, 0}, "exceeds"},
		{"huge dim", []byte{0, 0, 8, 2, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, "exceeds"},
		{"overflow", []byte{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "exceeds"},
		{"gzip header only", []byte{0x1f, 0x8b}, "gzip"},
		{"gzip truncated", gzipBytes(t, good)[:20], "unexpected EOF"},
		{"gzip checksum", corruptGzip, "checksum"},
	}
	for _, tc := range tests {
		x, err := ReadIDX(bytes.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ReadIDX(% x) = %v, %v, want an error containing %q", tc.name, tc.in, x, err, tc.want)
		}
	}
}

// errReader fails after giving its bytes.
type errReader struct{ b []byte }

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, errors.New("disk on fire")
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func TestReadIDXReaderError(t *testing.T) {
	good := idxBytes(t, tinyImages)
	_, err := ReadIDX(&errReader{b: good[:18]})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("ReadIDX(failing reader) = %v, want the reader's error", err)
	}
}

func TestWriteIDXErrors(t *testing.T) {
	tests := []struct {
		name string
		x    *IDX
		want string
	}{
		{"nil", nil, "nil"},
		{"no dims", &IDX{}, "0 dimensions"},
		{"many dims", &IDX{Dims: make([]int, 9)}, "9 dimensions"},
		{"negative", &IDX{Dims: []int{-1}}, "Dims[0] = -1"},
		{"huge", &IDX{Dims: []int{1 << 31}}, "Dims[0] = 2147483648"},
		{"product", &IDX{Dims: []int{1 << 16, 1 << 16}}, "multiply"},
		{"length", &IDX{Dims: []int{2, 2}, Data: []byte{1, 2, 3}}, "len(Data) = 3"},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		err := WriteIDX(&buf, tc.x)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: WriteIDX = %v, want an error containing %q", tc.name, err, tc.want)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: WriteIDX wrote %d bytes before failing", tc.name, buf.Len())
		}
	}
}

// FuzzReadIDX checks that ReadIDX never panics and that whatever it accepts
// survives a round trip: WriteIDX then ReadIDX gives the same dimensions and data,
// and for uncompressed input WriteIDX reproduces the input byte for byte.
func FuzzReadIDX(f *testing.F) {
	good := idxBytes(f, tinyImages)
	f.Add(good)
	f.Add(gzipBytes(f, good))
	f.Add(idxBytes(f, &IDX{Dims: []int{3}, Data: []byte{7, 8, 9}}))
	f.Add(good[:len(good)-1])                                  // truncated data
	f.Add(good[:7])                                            // truncated header
	f.Add([]byte{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0}) // huge dimension
	f.Add([]byte{0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0})       // float32 type
	f.Add([]byte{0x1f, 0x8b, 8, 0})                            // broken gzip
	f.Fuzz(func(t *testing.T, in []byte) {
		x, err := ReadIDX(bytes.NewReader(in))
		if err != nil {
			if x != nil {
				t.Fatalf("ReadIDX returned %v with error %v", x, err)
			}
			return
		}
		var buf bytes.Buffer
		if err := WriteIDX(&buf, x); err != nil {
			t.Fatalf("WriteIDX of what ReadIDX accepted (dims %v): %v", x.Dims, err)
		}
		if len(in) >= 2 && !(in[0] == 0x1f && in[1] == 0x8b) && !bytes.Equal(buf.Bytes(), in) {
			t.Fatalf("WriteIDX(ReadIDX(in)) = % x, want in = % x", buf.Bytes(), in)
		}
		y, err := ReadIDX(&buf)
		if err != nil {
			t.Fatalf("ReadIDX(WriteIDX(x)) with dims %v: %v", x.Dims, err)
		}
		if !slices.Equal(x.Dims, y.Dims) || !bytes.Equal(x.Data, y.Data) {
			t.Fatalf("round trip changed dims %v to %v or the data", x.Dims, y.Dims)
		}
	})
}

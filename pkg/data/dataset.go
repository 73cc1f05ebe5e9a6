package data

import (
	"fmt"
)

// A Dataset is a fixed, in-memory set of examples of one shape.
//
// Example i is X[i*s : (i+1)*s] with s = prod(Shape), laid out row-major; images are
// height x width x channels (HWC), e.g. Shape {28, 28, 1} for MNIST. Pixel values are
// scaled to [-1, 1]. Labels is nil for an unlabelled dataset, otherwise it has one
// entry per example (a class, a mixture component or a moon index, as the
// constructor documents).
type Dataset struct {
	Name   string
	Shape  []int
	X      []float32
	Labels []int
}

// ExampleSize is prod(Shape), the number of float32 values in one example.
// It is 0 when Shape is empty or has a dimension <= 0.
func (d *Dataset) ExampleSize() int {
	if len(d.Shape) == 0 {
		return 0
	}
	s := 1
	for _, v := range d.Shape {
		if v <= 0 {
			return 0
		}
		s *= v
	}
	return s
}

// Len is the number of examples, len(X) / prod(Shape); 0 when the shape is invalid
// (see Validate).
func (d *Dataset) Len() int {
	s := d.ExampleSize()
	if s == 0 {
		return 0
	}
	return len(d.X) / s
}

// Example returns example i as a slice that aliases X (writes to it change the
// dataset). It panics if i is out of range [0, Len()).
func (d *Dataset) Example(i int) []float32 {
	if i < 0 || i >= d.Len() {
		panic(fmt.Sprintf("data: Dataset.Example(%d) out of range [0, %d)", i, d.Len()))
	}
	s := d.ExampleSize()
	return d.X[i*s : (i+1)*s : (i+1)*s]
}

// Points returns the examples as float64 rows of length prod(Shape), the form that
// the 2-D metrics and gmm.Mixture use. The rows are fresh copies.
func (d *Dataset) Points() [][]float64 {
	n, s := d.Len(), d.ExampleSize()
	out := make([][]float64, n)
	flat := make([]float64, n*s)
	for i := range out {
		row := flat[i*s : (i+1)*s : (i+1)*s]
		for j, v := range d.X[i*s : (i+1)*s] {
			row[j] = float64(v)
		}
		out[i] = row
	}
	return out
}

// Validate checks that the dataset is well formed: d is not nil, Shape has at least
// one dimension and every dimension is >= 1, len(X) is a positive multiple of
// prod(Shape), and Labels is nil or has exactly Len() entries. The error names the
// field and the bad value.
func (d *Dataset) Validate() error {
	if d == nil {
		return fmt.Errorf("dataset is nil")
	}
	if len(d.Shape) == 0 {
		return fmt.Errorf("dataset %q: field Shape is empty, want at least one dimension", d.Name)
	}
	for i, v := range d.Shape {
		if v <= 0 {
			return fmt.Errorf("dataset %q: field Shape[%d] = %d, want >= 1", d.Name, i, v)
		}
	}
	s := d.ExampleSize()
	if len(d.X) == 0 || len(d.X)%s != 0 {
		return fmt.Errorf("dataset %q: len(X) = %d, want a positive multiple of prod(Shape %v) = %d", d.Name, len(d.X), d.Shape, s)
	}
	if d.Labels != nil && len(d.Labels) != d.Len() {
		return fmt.Errorf("dataset %q: len(Labels) = %d, want nil or Len() = %d", d.Name, len(d.Labels), d.Len())
	}
	return nil
}

// Head returns a dataset holding the first n examples of d, sharing d's memory
// (X and Labels are subslices). It returns an error if n is not in [1, d.Len()].
func (d *Dataset) Head(n int) (*Dataset, error) {
	if n < 1 || n > d.Len() {
		return nil, fmt.Errorf("dataset %q: Head(%d): want 1 <= n <= %d", d.Name, n, d.Len())
	}
	h := &Dataset{Name: d.Name, Shape: d.Shape, X: d.X[:n*d.ExampleSize()]}
	if d.Labels != nil {
		h.Labels = d.Labels[:n]
	}
	return h, nil
}

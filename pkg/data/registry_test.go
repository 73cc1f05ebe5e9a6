package data

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	want := []string{"8gaussians", "cifar10", "fashion-mnist", "gmm", "mnist", "moons", "swissroll"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
}

func TestLoadUnknownName(t *testing.T) {
	_, err := Load("mnsit", Options{})
	if err == nil {
		t.Fatal(`Load("mnsit") = nil error`)
	}
	for _, n := range append(Names(), `"mnsit"`) {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error %q does not mention %s", err, n)
		}
	}
	if _, err := NewSampler("nope", Options{}); err == nil || !strings.Contains(err.Error(), "moons") {
		t.Errorf(`NewSampler("nope") = %v, want an error listing the names`, err)
	}
}

func TestLoad2D(t *testing.T) {
	d, err := Load("moons", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != DefaultN || d.Name != "moons" {
		t.Errorf(`Load("moons", {}) = %q with %d points, want moons with %d`, d.Name, d.Len(), DefaultN)
	}
	a, _ := Load("8gaussians", Options{N: 100, Seed: 3})
	b, _ := EightGaussians(100, DefaultEightGaussiansStd, 3)
	if !slices.Equal(a.X, b.X) {
		t.Errorf(`Load("8gaussians", N 100, seed 3) differs from EightGaussians(100, default std, 3)`)
	}
	c, _ := Load("swissroll", Options{N: 100, Seed: 3, Noise: 1})
	e, _ := SwissRoll(100, 1, 3)
	if !slices.Equal(c.X, e.X) {
		t.Errorf(`Load("swissroll", noise 1) differs from SwissRoll(100, 1, 3)`)
	}
}

func TestLoadGMM(t *testing.T) {
	if _, err := Load("gmm", Options{}); err == nil || !strings.Contains(err.Error(), "GMMPath") {
		t.Errorf(`Load("gmm") without a path = %v, want an error naming GMMPath`, err)
	}
	path := filepath.Join(t.TempDir(), "g.json")
	js := `{"weights": [0.5, 0.5], "means": [[0, 0, 0], [1, 1, 1]], "stds": [0.1, 0.2]}`
	if err := os.WriteFile(path, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Load("gmm", Options{GMMPath: path, N: 50})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 50 || !slices.Equal(d.Shape, []int{3}) {
		t.Errorf(`Load("gmm") = %d points of shape %v, want 50 of {3}`, d.Len(), d.Shape)
	}
	s, err := NewSampler("gmm", Options{GMMPath: path})
	if err != nil || s.Dim() != 3 {
		t.Errorf(`NewSampler("gmm") = %v, %v, want a 3-D sampler`, s, err)
	}
}

func TestLoadOptionErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"moons", Options{N: -1}, "Options.N = -1"},
		{"moons", Options{Noise: -0.5}, "Options.Noise = -0.5"},
		{"moons", Options{Pad: 2}, "no images to pad"},
		{"mnist", Options{Pad: -2}, "Options.Pad = -2"},
		{"mnist", Options{Split: "val", DataDir: "/nonexistent"}, `split "val"`},
	}
	for _, tc := range tests {
		_, err := Load(tc.name, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%q, %+v) = %v, want an error containing %q", tc.name, tc.opts, err, tc.want)
		}
	}
	if _, err := NewSampler("mnist", Options{}); err == nil || !strings.Contains(err.Error(), "no sampler") {
		t.Errorf(`NewSampler("mnist") = %v, want an error`, err)
	}
}

func TestLoadImagesFromDataDir(t *testing.T) {
	dir := t.TempDir()
	writeMNISTDir(t, dir, Train, true, tinyImages, &IDX{Dims: []int{2}, Data: []byte{4, 2}})
	d, err := Load("mnist", Options{DataDir: dir, Pad: 1, N: 1})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 1 || !slices.Equal(d.Shape, []int{4, 5, 1}) || !slices.Equal(d.Labels, []int{4}) {
		t.Errorf(`Load("mnist", N 1, Pad 1) = %d of shape %v labels %v, want 1 of {4, 5, 1} [4]`, d.Len(), d.Shape, d.Labels)
	}
	if _, err := Load("fashion-mnist", Options{DataDir: dir, N: 3}); err == nil || !strings.Contains(err.Error(), "Options.N = 3") {
		t.Errorf(`Load N 3 of a 2-image split = %v, want an error`, err)
	}
	cdir := t.TempDir()
	writeCIFARDir(t, cdir)
	if d, err := Load("cifar10", Options{DataDir: cdir, Split: Test}); err != nil || d.Len() != 2 {
		t.Errorf(`Load("cifar10", test) = %v, %v, want 2 images`, d, err)
	}
}

func TestIsImage(t *testing.T) {
	for name, want := range map[string]bool{
		"mnist": true, "fashion-mnist": true, "cifar10": true,
		"gmm": false, "moons": false, "swissroll": false, "8gaussians": false, "imagenet": false, "": false,
	} {
		if got := IsImage(name); got != want {
			t.Errorf("IsImage(%q) = %v, want %v", name, got, want)
		}
	}
}

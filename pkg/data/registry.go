package data

import (
	"fmt"
	"slices"
	"strings"

	"github.com/difflab/difflab/pkg/gmm"
)

// Options configure Load and NewSampler. The zero value asks for every default;
// each field says which datasets read it, and the others ignore it.
type Options struct {
	// N is the number of examples. 2-D datasets: how many to draw; 0 means DefaultN.
	// Image datasets: keep only the first N of the split; 0 means all of it, and N
	// larger than the split is an error.
	N int
	// Seed seeds the 2-D generators. Default 0.
	Seed uint64
	// Noise is the noise of a 2-D dataset; 0 means its default. "moons": standard
	// deviation of the noise (DefaultMoonsNoise); "swissroll": the same in sklearn's
	// units (DefaultSwissRollNoise); "8gaussians": each mode's standard deviation
	// (DefaultEightGaussiansStd). Negative is an error. For noise-free moons or swiss
	// roll, call Moons or SwissRoll with noise 0.
	Noise float64
	// GMMPath is the mixture's JSON file (see gmm.Load); "gmm" requires it.
	GMMPath string
	// DataDir overrides where image datasets are looked for (the CLI's --data-dir);
	// "" means each loader's default places (see LoadMNIST, LoadFashionMNIST,
	// LoadCIFAR10).
	DataDir string
	// Split is Train or Test for image datasets; "" means Train.
	Split Split
	// Pad pads images with Pad pixels of -1 on each side (see WithPad); 2 makes
	// MNIST 32x32. Default 0. Non-zero for a 2-D dataset is an error.
	Pad int
}

// DefaultN is the number of points Load draws for a 2-D dataset when Options.N is 0.
const DefaultN = 10000

// entry is what the registry knows of one dataset name.
type entry struct {
	load    func(Options) (*Dataset, error)
	sampler func(Options) (Sampler, error) // nil for image datasets
}

// registry maps dataset names to loaders. Names are append-only: scripts and run
// records refer to them.
var registry = map[string]entry{
	"gmm": {
		load: func(o Options) (*Dataset, error) {
			g, err := loadGMM(o)
			if err != nil {
				return nil, err
			}
			return FromGMM(g, o.N, o.Seed)
		},
		sampler: func(o Options) (Sampler, error) { return loadGMM(o) },
	},
	"moons": {
		load: func(o Options) (*Dataset, error) {
			return Moons(o.N, orDefault(o.Noise, DefaultMoonsNoise), o.Seed)
		},
		sampler: func(o Options) (Sampler, error) {
			return MoonsSampler{Noise: orDefault(o.Noise, DefaultMoonsNoise)}, nil
		},
	},
	"swissroll": {
		load: func(o Options) (*Dataset, error) {
			return SwissRoll(o.N, orDefault(o.Noise, DefaultSwissRollNoise), o.Seed)
		},
		sampler: func(o Options) (Sampler, error) {
			return SwissRollSampler{Noise: orDefault(o.Noise, DefaultSwissRollNoise)}, nil
		},
	},
	"8gaussians": {
		load: func(o Options) (*Dataset, error) {
			return EightGaussians(o.N, orDefault(o.Noise, DefaultEightGaussiansStd), o.Seed)
		},
		sampler: func(o Options) (Sampler, error) {
			return EightGaussiansSampler{Std: orDefault(o.Noise, DefaultEightGaussiansStd)}, nil
		},
	},
	"mnist": {load: func(o Options) (*Dataset, error) {
		return LoadMNIST(o.DataDir, o.Split, WithPad(o.Pad))
	}},
	"fashion-mnist": {load: func(o Options) (*Dataset, error) {
		return LoadFashionMNIST(o.DataDir, o.Split, WithPad(o.Pad))
	}},
	"cifar10": {load: func(o Options) (*Dataset, error) {
		return LoadCIFAR10(o.DataDir, o.Split, WithPad(o.Pad))
	}},
}

// IsImage reports whether name is an image dataset (images of one shape, loaded
// from files, with no sampler of fresh points) rather than a low-dimensional one
// (generated, with a sampler: see NewSampler). Unknown names are not images.
func IsImage(name string) bool {
	e, ok := registry[name]
	return ok && e.sampler == nil
}

// Names lists the dataset names Load accepts, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Load returns the dataset called name ("gmm", "moons", "swissroll", "8gaussians",
// "mnist", "fashion-mnist", "cifar10"; see Names) configured by opts. It returns an
// error listing the allowed names for an unknown name, an error naming the field for
// a bad option, and the loader's error otherwise.
func Load(name string, opts Options) (*Dataset, error) {
	e, o, err := lookup("Load", name, opts)
	if err != nil {
		return nil, err
	}
	d, err := e.load(o)
	if err != nil {
		return nil, err
	}
	if e.sampler == nil && opts.N > 0 {
		if opts.N > d.Len() {
			return nil, fmt.Errorf("data.Load(%q): Options.N = %d, but the %s split has %d examples", name, opts.N, o.Split, d.Len())
		}
		return d.Head(opts.N)
	}
	return d, nil
}

// NewSampler returns a source of fresh points from the distribution of the 2-D
// dataset called name, configured as Load would ("gmm" reads opts.GMMPath; "moons",
// "swissroll" and "8gaussians" read opts.Noise). It returns an error for an unknown
// name, an image dataset (they have no sampler), or a bad option.
func NewSampler(name string, opts Options) (Sampler, error) {
	e, o, err := lookup("NewSampler", name, opts)
	if err != nil {
		return nil, err
	}
	if e.sampler == nil {
		return nil, fmt.Errorf("data.NewSampler(%q): an image dataset has no sampler; want one of gmm, moons, swissroll, 8gaussians", name)
	}
	return e.sampler(o)
}

// lookup finds name's entry and checks and fills in the options.
func lookup(fn, name string, o Options) (entry, Options, error) {
	e, ok := registry[name]
	if !ok {
		return entry{}, o, fmt.Errorf("data: unknown dataset %q, want one of %s", name, strings.Join(Names(), ", "))
	}
	switch {
	case o.N < 0:
		return e, o, fmt.Errorf("data.%s(%q): Options.N = %d, want >= 0", fn, name, o.N)
	case o.Noise < 0:
		return e, o, fmt.Errorf("data.%s(%q): Options.Noise = %v, want >= 0", fn, name, o.Noise)
	case o.Pad < 0:
		return e, o, fmt.Errorf("data.%s(%q): Options.Pad = %d, want >= 0", fn, name, o.Pad)
	}
	if e.sampler != nil {
		if o.Pad != 0 {
			return e, o, fmt.Errorf("data.%s(%q): Options.Pad = %d, but a 2-D dataset has no images to pad", fn, name, o.Pad)
		}
		if o.N == 0 {
			o.N = DefaultN
		}
	} else if o.Split == "" {
		o.Split = Train
	}
	return e, o, nil
}

// orDefault is v, or def when v is 0.
func orDefault(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

// loadGMM reads the mixture that Options.GMMPath names.
func loadGMM(o Options) (*gmm.Mixture, error) {
	if o.GMMPath == "" {
		return nil, fmt.Errorf(`data.Load("gmm"): Options.GMMPath is empty, want a mixture's JSON file {"weights", "means", "stds"}`)
	}
	return gmm.Load(o.GMMPath)
}

// compile-time checks that the samplers satisfy Sampler.
var (
	_ Sampler = (*gmm.Mixture)(nil)
	_ Sampler = MoonsSampler{}
	_ Sampler = SwissRollSampler{}
	_ Sampler = EightGaussiansSampler{}
)

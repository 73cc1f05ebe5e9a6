// Package data holds difflab's datasets: small 2-D synthetic distributions for
// checking samplers against a known density, and MNIST, Fashion-MNIST and CIFAR-10
// read from their original binary files. It is plain Go with no GoMLX import.
//
// Every dataset is a [Dataset]: a fixed, in-memory set of float32 examples of one
// shape. A [Loader] yields full batches of it in a seeded order that is reshuffled
// every epoch; its [LoaderState] is a few integers, enough to resume exactly.
//
//	d, err := data.Load("moons", data.Options{N: 10000, Seed: 1})
//	l, err := data.NewLoader(d, 256, 1)
//	for step := 0; step < steps; step++ {
//		b := l.Next() // b.X holds 256*2 float32, example-major
//	}
//	st := l.State() // store as JSON with a checkpoint; Restore it to go on
//
// Randomness is explicit: every generator takes a seed, and the loader's order in
// epoch e is a pure function of (seed, e). Bad input (a malformed file, a bad
// option) gives an error that names what was wrong; a reader never panics on a
// file's contents.
package data

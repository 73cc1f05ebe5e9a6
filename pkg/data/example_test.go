package data_test

import (
	"encoding/json"
	"fmt"

	"github.com/difflab/difflab/pkg/data"
)

// A loader over eight-Gaussians data. The third batch ends epoch 0 with examples 9
// and 2 and goes on with epoch 1's first two; the state saved with a checkpoint is
// where epoch 1 stands.
func ExampleLoader() {
	d, err := data.Load("8gaussians", data.Options{N: 10, Seed: 1})
	if err != nil {
		panic(err)
	}
	l, err := data.NewLoader(d, 4, 7)
	if err != nil {
		panic(err)
	}
	for range 3 {
		b := l.Next()
		fmt.Println(b.Epoch, b.Indices, b.Shape)
	}
	st, _ := json.Marshal(l.State())
	fmt.Println(string(st))

	// Output:
	// 0 [7 8 6 4] [4 2]
	// 0 [3 5 1 0] [4 2]
	// 0 [9 2 5 3] [4 2]
	// {"seed":7,"epoch":1,"position":2,"batch_size":4,"dataset_len":10,"horizontal_flip":false}
}

func ExamplePermutation() {
	fmt.Println(data.Permutation(1, 0, 10))
	fmt.Println(data.Permutation(1, 1, 10))
	// Output:
	// [7 6 1 3 2 4 8 9 0 5]
	// [2 5 8 3 4 1 7 6 0 9]
}

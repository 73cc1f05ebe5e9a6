package backend

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	onnxbackend "github.com/gomlx/compute-onnx"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
)

// TestSaveONNXModel compiles 2x + 1 on ONNX Runtime (through withOps), writes its
// model with SaveONNXModel, loads that model back with compute-onnx and runs it:
// the saved model computes the graph. Without KeepONNXModels there is nothing to
// save, and the pure-Go backend is refused by name.
func TestSaveONNXModel(t *testing.T) {
	goB, err := Open(GoDefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := KeepONNXModels(goB); err == nil || !strings.Contains(err.Error(), "not ONNX Runtime") {
		t.Errorf("KeepONNXModels(pure-Go backend) = %v, want an error saying it is not ONNX Runtime", err)
	}
	if _, err := FindONNXRuntime(); err != nil {
		if os.Getenv("DIFFLAB_REQUIRE_ONNX") == "1" {
			t.Fatalf("DIFFLAB_REQUIRE_ONNX=1: %v", err)
		}
		t.Skip(err)
	}
	b, err := Open(ONNXDefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	compile := func() *graph.Graph {
		g := graph.NewGraph(b, "twice")
		x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 3))
		if err := g.Compile(graph.AddScalar(graph.MulScalar(x, 2), 1)); err != nil {
			t.Fatal(err)
		}
		return g
	}
	if err := SaveONNXModel(b, compile().Executable(), &bytes.Buffer{}); err == nil {
		t.Error("SaveONNXModel before KeepONNXModels: no error, want one (the model is not kept)")
	}
	if err := KeepONNXModels(b); err != nil {
		t.Fatal(err)
	}
	var model bytes.Buffer
	if err := SaveONNXModel(b, compile().Executable(), &model); err != nil {
		t.Fatal(err)
	}
	inner, _ := onnxOf(b)
	exec, err := onnxbackend.LoadModel(inner, &model)
	if err != nil {
		t.Fatal(err)
	}
	in, err := inner.BufferFromFlatData(0, []float32{-1, 0, 2.5}, shapes.Make(dtypes.Float32, 3))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Execute([]compute.Buffer{in}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 3)
	if err := out[0].ToFlatData(got); err != nil {
		t.Fatal(err)
	}
	if want := []float32{-1, 1, 6}; !slices.Equal(got, want) {
		t.Errorf("saved model of 2x + 1 at (-1, 0, 2.5) = %v, want %v", got, want)
	}
}

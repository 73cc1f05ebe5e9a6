// Command ortmodel writes a UNet's forward or training graph as difflab hands it
// to ONNX Runtime, as an ONNX model, for bench/ort-profile.sh to run under ONNX
// Runtime's profiler:
//
//	go run ./bench/ortmodel -unet default -batch 64 -graph train -o build/ort/train.onnx
//
// The training graph is the forward pass at x [B, 28, 28, 1] and t [B] in training
// mode, the mean squared error against x, and the gradient of that loss with
// respect to every weight: what a training step computes before the optimiser's
// update. The forward graph is the network's output alone. The weights are the
// graph's inputs (after x and t), so any values of the right shapes will run it.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"

	"github.com/difflab/difflab/pkg/backend"
	"github.com/difflab/difflab/pkg/models"
)

func main() {
	unet := flag.String("unet", "default", "the UNet: default, small or large (models.*UNetConfig)")
	batch := flag.Int("batch", 64, "batch size B")
	kind := flag.String("graph", "train", "the graph: train (loss and weight gradients) or forward")
	out := flag.String("o", "", "the ONNX file to write (required)")
	flag.Parse()
	if err := run(*unet, *batch, *kind, *out); err != nil {
		fmt.Fprintln(os.Stderr, "ortmodel:", err)
		os.Exit(1)
	}
}

func run(name string, batch int, kind, out string) error {
	configs := map[string]func() models.UNetConfig{
		"default": models.DefaultUNetConfig, "small": models.SmallUNetConfig, "large": models.LargeUNetConfig,
	}
	cfg, ok := configs[name]
	switch {
	case !ok:
		return fmt.Errorf("-unet %q: want default, small or large", name)
	case batch < 1:
		return fmt.Errorf("-batch %d: want >= 1", batch)
	case kind != "train" && kind != "forward":
		return fmt.Errorf("-graph %q: want train or forward", kind)
	case out == "":
		return fmt.Errorf("-o: the ONNX file to write is required")
	}
	b, err := backend.Open(backend.ONNXDefaultConfig)
	if err != nil {
		return err
	}
	defer b.Finalize()
	if err := backend.KeepONNXModels(b); err != nil {
		return err
	}
	den, err := models.NewUNet(cfg())
	if err != nil {
		return err
	}
	g := graph.NewGraph(b, "ortmodel")
	defer g.Finalize()
	size := cfg().ImageSize
	x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, batch, size, size, cfg().InChannels))
	t := graph.Parameter(g, "t", shapes.Make(dtypes.Int32, batch))
	den.Store.SetTraining(g, kind == "train")
	y := den.Fn(den.Store.RootScope(), x, t)
	outputs := []*graph.Node{y}
	if kind == "train" {
		loss := graph.ReduceAllMean(graph.Square(graph.Sub(y, x)))
		var vars []*graph.Node
		for v := range den.Store.IterVariables() {
			if v.Trainable && v.InUseByGraph(g) {
				vars = append(vars, v.NodeValue(g))
			}
		}
		outputs = append([]*graph.Node{loss}, graph.Gradient(loss, vars...)...)
	}
	if err := g.Compile(outputs...); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := backend.SaveONNXModel(b, g.Executable(), f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

package models

import (
	"fmt"
	"sort"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
)

// TestOpCensus logs, per node type, how many nodes and output elements one training
// graph (forward, MSE loss, gradients) of the default UNet at batch 64 has. It is a
// profiling aid: run with -run OpCensus -v.
func TestOpCensus(t *testing.T) {
	if testing.Short() {
		t.Skip("profiling aid")
	}
	cfg := DefaultUNetConfig()
	den, _ := NewUNet(cfg)
	g := graph.NewGraph(testBackend(t), "census")
	defer g.Finalize()
	x := graph.Parameter(g, "x", shapes.Make(dtypes.Float32, 64, 28, 28, 1))
	ts := graph.Parameter(g, "t", shapes.Make(dtypes.Int32, 64))
	den.Store.SetTraining(g, true)
	out := den.Fn(den.Store.RootScope(), x, ts)
	l := graph.ReduceAllMean(graph.Square(graph.Sub(out, x)))
	var vars []*graph.Node
	for v := range den.Store.IterVariables() {
		if v.Trainable && v.InUseByGraph(g) {
			vars = append(vars, v.NodeValue(g))
		}
	}
	graph.Gradient(l, vars...)
	count := map[string]int{}
	elems := map[string]int{}
	for _, n := range g.Nodes() {
		k := n.Type().String()
		count[k]++
		elems[k] += n.Shape().Size()
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return elems[keys[i]] > elems[keys[j]] })
	for _, k := range keys {
		t.Log(fmt.Sprintf("%-22s %5d nodes %12d elements", k, count[k], elems[k]))
	}
}

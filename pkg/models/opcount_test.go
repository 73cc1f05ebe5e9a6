package models

import (
	"fmt"
	"sort"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
)

// BenchmarkOpCensus builds one training graph (forward, MSE loss, gradients) of the
// default UNet at batch 64 and reports its node count and output elements; with -v
// it logs them per node type, a profiling aid:
//
//	go test -run '^$' -bench OpCensus -benchtime 1x -v ./pkg/models/
func BenchmarkOpCensus(b *testing.B) {
	var count, elems map[string]int
	for b.Loop() {
		count, elems = opCensus(b)
	}
	nodes, size := 0, 0
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
		nodes, size = nodes+count[k], size+elems[k]
	}
	b.ReportMetric(float64(nodes), "nodes")
	b.ReportMetric(float64(size), "elements")
	sort.Slice(keys, func(i, j int) bool { return elems[keys[i]] > elems[keys[j]] })
	for _, k := range keys {
		b.Log(fmt.Sprintf("%-22s %5d nodes %12d elements", k, count[k], elems[k]))
	}
}

// opCensus counts the nodes and output elements of the default UNet's training
// graph by node type.
func opCensus(tb testing.TB) (count, elems map[string]int) {
	cfg := DefaultUNetConfig()
	den, _ := NewUNet(cfg)
	g := graph.NewGraph(testBackend(tb), "census")
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
	count, elems = map[string]int{}, map[string]int{}
	for _, n := range g.Nodes() {
		k := n.Type().String()
		count[k]++
		elems[k] += n.Shape().Size()
	}
	return count, elems
}

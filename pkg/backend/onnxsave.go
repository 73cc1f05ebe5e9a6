package backend

import (
	"errors"
	"io"

	"github.com/gomlx/compute"
	onnxbackend "github.com/gomlx/compute-onnx"
)

// KeepONNXModels makes b, an ONNX Runtime backend from New or Open, keep the
// ONNX model of every executable it compiles from now on, so that SaveONNXModel
// can write it (a profiling aid: bench/ort-profile.sh runs the model under ONNX
// Runtime's own profiler). It is an error for any other backend.
func KeepONNXModels(b compute.Backend) error {
	ob, err := onnxOf(b)
	if err != nil {
		return err
	}
	ob.SetKeepModelProto(true)
	return nil
}

// SaveONNXModel writes to w the ONNX model (protobuf) of exec, compiled by b after
// KeepONNXModels, as difflab gives it to ONNX Runtime (withOps' compositions
// included, before ONNX Runtime's own graph optimisations).
func SaveONNXModel(b compute.Backend, exec compute.Executable, w io.Writer) error {
	ob, err := onnxOf(b)
	if err != nil {
		return err
	}
	if e, ok := exec.(*opsExecutable); ok {
		exec = e.Executable
	}
	return onnxbackend.SaveModel(ob, exec, w, nil, nil)
}

// onnxOf returns the compute-onnx backend inside b.
func onnxOf(b compute.Backend) (*onnxbackend.Backend, error) {
	if w, ok := b.(*withOps); ok {
		b = w.Backend
	}
	ob, ok := b.(*onnxbackend.Backend)
	if !ok {
		return nil, errors.New("backend " + b.Name() + " is not ONNX Runtime")
	}
	return ob, nil
}

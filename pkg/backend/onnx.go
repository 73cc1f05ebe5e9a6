package backend

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ONNXLibraryEnv names the environment variable that gives the path of ONNX
// Runtime's shared library ("ONNXRUNTIME_SHARED_LIBRARY_PATH", compute-onnx's).
const ONNXLibraryEnv = "ONNXRUNTIME_SHARED_LIBRARY_PATH"

// ONNXLibraryDir is where `make deps` installs ONNX Runtime's shared library,
// relative to the repository root: build/onnxruntime/libonnxruntime.so.1, taken
// from the npm package onnxruntime-node.
const ONNXLibraryDir = "build/onnxruntime"

// onnxLibraryNames are the file names FindONNXRuntime looks for in a directory.
var onnxLibraryNames = []string{"libonnxruntime.so.1", "libonnxruntime.so"}

// FindONNXRuntime returns the path of ONNX Runtime's shared library, looking, in
// order, at $ONNXRUNTIME_SHARED_LIBRARY_PATH (which must then name an existing
// file), ONNXLibraryDir under the working directory, the running program's
// directory and their parents (so build/bin/difflab and `go test` in the
// repository find `make deps`' copy), and ~/.local/lib/onnxruntime (compute-onnx's
// own install place). The error lists where it looked.
func FindONNXRuntime() (string, error) {
	if p := os.Getenv(ONNXLibraryEnv); p != "" {
		if fileExists(p) {
			return p, nil
		}
		return "", fmt.Errorf("$%s=%s: no such file", ONNXLibraryEnv, p)
	}
	var dirs []string
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, d := range starts {
		for {
			dirs = append(dirs, filepath.Join(d, ONNXLibraryDir))
			parent := filepath.Dir(d)
			if parent == d {
				break
			}
			d = parent
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".local", "lib", "onnxruntime"))
	}
	for _, d := range dirs {
		for _, name := range onnxLibraryNames {
			if p := filepath.Join(d, name); fileExists(p) {
				return p, nil
			}
		}
	}
	return "", errors.New("ONNX Runtime's library not found: set $" + ONNXLibraryEnv + " or run `make deps` (looked in " + ONNXLibraryDir + " above the working directory and the program, and ~/.local/lib/onnxruntime; " + strings.Join(onnxLibraryNames, ", ") + ")")
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

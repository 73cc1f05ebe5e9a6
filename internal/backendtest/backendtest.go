// Package backendtest opens every backend this machine has, for the tests that
// check the others against the pure-Go backend.
package backendtest

import (
	"os"
	"testing"

	"github.com/gomlx/compute"

	"github.com/difflab/difflab/pkg/backend"
)

// RequireONNXEnv names the environment variable that, set to 1 (make test does),
// makes a missing ONNX Runtime library fail the parity tests instead of leaving
// that backend out.
const RequireONNXEnv = "DIFFLAB_REQUIRE_ONNX"

// Open returns a new pure-Go backend, the reference, and one new backend for each
// other configuration backend.Installed lists. It fails t when one of them cannot
// be created or, with $DIFFLAB_REQUIRE_ONNX=1, when ONNX Runtime is not installed,
// and skips t when there is nothing to compare with.
func Open(t testing.TB) (ref compute.Backend, others []compute.Backend) {
	t.Helper()
	installed := backend.Installed()
	if os.Getenv(RequireONNXEnv) == "1" {
		if _, err := backend.FindONNXRuntime(); err != nil {
			t.Fatalf("%s=1: %v", RequireONNXEnv, err)
		}
	}
	ref, err := backend.Open(installed[0].Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range installed[1:] {
		b, err := backend.Open(c.Config)
		if err != nil {
			t.Fatalf("backend %s (%s): %v", c.Config, c.Reason, err)
		}
		others = append(others, b)
	}
	if len(others) == 0 {
		t.Skip("only the pure-Go backend is installed here")
	}
	return ref, others
}

package pipeline

import (
	"testing"

	"github.com/difflab/difflab/pkg/backend"
	"github.com/gomlx/compute"
)

func backendForTest(t *testing.T) compute.Backend {
	t.Helper()
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

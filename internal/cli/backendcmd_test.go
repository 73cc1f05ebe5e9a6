package cli

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/difflab/difflab/pkg/backend"
)

// TestBackendCommand checks that `difflab backend` reports the choice that
// backend.Select makes under this environment, lists the pure-Go
// backend (and ONNX Runtime when its library is found) as installed, checks each
// with --check, and that --install-xla, with its download host unreachable, fails
// in one line at once instead of hanging.
func TestBackendCommand(t *testing.T) {
	env := os.Getenv(backend.EnvVar)
	found := backend.Discover()
	code, out, errOut := run(t, "backend", "--check")
	if code != 0 {
		t.Fatalf("difflab backend --check: exit %d, stderr %q", code, errOut)
	}
	if c := backend.Select(env, found); !strings.Contains(out, "would run:    "+c.Config+" ("+c.Reason+")\n") {
		t.Errorf("difflab backend: no line \"would run: %s (%s)\" in:\n%s", c.Config, c.Reason, out)
	}
	if !strings.Contains(out, backend.GoDefaultConfig) || !strings.Contains(out, "built in  ok (2 + 1 = 3)") {
		t.Errorf("difflab backend --check: the pure-Go backend is not listed as checked ok:\n%s", out)
	}
	if lib, err := backend.FindONNXRuntime(); err == nil {
		if !strings.Contains(out, "ONNX Runtime found at "+lib+"  ok (2 + 1 = 3)") {
			t.Errorf("difflab backend --check: ONNX Runtime at %s not listed as checked ok:\n%s", lib, out)
		}
	} else if !strings.Contains(out, "ONNX Runtime's library not found") {
		t.Errorf("difflab backend: no word on the missing ONNX Runtime library:\n%s", out)
	}

	// A port nobody listens on: the probe is refused at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	saved := xlaInstallHost
	xlaInstallHost = addr
	defer func() { xlaInstallHost = saved }()
	code, out, errOut = run(t, "backend", "--install-xla")
	if code != 1 {
		t.Fatalf("difflab backend --install-xla with %s unreachable: exit %d, want 1; stderr %q", addr, code, errOut)
	}
	if lines := strings.Split(strings.TrimSpace(errOut), "\n"); len(lines) != 1 || !strings.Contains(lines[0], addr+" is unreachable") || !strings.Contains(lines[0], "nothing was installed") {
		t.Errorf("difflab backend --install-xla: stderr %q, want one line saying %s is unreachable and nothing was installed", errOut, addr)
	}
	if !strings.Contains(out, addr+" is unreachable from here") {
		t.Errorf("difflab backend --install-xla: stdout does not say the host is unreachable:\n%s", out)
	}
}

// Package queuetest helps tests of workers that share a track.Queue.
package queuetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/difflab/difflab/pkg/track"
)

// KillHolding waits until at least afterDone tasks of q are done and the
// worker process cmd holds one, then kills it with SIGKILL and reaps it. The
// worker is stopped (SIGSTOP) before the check that it holds a task, so that
// it cannot finish the task between the check and the kill: the task is
// certainly lost with it. It fails t if that does not happen within timeout.
func KillHolding(t testing.TB, q *track.Queue, cmd *exec.Cmd, afterDone int, timeout time.Duration) {
	t.Helper()
	host, _ := os.Hostname()
	owner := fmt.Sprintf("%s:%d", host, cmd.Process.Pid) // the default Queue.Owner
	held := func() bool {
		s, err := q.Status(context.Background())
		return err == nil && s.Done >= afterDone && s.Holders[owner] > 0
	}
	for deadline := time.Now().Add(timeout); ; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("worker %d never held a task after %d were done", cmd.Process.Pid, afterDone)
		}
		if !held() {
			continue
		}
		cmd.Process.Signal(syscall.SIGSTOP)
		if held() {
			break
		}
		cmd.Process.Signal(syscall.SIGCONT)
	}
	cmd.Process.Kill()
	cmd.Wait()
}

// Start starts the worker processes cmds, each with its output (stdout and
// stderr) captured, and returns the captures, to be read once the process has
// exited. When the test ends, every worker still running is killed, and if
// the test failed, every worker's output is logged.
func Start(t testing.TB, cmds ...*exec.Cmd) []*strings.Builder {
	t.Helper()
	logs := make([]*strings.Builder, len(cmds))
	for i, c := range cmds {
		logs[i] = &strings.Builder{}
		c.Stdout, c.Stderr = logs[i], logs[i]
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			c.Process.Kill()
			c.Wait()
			if t.Failed() {
				t.Logf("worker %d (%s):\n%s", i+1, strings.Join(c.Args, " "), logs[i])
			}
		})
	}
	return logs
}

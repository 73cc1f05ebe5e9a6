package train

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/difflab/difflab/pkg/diffusion"
)

// Environment of the helper process of TestKillDuringSave.
const (
	helperEnv      = "DIFFLAB_TRAIN_SAVE_LOOP_DIR"
	helperPauseEnv = "DIFFLAB_TRAIN_SAVE_LOOP_PAUSE" // "1": pause mid-save at helperPauseAt
	helperWidth    = 1024                            // hidden width: ~1.1M parameters, ~17 MB per checkpoint
	helperPauseAt  = 4                               // the save of this step pauses between tensors and manifest
)

func helperConfig(dir string) Config {
	cfg := smallConfig()
	cfg.Steps = 1000
	cfg.BatchSize = 8
	cfg.KeepLast = 2
	cfg.CheckpointDir = dir
	return cfg
}

// TestHelperSaveLoop is not a test: run by TestKillDuringSave as a separate process,
// it trains a large-ish MLP and saves a checkpoint after every step, printing
// "saved N" after each save and "mid-save N" (then hanging) in the middle of the
// save of step helperPauseAt, until it is killed.
func TestHelperSaveLoop(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process of TestKillDuringSave")
	}
	testHookMidSave = func(step int) {
		if os.Getenv(helperPauseEnv) == "1" && step == helperPauseAt {
			fmt.Printf("mid-save %d\n", step)
			select {} // wait to be killed
		}
	}
	cfg := helperConfig(dir)
	tr, _ := newTestTrainer(t, cfg, diffusion.PredictEps, helperWidth, helperWidth)
	for {
		if err := tr.TrainStep(); err != nil {
			t.Fatal(err)
		}
		d, err := tr.SaveCheckpoint()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("saved %d %s\n", tr.Step(), d)
	}
}

// TestKillDuringSave kills (SIGKILL) a process in the middle of writing a
// checkpoint and checks that the latest complete checkpoint loads, that the
// half-written one is not taken for a checkpoint, and that Resume cleans it up.
func TestKillDuringSave(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a helper process that writes ~100 MB of checkpoints")
	}
	dir := t.TempDir()
	killHelper(t, dir, true, fmt.Sprintf("mid-save %d", helperPauseAt))

	// The half-written save is a .tmp-ckpt-* directory with tensors but no manifest.
	tmps, _ := filepath.Glob(filepath.Join(dir, ".tmp-ckpt-*"))
	if len(tmps) != 1 {
		t.Fatalf("found %d .tmp-ckpt-* directories after the kill, want 1", len(tmps))
	}
	if fi, err := os.Stat(filepath.Join(tmps[0], DataFile)); err != nil || fi.Size() < 1<<20 {
		t.Fatalf("the killed save's %s: %v, want a large file", DataFile, err)
	}
	wantDir := filepath.Join(dir, fmt.Sprintf("ckpt-%08d", helperPauseAt-1))
	if latest, err := LatestCheckpoint(dir); err != nil || latest != wantDir {
		t.Fatalf("LatestCheckpoint = %q, %v; want %q", latest, err, wantDir)
	}
	tr, _ := newTestTrainer(t, helperConfig(dir), diffusion.PredictEps, helperWidth, helperWidth)
	if err := tr.Resume(""); err != nil {
		t.Fatalf("Resume after a kill mid-save: %v", err)
	}
	if tr.Step() != helperPauseAt-1 {
		t.Errorf("resumed at step %d, want %d", tr.Step(), helperPauseAt-1)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(tmps) != 0 {
		t.Errorf("Resume left %v", tmps)
	}
	// Training and saving go on from there.
	if err := tr.TrainStep(); err != nil {
		t.Fatal(err)
	}
	if d, err := tr.SaveCheckpoint(); err != nil || filepath.Base(d) != fmt.Sprintf("ckpt-%08d", helperPauseAt) {
		t.Errorf("SaveCheckpoint after resume = %q, %v", d, err)
	}
}

// killHelper runs TestHelperSaveLoop writing to dir and SIGKILLs it as soon as it
// prints the line until.
func killHelper(t *testing.T, dir string, pause bool, until string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSaveLoop$", "-test.v")
	p := "0"
	if pause {
		p = "1"
	}
	cmd.Env = append(os.Environ(), helperEnv+"="+dir, helperPauseEnv+"="+p)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	sc := bufio.NewScanner(out)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.HasPrefix(sc.Text(), until) {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("helper ended before printing %q; output:\n%s", until, strings.Join(lines, "\n"))
}

// TestKillAnytime kills the saving loop at whatever point it has reached right after
// its second save (training step 3, or the save of step 3), three times in the same
// directory, resuming from the latest checkpoint each time: every kill must leave a
// loadable checkpoint.
func TestKillAnytime(t *testing.T) {
	if testing.Short() {
		t.Skip("runs helper processes that write ~100 MB of checkpoints")
	}
	dir := t.TempDir()
	for round := range 3 {
		killHelper(t, dir, false, "saved 2 ")
		tr, _ := newTestTrainer(t, helperConfig(dir), diffusion.PredictEps, helperWidth, helperWidth)
		if err := tr.Resume(""); err != nil {
			t.Fatalf("round %d: Resume after a kill: %v", round, err)
		}
		if tr.Step() < 2 {
			t.Fatalf("round %d: resumed at step %d, want >= 2", round, tr.Step())
		}
	}
}

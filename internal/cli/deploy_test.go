package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/difflab/difflab/internal/pgtest"
	"github.com/difflab/difflab/internal/queuetest"
	"github.com/difflab/difflab/pkg/track"
)

// k8sCommand reads the worker's command line from the Indexed Job manifest
// (a flow sequence, which is JSON) and the names of the environment
// variables the manifest defines.
func k8sCommand(t *testing.T, manifest string) (argv []string, defined map[string]bool) {
	t.Helper()
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	defined = map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s*- name: (\w+)$`).FindAllStringSubmatch(string(b), -1) {
		defined[m[1]] = true
	}
	m := regexp.MustCompile(`(?m)^\s*command: (\[.*\])$`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("%s: no one-line command: [...]", manifest)
	}
	if err := json.Unmarshal([]byte(m[1]), &argv); err != nil {
		t.Fatalf("%s: command: %v", manifest, err)
	}
	for _, k := range []string{"completionMode: Indexed", "restartPolicy: OnFailure"} {
		if !strings.Contains(string(b), k) {
			t.Errorf("%s lacks %q", manifest, k)
		}
	}
	return argv, defined
}

// TestDeployCommandLines runs what deploy/ runs, here, against the test
// PostgreSQL server: two Slurm array tasks (the sbatch script itself, run
// by bash, with difflab on PATH standing for the binary) and one pod of the
// Kubernetes Indexed Job (its command line, with $(VAR) expanded from the
// values the manifest sets) share one sweep, which ends with every cell
// finished once and one report.
func TestDeployCommandLines(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three worker processes")
	}
	root := repoRoot(t)
	dsn := pgtest.DSN(t)
	dir := smallSweep(t)
	shared := t.TempDir()
	bin := t.TempDir()
	wrapper := "#!/bin/sh\n" + asMainEnv + "=1 exec " + os.Args[0] + ` "$@"` + "\n"
	if err := os.WriteFile(filepath.Join(bin, "difflab"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"DIFFLAB_DB="+dsn, "DIFFLAB_ARTIFACTS="+filepath.Join(shared, "artifacts"), "DIFFLAB_OUT="+filepath.Join(shared, "runs"))

	var cmds []*exec.Cmd
	for i := range 2 {
		cmd := exec.Command("bash", filepath.Join(root, "deploy", "slurm", "sweep.sbatch"), dir)
		cmd.Env = append(slices.Clip(env), "SLURM_ARRAY_JOB_ID=7", fmt.Sprintf("SLURM_ARRAY_TASK_ID=%d", i+1))
		cmds = append(cmds, cmd)
	}
	argv, defined := k8sCommand(t, filepath.Join(root, "deploy", "kubernetes", "sweep-job.yaml"))
	values := map[string]string{"EXPERIMENT": dir, "DIFFLAB_DB": dsn, "DIFFLAB_ARTIFACTS": filepath.Join(shared, "artifacts"), "DIFFLAB_OUT": filepath.Join(shared, "runs")}
	ref := regexp.MustCompile(`\$\((\w+)\)`)
	for i, a := range argv {
		argv[i] = ref.ReplaceAllStringFunc(a, func(s string) string {
			k := s[2 : len(s)-1]
			if !defined[k] {
				t.Errorf("the manifest's command uses $(%s), which its env does not define", k)
			}
			return values[k]
		})
	}
	if argv[0] != "difflab" || !strings.Contains(strings.Join(argv, " "), "--worker") {
		t.Fatalf("the manifest runs %q, want difflab run ... --worker", argv)
	}
	pod := exec.Command(filepath.Join(bin, "difflab"), argv[1:]...)
	pod.Env = env
	cmds = append(cmds, pod)

	logs := queuetest.Start(t, cmds...)
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("worker %d (%s): %v\n%s", i+1, c.Args, err, logs[i])
		}
	}
	st, err := track.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	finishedOnce(t, st, dir)
	if _, err := os.Stat(filepath.Join(shared, "runs", "report.md")); err != nil {
		t.Errorf("no report in the shared run folder: %v", err)
	}
	if !strings.Contains(logs[0].String(), "difflab worker: array task 1 of job 7") {
		t.Errorf("the Slurm task's log:\n%s", logs[0])
	}
}

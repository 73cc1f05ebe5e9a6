package cli

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/difflab/difflab/internal/cmdline"
	"github.com/difflab/difflab/pkg/backend"
	"github.com/difflab/difflab/pkg/data"
	"github.com/difflab/difflab/pkg/experiment"
	"github.com/difflab/difflab/pkg/features"
)

func TestFeaturesRejectsDataset(t *testing.T) {
	for _, name := range []string{"gmm", "cifar10", "digits"} {
		code, out, errOut := run(t, "features", "--data", name)
		if code != cmdline.ExitUsage {
			t.Errorf("features --data %s: exit %d, want %d (usage); stdout %q", name, code, cmdline.ExitUsage, out)
		}
		for _, want := range []string{`--data "` + name + `"`, "mnist", "fashion-mnist"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("features --data %s: stderr %q does not name %q", name, errOut, want)
			}
		}
	}
}

// TestFeaturesTrainsThenLoads runs the command twice in an empty folder: the first
// run trains the classifier and caches it, the second loads that file; both print
// the hash of the weights in the file, and the file is the one difflab run reads.
func TestFeaturesTrainsThenLoads(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the MNIST classifier (minutes); skipped with -short")
	}
	if _, err := data.LoadMNIST("", data.Test); err != nil {
		t.Skipf("MNIST not found: %v", err)
	}
	t.Chdir(t.TempDir())
	field := func(out, name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `:\s+(.*)$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no %q line in\n%s", name, out)
		}
		return m[1]
	}

	code, out, errOut := run(t, "features")
	if code != cmdline.ExitOK {
		t.Fatalf("features: exit %d, stderr %s", code, errOut)
	}
	t.Logf("first run:\n%s", out)
	if !strings.Contains(errOut, "step 500/500") {
		t.Errorf("training printed no progress up to its last step: %q", errOut)
	}
	if how := field(out, "how"); !strings.HasPrefix(how, "trained now") {
		t.Errorf("first run: how = %q, want it trained", how)
	}
	path := field(out, "file")
	if want := features.CachePath(experiment.FeatureCacheDir, "mnist", features.ClassifierConfig{}); path != want {
		t.Errorf("file = %q, want %q", path, want)
	}
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	cls, err := features.Load(b, filepath.Clean(path))
	if err != nil {
		t.Fatalf("the printed file does not load: %v", err)
	}
	hash := field(out, "hash")
	if hash != cls.Hash() {
		t.Errorf("printed hash %s, the file's weights hash to %s", hash, cls.Hash())
	}
	acc, err := strconv.ParseFloat(strings.TrimSuffix(field(out, "test accuracy"), "%"), 64)
	if err != nil || acc < 95 || acc > 100 {
		t.Errorf("test accuracy %q: want a percentage in [95, 100] (err %v)", field(out, "test accuracy"), err)
	}

	code, out, errOut = run(t, "features")
	if code != cmdline.ExitOK {
		t.Fatalf("second features: exit %d, stderr %s", code, errOut)
	}
	if how := field(out, "how"); how != "loaded from the cache" {
		t.Errorf("second run: how = %q, want it loaded", how)
	}
	if strings.Contains(errOut, "step ") {
		t.Errorf("second run trained again: %q", errOut)
	}
	if h := field(out, "hash"); h != hash {
		t.Errorf("second run: hash %s, first %s", h, hash)
	}
}

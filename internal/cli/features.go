package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/difflab/difflab/internal/cmdline"
	"github.com/difflab/difflab/pkg/backend"
	"github.com/difflab/difflab/pkg/experiment"
	"github.com/difflab/difflab/pkg/features"
	"github.com/difflab/difflab/pkg/progress"
)

func init() {
	register(command{"features", "the feature classifier of the image metrics: train it once, print its hash", runFeatures})
}

const featuresSynopsis = `features [--data NAME]

The image metrics of difflab run (FID, KID, precision, recall, IS, confident) are
measured in the feature space of a small classifier trained on the dataset, cached
in ` + experiment.FeatureCacheDir + ` and named in every report by its hash: numbers
compare only under one hash. This command loads that classifier, or trains it on
the backend that would run (a few minutes on a CPU), and prints its file, hash and
test accuracy.

Its weights depend on the kernels that trained it. The pure-Go backend gives the
same weights from the same kernels: on x86-64, GOMLX_BACKEND=go
GOMLX_SIMD_AVX512=false trains with its AVX2 kernels (the same weights on two
machines so far; its AVX-512 kernels round float32 sums differently, which gives
other weights, the same on AMD and Intel; other backends train other weights).`

func runFeatures(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("features", featuresSynopsis, stdout)
	name := fs.String("data", "mnist", "dataset the classifier is trained on: "+strings.Join(features.Datasets, " or "))
	if done, code := parse(fs, args, stderr); done {
		return code
	}
	return finish("features", func() error {
		if !slices.Contains(features.Datasets, *name) {
			return cmdline.Usagef("--data %q: want one of %s (the labelled datasets of 28x28 images)", *name, strings.Join(features.Datasets, ", "))
		}
		b, err := backend.New()
		if err != nil {
			return err
		}
		path := features.CachePath(experiment.FeatureCacheDir, *name, features.ClassifierConfig{})
		_, statErr := os.Stat(path)
		cls, err := experiment.FeatureClassifier(b, *name, stderr)
		if err != nil {
			return err
		}
		how := "loaded from the cache"
		if errors.Is(statErr, os.ErrNotExist) {
			how = fmt.Sprintf("trained now in %s on %s", progress.FormatDuration(time.Duration(cls.TrainSeconds*float64(time.Second))), backend.Description())
		}
		fmt.Fprintf(stdout, "file:           %s\n", path)
		fmt.Fprintf(stdout, "hash:           %s\n", cls.Hash())
		fmt.Fprintf(stdout, "test accuracy:  %.2f%%\n", 100*cls.TestAccuracy)
		fmt.Fprintf(stdout, "how:            %s\n", how)
		return nil
	}(), stderr)
}

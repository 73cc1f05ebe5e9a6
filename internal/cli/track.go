package cli

import (
	"io"

	"github.com/difflab/difflab/internal/trackcli"
)

func init() {
	register(command{"track", "list, show, compare, export, plot and clean tracked runs (ls|show|compare|export|plot|gc)", func(args []string, stdout, stderr io.Writer) int {
		return trackcli.Main(args, stdout, stderr)
	}})
}

// Command difflab is the command line of the difflab toolkit: noise schedules,
// timestep spacings, DDPM and DDIM sampling, training, experiments and the
// experiment tracker. Run "difflab help" for the list of commands.
package main

import (
	"os"

	"github.com/difflab/difflab/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}

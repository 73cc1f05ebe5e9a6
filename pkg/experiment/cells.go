package experiment

import (
	"fmt"
	"strconv"

	"github.com/difflab/difflab/pkg/diffusion"
)

// RowSigmaHat labels the DDIM paper's sigma-hat row: strided DDPM with
// sigma-hat_t = sqrt(1 - abar_t/abar_prev) (ddpm-strided, fixed-large). At S = T it
// is DDPM itself.
const RowSigmaHat = "sigma-hat"

// Cell is one point of the sampler grid, evaluated once per seed.
type Cell struct {
	Schedule diffusion.ScheduleKind
	Spacing  diffusion.Spacing
	Sampler  diffusion.SamplerKind // DDIM or DDPMStrided
	Eta      float64               // DDIM only
	Steps    int
	Seed     uint64
}

// Row is the cell's row of Table 1: "eta=0", "eta=0.2", ... or "sigma-hat".
func (c Cell) Row() string {
	if c.Sampler == diffusion.DDPMStrided {
		return RowSigmaHat
	}
	return "eta=" + strconv.FormatFloat(c.Eta, 'g', -1, 64)
}

// Key identifies the cell within an experiment.
func (c Cell) Key() string {
	return fmt.Sprintf("schedule=%s spacing=%s %s S=%d seed=%d", c.Schedule, c.Spacing, c.Row(), c.Steps, c.Seed)
}

// SamplerConfig is the cell's sampler configuration.
func (c Cell) SamplerConfig(clip float64) diffusion.SamplerConfig {
	sc := diffusion.SamplerConfig{
		Kind: c.Sampler, Steps: c.Steps, Spacing: c.Spacing, ClipX0: clip,
	}
	if sc.Kind == diffusion.DDIM {
		sc.Eta = c.Eta
	} else {
		sc.Variance = diffusion.FixedLarge
	}
	return sc
}

// Cells lists the grid in run order: schedule, spacing, seed, then the steps from
// the fewest, and within each S the rows in Table 1's order.
func (c *Config) Cells() []Cell {
	var out []Cell
	for _, sched := range c.Schedules {
		for _, sp := range c.Grid.Spacings {
			for _, seed := range c.Seeds {
				for _, S := range c.Grid.Steps {
					for _, smp := range c.Grid.Samplers {
						if smp == diffusion.DDIM {
							for _, eta := range c.Grid.Etas {
								out = append(out, Cell{sched, sp, smp, eta, S, seed})
							}
						} else {
							out = append(out, Cell{sched, sp, smp, 0, S, seed})
						}
					}
				}
			}
		}
	}
	return out
}

// Rows lists the table rows in order: the etas, then sigma-hat.
func (c *Config) Rows() []string {
	var rows []string
	for _, smp := range c.Grid.Samplers {
		if smp == diffusion.DDIM {
			for _, eta := range c.Grid.Etas {
				rows = append(rows, Cell{Sampler: smp, Eta: eta}.Row())
			}
		}
	}
	for _, smp := range c.Grid.Samplers {
		if smp == diffusion.DDPMStrided {
			rows = append(rows, RowSigmaHat)
		}
	}
	return rows
}

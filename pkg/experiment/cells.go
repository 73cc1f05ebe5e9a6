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
	Sampler  diffusion.SamplerKind // DDIM, DDPMStrided or an ODE solver
	// Steps is the column: the number of steps S, or of model evaluations
	// with GridConfig.EqualNFE (see samplerSteps).
	Eta   float64 // DDIM only
	Steps int
	Seed  uint64
}

// Row is the cell's row of Table 1: "eta=0", "eta=0.2", ... or "sigma-hat", or
// the name of an ODE solver ("dpmpp-2m", "heun", ...).
func (c Cell) Row() string {
	switch c.Sampler {
	case diffusion.DDPMStrided:
		return RowSigmaHat
	case diffusion.DDIM:
		return "eta=" + strconv.FormatFloat(c.Eta, 'g', -1, 64)
	}
	return string(c.Sampler)
}

// samplerSteps is the number of sampler steps of the column Steps: Steps
// itself, but with equal NFE for heun, (Steps + 1) / 2 (2S - 1 evaluations).
func (c Cell) samplerSteps(equalNFE bool) int {
	if equalNFE && c.Sampler == diffusion.Heun {
		return max(1, (c.Steps+1)/2)
	}
	return c.Steps
}

// Key identifies the cell within an experiment.
func (c Cell) Key() string {
	return fmt.Sprintf("schedule=%s spacing=%s %s S=%d seed=%d", c.Schedule, c.Spacing, c.Row(), c.Steps, c.Seed)
}

// SamplerConfig is the cell's sampler configuration (equalNFE: see
// GridConfig.EqualNFE).
func (c Cell) SamplerConfig(clip float64, equalNFE bool) diffusion.SamplerConfig {
	sc := diffusion.SamplerConfig{
		Kind: c.Sampler, Steps: c.samplerSteps(equalNFE), Spacing: c.Spacing, ClipX0: clip,
	}
	switch sc.Kind {
	case diffusion.DDIM:
		sc.Eta = c.Eta
	case diffusion.DDPMStrided:
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

// Rows lists the table rows in order: the etas, the ODE solvers in the order
// of grid.samplers, then sigma-hat.
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
		if smp != diffusion.DDIM && smp != diffusion.DDPMStrided {
			rows = append(rows, Cell{Sampler: smp}.Row())
		}
	}
	for _, smp := range c.Grid.Samplers {
		if smp == diffusion.DDPMStrided {
			rows = append(rows, RowSigmaHat)
		}
	}
	return rows
}

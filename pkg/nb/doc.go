// Package nb is what difflab's GoNB notebooks (notebooks/*.ipynb) share: the
// run mode that sizes every experiment, the parameters that "difflab nb run"
// injects, where the repository and the outputs are, rich display in a cell,
// and the few numeric helpers the notebooks show that the library does not
// have (the forward process on float64 slices and spherical interpolation).
//
// Every display function does nothing outside a notebook (when GoNB's pipe is
// not set), so notebook code also runs as a plain Go program or test.
//
// The environment variables it reads:
//
//	DIFFLAB_NB_MODE      "ci" shrinks every notebook to seconds; "full" (the default) is the real size
//	DIFFLAB_PARAM_<KEY>  a parameter set by "difflab nb run --param key=value" (see Param)
//	DIFFLAB_ROOT         the repository root; default: found upwards from the working directory
//	DIFFLAB_NB_OUT       the folder for a notebook's outputs; default <root>/build/notebooks
//	DIFFLAB_DB           the tracker database; default <root>/runs/difflab.db, as the CLI
package nb

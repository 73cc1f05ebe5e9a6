package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/difflab/difflab/internal/cmdline"
	"github.com/difflab/difflab/internal/nbformat"
)

func TestParamFlag(t *testing.T) {
	var p paramList
	for _, bad := range []string{"novalue", "=v", " =v"} {
		if err := p.Set(bad); err == nil {
			t.Errorf("--param %q: want an error", bad)
		}
	}
	if err := p.Set("a=b=c"); err != nil || p[0] != (nbParam{"a", "b=c"}) {
		t.Errorf("--param a=b=c = %v, %v; want {a b=c}", p, err)
	}
	p.Set("eval.n=3")
	if got, want := p.env(), []nbformat.EnvVar{{Name: "DIFFLAB_PARAM_A", Value: "b=c"}, {Name: "DIFFLAB_PARAM_EVAL_N", Value: "3"}}; !slices.Equal(got, want) {
		t.Errorf("env() = %v, want %v: the variables nb.Param reads", got, want)
	}
}

func TestNBUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"nb"}, cmdline.ExitUsage, "Usage: difflab nb run"},
		{[]string{"nb", "--help"}, cmdline.ExitOK, "injected-parameters"},
		{[]string{"nb", "walk"}, cmdline.ExitUsage, `unknown subcommand "walk"`},
		{[]string{"nb", "run"}, cmdline.ExitUsage, "missing NOTEBOOK"},
		{[]string{"nb", "run", "x.ipynb", "--param", "novalue"}, cmdline.ExitUsage, "KEY=VALUE"},
		{[]string{"nb", "run", "x.ipynb", "--mode", "huge"}, cmdline.ExitUsage, `--mode "huge"`},
		{[]string{"nb", "run", "does-not-exist.ipynb", "--db", ":memory:"}, cmdline.ExitUsage, "does-not-exist.ipynb"},
	} {
		code, out, errs := run(t, tc.args...)
		if code != tc.code || !strings.Contains(out+errs, tc.want) {
			t.Errorf("difflab %s: exit %d, output %q; want exit %d and %q", strings.Join(tc.args, " "), code, out+errs, tc.code, tc.want)
		}
	}
}

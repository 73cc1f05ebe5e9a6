package cmdline

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestExitCode(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, ExitOK},
		{"usage", Usagef("--n %d: want N >= 1", 0), ExitUsage},
		{"wrapped usage", fmt.Errorf("sample: %w", Usagef("--out is required")), ExitUsage},
		{"usage wrapping a failure", Usagef("--gmm: %w", fs.ErrNotExist), ExitUsage},
		{"failure", errors.New("disk full"), ExitFailure},
	} {
		if got := ExitCode(c.err); got != c.want {
			t.Errorf("%s: ExitCode(%v) = %d, want %d", c.name, c.err, got, c.want)
		}
	}
	err := Usagef("--gmm: %w", fs.ErrNotExist)
	if err.Error() != "--gmm: file does not exist" || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Usagef(%%w) = %q, want the message and the wrapped error", err)
	}
}

func TestDBPath(t *testing.T) {
	t.Setenv(DBEnv, "")
	if got := DBPath(""); got != DefaultDB {
		t.Errorf("DBPath(\"\") without $%s = %q, want %q", DBEnv, got, DefaultDB)
	}
	t.Setenv(DBEnv, "/tmp/env.db")
	if got := DBPath(""); got != "/tmp/env.db" {
		t.Errorf("DBPath(\"\") = %q, want $%s", got, DBEnv)
	}
	if got := DBPath("flag.db"); got != "flag.db" {
		t.Errorf("DBPath(\"flag.db\") = %q, want the flag over $%s", got, DBEnv)
	}
}

// Package cmdline holds what every difflab command shares, "difflab track" as
// much as the rest: the exit codes, the usage error that selects ExitUsage, and
// where the tracker database is.
package cmdline

import (
	"errors"
	"fmt"
	"os"

	"github.com/difflab/difflab/pkg/track"
)

// Exit codes of every difflab command, for scripts to rely on.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // a runtime failure: I/O, the database, a missing run, a failed training
	ExitUsage   = 2 // bad usage: an unknown command or flag, a bad or missing value
)

// UsageError is a mistake in the command line, as opposed to a failure while
// running: ExitCode maps it to ExitUsage. Its message names the flag at fault.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }

func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a *UsageError with the message fmt.Errorf(format, args...),
// which may wrap an error with %w.
func Usagef(format string, args ...any) error {
	return &UsageError{fmt.Errorf(format, args...)}
}

// ExitCode is the exit code for err: ExitOK when err is nil, ExitUsage when a
// *UsageError is in its chain, ExitFailure otherwise.
func ExitCode(err error) int {
	var ue *UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	}
	return ExitFailure
}

// DefaultDB is the tracker database used when neither --db nor $DIFFLAB_DB names
// one, relative to the working directory.
const DefaultDB = "runs/difflab.db"

// DBEnv is the environment variable that names the tracker database.
const DBEnv = "DIFFLAB_DB"

// DBFlagUsage is the help text of every command's --db flag.
const DBFlagUsage = "tracker database: a file `path` (SQLite) or a postgres://user@host/db DSN (default $" + DBEnv + ", else " + DefaultDB + ")"

// ArtifactsEnv is the environment variable that names the artifact root of a
// PostgreSQL tracker (track.Options.Artifacts).
const ArtifactsEnv = "DIFFLAB_ARTIFACTS"

// ArtifactsFlagUsage is the help text of the --artifacts flag.
const ArtifactsFlagUsage = "artifact root `folder`, for PostgreSQL one every machine can reach (default $" + ArtifactsEnv +
	", else the root a PostgreSQL database records, or FILE.artifacts beside a SQLite FILE)"

// OpenStore opens the tracker DBPath(db) with the artifact root artifacts,
// else $DIFFLAB_ARTIFACTS when set.
func OpenStore(db, artifacts string) (*track.Store, error) {
	if artifacts == "" {
		artifacts = os.Getenv(ArtifactsEnv)
	}
	return track.OpenWith(DBPath(db), track.Options{Artifacts: artifacts})
}

// DBPath resolves the tracker database: flagValue (the --db flag) when not empty,
// else $DIFFLAB_DB when set and not empty, else DefaultDB.
func DBPath(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := os.Getenv(DBEnv); v != "" {
		return v
	}
	return DefaultDB
}

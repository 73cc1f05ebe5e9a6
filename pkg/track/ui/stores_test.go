package ui

import (
	"path/filepath"
	"testing"

	"github.com/difflab/difflab/internal/pgtest"
	"github.com/difflab/difflab/pkg/track"
)

// testStore is a kind of store the UI's tests run on.
type testStore struct {
	name string
	// open opens a new, empty store of this kind, closed when the test
	// ends, and returns it with the temporary folder that holds its files:
	// the SQLite database and its artifacts, or a PostgreSQL store's
	// artifact root. A PostgreSQL store is a database of its own on the
	// test server; without one it skips (see pgtest).
	open func(t testing.TB) (st *track.Store, dir string)
}

// stores are the kinds of store every UI test runs on.
var stores = []testStore{
	{"sqlite", func(t testing.TB) (*track.Store, string) {
		t.Helper()
		dir := t.TempDir()
		return openStore(t, filepath.Join(dir, "runs.db"), track.Options{}), dir
	}},
	{"postgres", func(t testing.TB) (*track.Store, string) {
		t.Helper()
		dsn := pgtest.DSN(t)
		dir := t.TempDir()
		// Without an artifact root a PostgreSQL store logs no artifacts.
		return openStore(t, dsn, track.Options{Artifacts: filepath.Join(dir, "runs.artifacts")}), dir
	}},
}

// eachStore runs test once per store, as subtests named after the stores.
func eachStore(t *testing.T, test func(t *testing.T, s testStore)) {
	t.Helper()
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) { test(t, s) })
	}
}

// openStore opens dsn with o and closes it when the test ends.
func openStore(t testing.TB, dsn string, o track.Options) *track.Store {
	t.Helper()
	st, err := track.OpenWith(dsn, o)
	if err != nil {
		t.Fatal(err) // the error names the database
	}
	t.Cleanup(func() { st.Close() })
	return st
}

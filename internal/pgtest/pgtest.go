// Package pgtest gives tests a PostgreSQL database of their own on the test
// server that `make test` starts (scripts/pg-test.sh), named by $DIFFLAB_TEST_PG.
// Without that variable the PostgreSQL tests skip, unless $DIFFLAB_REQUIRE_PG
// is 1 (as in `make test`), when they fail.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables.
const (
	// Env holds the DSN of a database on the test server whose user may
	// create databases.
	Env = "DIFFLAB_TEST_PG"
	// RequireEnv set to 1 turns a missing Env into a failure.
	RequireEnv = "DIFFLAB_REQUIRE_PG"
)

// Server returns the DSN of the test server, skipping (or failing, see
// RequireEnv) when there is none.
func Server(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(Env)
	if dsn == "" {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("$%s is not set and $%s=1: start the test server with scripts/pg-test.sh start", Env, RequireEnv)
		}
		t.Skipf("no PostgreSQL test server ($%s unset; `make test` starts one)", Env)
	}
	return dsn
}

// DSN creates an empty database on the test server, dropped when the test
// ends, and returns its DSN.
func DSN(t testing.TB) string {
	t.Helper()
	server := Server(t)
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("$%s: %v", Env, err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "difflab_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("connecting to the test server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating a test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

package track

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/difflab/difflab/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

func TestRebind(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b = ?", "a = $1 AND b = $2"},
		{"(step - ?2) / ?3 WHERE series = ?1", "(step - $2) / $3 WHERE series = $1"},
		{"x = '?' AND y = ?", "x = '?' AND y = $1"},
		{`"we?ird" = ? OR z LIKE 'a''?'`, `"we?ird" = $1 OR z LIKE 'a''?'`},
		{"? ? ?", "$1 $2 $3"},
	} {
		if got := dialectPostgres.rebind(tt.in); got != tt.want {
			t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := dialectSQLite.rebind(tt.in); got != tt.in {
			t.Errorf("SQLite rebind(%q) = %q, want it unchanged", tt.in, got)
		}
	}
}

func TestRedactDSN(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"postgres://ada:s3cret@db.lab:5432/difflab", "postgres://ada:xxxxx@db.lab:5432/difflab"},
		{"postgresql://ada@db/x?sslmode=disable", "postgresql://ada@db/x?sslmode=disable"},
		{"postgres://db/x?password=s3cret&user=ada", "postgres://db/x?password=xxxxx&user=ada"},
		{"postgres://ada:p%40ss@db/x", "postgres://ada:xxxxx@db/x"},
		{"runs/difflab.db", "runs/difflab.db"},
		{"postgres://ada:s3cret@[bad", "postgres://(unreadable DSN)"},
	} {
		if got := RedactDSN(tt.in); got != tt.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestCommandRedacted checks that the command line a run records keeps no
// password, whether the DSN is a word of its own or a --flag=value.
func TestCommandRedacted(t *testing.T) {
	in := []string{"difflab", "run", "x", "--db", "postgres://ada:s3cret@db/x", "--db=postgres://bo:pw2@db/x", "-db=runs/a=b.db", "s3cret"}
	want := []string{"difflab", "run", "x", "--db", "postgres://ada:xxxxx@db/x", "--db=postgres://bo:xxxxx@db/x", "-db=runs/a=b.db", "s3cret"}
	if got := redactArgs(in); !slices.Equal(got, want) {
		t.Errorf("redactArgs = %q, want %q", got, want)
	}
}

// TestOpenDSNCreatesNoFile opens DSNs that cannot work, from an empty working
// folder: each is an error that names the database without its password, and
// nothing appears on disk (an older difflab created a folder "postgres:").
func TestOpenDSNCreatesNoFile(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	for _, tt := range []struct{ dsn, want string }{
		{"postgres://ada:s3cret@127.0.0.1:" + port + "/difflab?connect_timeout=5", "cannot connect"},
		{"postgresql://ada:s3cret@127.0.0.1:" + port + "/difflab?connect_timeout=5", "cannot connect"},
		{"postgres://ada:s3cret@127.0.0.1:" + port + "/difflab?sslmode=bogus", "reading the DSN"},
		{"mysql://ada:s3cret@127.0.0.1/difflab", `unknown database scheme "mysql"`},
		{"sqlite://runs/x.db", `unknown database scheme "sqlite"`},
	} {
		st, err := Open(tt.dsn)
		if err == nil {
			st.Close()
			t.Errorf("Open(%q) = nil error, want error", tt.dsn)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "s3cret") ||
			strings.Contains(tt.dsn, "s3cret") != strings.Contains(err.Error(), "xxxxx") {
			t.Errorf("Open(%q) = %q, want %q and the DSN with its password redacted", tt.dsn, err, tt.want)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		t.Errorf("Open of a DSN created %q", e.Name())
	}
}

// TestPostgresBadDatabase checks that a database the server refuses is
// named in the error, and the password is not.
func TestPostgresBadDatabase(t *testing.T) {
	server := pgtest.Server(t)
	u, _ := url.Parse(server)
	u.Path = "/no_such_database_here"
	u.User = url.UserPassword(u.User.Username(), "s3cret")
	_, err := Open(u.String())
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "no_such_database_here") {
		t.Errorf("Open(missing database) = %v, want an error naming it without the password", err)
	}
}

// TestPostgresForeignSchema refuses a schema "difflab" that another
// application made, and leaves it alone; tables of other applications in
// other schemas of the same database are no obstacle.
func TestPostgresForeignSchema(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE public.users (name text); CREATE SCHEMA difflab; CREATE TABLE difflab.things (x int)"); err != nil {
		t.Fatal(err)
	}
	if st, err := Open(dsn); !errors.Is(err, ErrForeignDatabase) {
		if st != nil {
			st.Close()
		}
		t.Fatalf("Open(foreign schema) = %v, want ErrForeignDatabase", err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'difflab'").Scan(&n); err != nil || n != 1 {
		t.Errorf("the foreign schema has %d tables (%v), want its 1 untouched", n, err)
	}
	if _, err := conn.Exec(ctx, "DROP SCHEMA difflab CASCADE"); err != nil {
		t.Fatal(err)
	}
	st := openDSN(t, dsn) // beside public.users
	st.Close()
	if _, err := conn.Exec(ctx, "UPDATE difflab.settings SET value = '99' WHERE key = 'schema_version'"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dsn); err == nil || !strings.Contains(err.Error(), "schema version 99 is newer") {
		t.Errorf("Open(newer schema) = %v, want the version refused", err)
	}
}

// TestPostgresOpenConcurrently opens a new database from many goroutines at
// once: the advisory lock lets one create the schema and the rest see it.
func TestPostgresOpenConcurrently(t *testing.T) {
	dsn := pgtest.DSN(t)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			st, err := Open(dsn)
			if err == nil {
				err = st.Close()
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}
}

// TestPostgresArtifactRoot checks that the first artifact root given is
// recorded in the database for later opens, and that a store without one
// says how to set it.
func TestPostgresArtifactRoot(t *testing.T) {
	dsn := pgtest.DSN(t)
	st, err := Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, st, RunOptions{})
	if err := r.LogArtifact("a.txt", strings.NewReader("x")); err == nil || !strings.Contains(err.Error(), "no artifact root") {
		t.Errorf("LogArtifact without a root = %v, want an error naming the artifact root", err)
	}
	r.End(nil)
	st.Close()

	root := filepath.Join(t.TempDir(), "shared")
	st, err = OpenWith(dsn, Options{Artifacts: root})
	if err != nil {
		t.Fatal(err)
	}
	r = start(t, st, RunOptions{})
	if err := r.LogArtifact("a.txt", strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	r.End(nil)
	st.Close()

	st, err = Open(dsn) // no root given: the recorded one
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.ArtifactDir() != root {
		t.Errorf("ArtifactDir() = %q, want the recorded %q", st.ArtifactDir(), root)
	}
	rc, err := st.OpenArtifact(r.ID(), "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	other := filepath.Join(t.TempDir(), "mounted-elsewhere")
	st2, err := Open(dsn + "&artifacts=" + url.QueryEscape(other)) // dsn has ?sslmode=
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if st2.ArtifactDir() != other {
		t.Errorf("ArtifactDir() with artifacts= in the DSN = %q, want %q", st2.ArtifactDir(), other)
	}
}

// privateCluster starts a PostgreSQL server of the test's own (so that
// stopping it disturbs no other test) and returns its superuser DSN and a
// function that runs scripts/pg-test.sh with an argument on it.
func privateCluster(t *testing.T) (string, func(arg string)) {
	t.Helper()
	pgtest.Server(t) // skip or fail as the other PostgreSQL tests do
	script, err := filepath.Abs("../../scripts/pg-test.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "difflab-pg-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // the server's user must reach it when tests run as root
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	ctl := func(arg string) {
		t.Helper()
		cmd := exec.Command(script, arg)
		cmd.Env = append(os.Environ(), "DIFFLAB_PG_DIR="+dir, "DIFFLAB_PG_PORT="+port)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pg-test.sh %s: %v\n%s", arg, err, out)
		}
	}
	ctl("start")
	t.Cleanup(func() {
		ctl("stop")
		os.RemoveAll(dir)
	})
	b, err := os.ReadFile(filepath.Join(dir, "dsn"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b)), ctl
}

// TestPostgresServerRestart stops the server while a run logs: the flushes
// that fail are retried, and once the server is back every point is stored
// once. With a retry window shorter than the outage, End reports the error
// instead: never a silent loss.
func TestPostgresServerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server of its own")
	}
	dsn, ctl := privateCluster(t)
	st := openDSN(t, dsn)
	// FlushSize keeps the buffer below 10 × FlushSize, where LogMetric
	// would flush (and wait out the outage) itself: here the background
	// flushes retry.
	r := start(t, st, RunOptions{FlushSize: 1000, FlushInterval: 20 * time.Millisecond, HeartbeatInterval: time.Hour})
	const n = 3000
	for i := range n / 2 {
		r.LogMetric("loss", int64(i), float64(i))
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	ctl("stop")
	for i := n / 2; i < n; i++ {
		r.LogMetric("loss", int64(i), float64(i))
		if i == 3*n/4 {
			time.Sleep(500 * time.Millisecond) // flushes fail meanwhile
		}
	}
	time.Sleep(500 * time.Millisecond)
	ctl("start")
	if err := r.End(nil); err != nil {
		t.Fatalf("End after the server came back = %v, want nil", err)
	}
	pts, err := st.Metric(r.ID(), "loss")
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != n {
		t.Fatalf("%d points stored, want %d", len(pts), n)
	}
	for i, p := range pts {
		if p.Step != int64(i) || p.Value != float64(i) {
			t.Fatalf("point %d = %+v, want step and value %d", i, p, i)
		}
	}

	// The outage outlasts the retries: the error reaches End.
	st.retryFor = 300 * time.Millisecond
	r = start(t, st, RunOptions{FlushSize: 50, FlushInterval: 20 * time.Millisecond, HeartbeatInterval: time.Hour})
	ctl("stop")
	for i := range 200 {
		r.LogMetric("loss", int64(i), float64(i))
	}
	time.Sleep(time.Second)
	if err := r.End(nil); err == nil {
		t.Errorf("End with the server down = nil, want the write error")
	}
	ctl("start")
}

// TestPostgresTerminatedConnections kills every connection of the store on
// the server side while a run logs: the pool reconnects and no point is lost.
func TestPostgresTerminatedConnections(t *testing.T) {
	dsn := pgtest.DSN(t)
	st := openDSN(t, dsn)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	r := start(t, st, RunOptions{FlushSize: 20, FlushInterval: 10 * time.Millisecond})
	const n = 2000
	for i := range n {
		r.LogMetric("loss", int64(i), float64(i))
		if i%500 == 250 {
			if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
				t.Fatal(err)
			}
		}
		if i%50 == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	if err := r.End(nil); err != nil {
		t.Fatalf("End = %v", err)
	}
	pts, err := st.Metric(r.ID(), "loss")
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != n {
		t.Fatalf("%d points stored, want %d", len(pts), n)
	}
}

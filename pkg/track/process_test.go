package track

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// helperCmd returns a command that re-runs the test binary as helper name.
func helperCmd(t testing.TB, name, db string, points int, extra ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+name, helperDB+"="+db, helperPoints+"="+strconv.Itoa(points))
	cmd.Env = append(cmd.Env, extra...)
	return cmd
}

// TestConcurrentProcesses has several processes log to their own runs in one
// database while more runs start and end, here and in the helpers. Every
// point must be stored and no process may see "database is locked".
func TestConcurrentProcesses(t *testing.T) { eachStore(t, testConcurrentProcesses) }

func testConcurrentProcesses(t *testing.T, k storeKind) {
	procs, points := 8, 20000
	if testing.Short() {
		procs, points = 3, 2000
	}
	db := tempDSN(t, k)
	st, err := Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	type result struct {
		id     string
		stderr string
		err    error
	}
	results := make([]result, procs)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var stdout, stderr bytes.Buffer
			cmd := helperCmd(t, "writer", db, points, helperName+"=writer-"+strconv.Itoa(i))
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			results[i] = result{strings.TrimSpace(stdout.String()), stderr.String(), err}
		}()
	}
	// Meanwhile, this process starts and ends runs of its own.
	done := make(chan struct{})
	var local []string
	var localErr error
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			r, err := st.StartRun(RunOptions{Experiment: "local", NoGit: true, Params: map[string]any{"i": i}})
			if err != nil {
				localErr = err
				return
			}
			for s := range 100 {
				r.LogMetric("m", int64(s), float64(s))
			}
			if err := r.End(nil); err != nil {
				localErr = err
				return
			}
			local = append(local, r.ID())
		}
	}()
	wg.Wait()
	<-done
	if localErr != nil {
		t.Fatalf("local runs: %v", localErr)
	}
	for i, res := range results {
		if res.err != nil || strings.Contains(res.stderr, "locked") {
			t.Fatalf("writer %d: %v\n%s", i, res.err, res.stderr)
		}
		ri := getRun(t, st, res.id)
		if ri.Status != StatusFinished || ri.Summaries["loss"].Count != int64(points) {
			t.Errorf("writer %d run: status %q, %d points; want finished, %d", i, ri.Status, ri.Summaries["loss"].Count, points)
		}
		pts, err := st.Metric(res.id, "loss")
		if err != nil {
			t.Fatal(err)
		}
		if len(pts) != points {
			t.Fatalf("writer %d: Metric has %d points, want %d", i, len(pts), points)
		}
		for j, p := range pts {
			if p.Step != int64(j) || p.Value != float64(j) {
				t.Fatalf("writer %d: point %d = %+v, want step and value %d", i, j, p, j)
			}
		}
	}
	side, err := st.Runs(Query{Experiment: "side", Filter: "status = 'finished'"})
	if want := procs * ((points + 4999) / 5000); err != nil || len(side) != want {
		t.Errorf("side runs: %d, %v; want %d finished", len(side), err, want)
	}
	for _, id := range local {
		if ri := getRun(t, st, id); ri.Status != StatusFinished || ri.Summaries["m"].Count != 100 {
			t.Errorf("local run %s: %q with %d points, want finished with 100", id, ri.Status, ri.Summaries["m"].Count)
		}
	}
	assertIntegrity(t, db)
}

// assertIntegrity runs SQLite's integrity check on the database at path
// (PostgreSQL keeps its own integrity).
func assertIntegrity(t *testing.T, path string) {
	t.Helper()
	if isPostgresDSN(path) {
		return
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Errorf("integrity_check = %q, %v; want ok", res, err)
	}
}

// TestKillDuringWrites kills a process in the middle of logging: the
// database stays intact, the run shows crashed, and what was flushed before
// the kill is readable.
func TestKillDuringWrites(t *testing.T) { eachStore(t, testKillDuringWrites) }

func testKillDuringWrites(t *testing.T, k storeKind) {
	db := tempDSN(t, k)
	// Create the database first so the helper does not race its creation.
	st, err := Open(db)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	cmd := helperCmd(t, "crasher", db, 0)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var id string
	flushed := 0
	for sc.Scan() {
		if id == "" {
			id = sc.Text()
			continue
		}
		flushed, _ = strconv.Atoi(sc.Text())
		if flushed >= 3000 {
			break
		}
	}
	if id == "" || flushed < 3000 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper stopped early: id %q, %d points\n%s", id, flushed, stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait() // reap, so the PID is gone rather than a zombie

	assertIntegrity(t, db)
	st, err = Open(db)
	if err != nil {
		t.Fatalf("Open after kill: %v", err)
	}
	defer st.Close()
	ri := getRun(t, st, id)
	if ri.Status != StatusCrashed || ri.EndTime.IsZero() {
		t.Errorf("killed run: status %q end %v, want crashed with an end time", ri.Status, ri.EndTime)
	}
	pts, err := st.Metric(id, "loss")
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) < flushed {
		t.Fatalf("killed run has %d points, want at least the %d flushed", len(pts), flushed)
	}
	for i, p := range pts {
		if p.Step != int64(i) || p.Value != float64(i) {
			t.Fatalf("point %d = %+v, want step and value %d", i, p, i)
		}
	}
	if ri.Summaries["loss"].Count != int64(len(pts)) {
		t.Errorf("summary count %d, points %d: want equal", ri.Summaries["loss"].Count, len(pts))
	}
}

// TestCrashDetection checks the two ways a running run is found crashed, and
// that a run falsely marked crashed comes back at its next heartbeat.
func TestCrashDetection(t *testing.T) { eachStore(t, testCrashDetection) }

func testCrashDetection(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	me := currentProcess()
	now := time.Now()
	insert := func(name string, pid int, host, hostKey string, beat time.Time, stale time.Duration) {
		t.Helper()
		_, err := st.db.Exec(`INSERT INTO runs (id, experiment, name, status, start_time, heartbeat, stale_after, pid, pid_start, host, host_key)
			VALUES (?, (SELECT id FROM experiments LIMIT 1), ?, 'running', ?, ?, ?, ?, 0, ?, ?)`,
			"run-"+name, name, beat.UnixNano(), beat.UnixNano(), stale.Nanoseconds(), pid, host, hostKey)
		if err != nil {
			t.Fatal(err)
		}
	}
	live := start(t, st, RunOptions{Name: "live"}) // also creates the experiment
	defer live.End(nil)
	// A PID that cannot be alive: beyond the kernel's pid_max limit.
	insert("dead-pid", 1<<30, me.Host, me.HostKey, now, time.Hour)
	insert("other-host-fresh", 1<<30, "elsewhere", "other|key", now, time.Hour)
	insert("other-host-stale", 1<<30, "elsewhere", "other|key", now.Add(-2*time.Hour), time.Hour)
	insert("alive-pid", os.Getppid(), me.Host, me.HostKey, now, time.Hour)
	insert("alive-pid-silent", os.Getppid(), me.Host, me.HostKey, now.Add(-2*time.Hour), time.Hour)

	want := map[string]Status{
		"live":             StatusRunning,
		"dead-pid":         StatusCrashed,
		"other-host-fresh": StatusRunning,
		"other-host-stale": StatusCrashed,
		"alive-pid":        StatusRunning,
		"alive-pid-silent": StatusCrashed,
	}
	runs, err := st.Runs(Query{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ri := range runs {
		if ri.Status != want[ri.Name] {
			t.Errorf("run %s: status %q, want %q", ri.Name, ri.Status, want[ri.Name])
		}
		if ri.Status == StatusCrashed && !ri.EndTime.Equal(ri.Heartbeat) {
			t.Errorf("crashed run %s: end %v, want the last heartbeat %v", ri.Name, ri.EndTime, ri.Heartbeat)
		}
	}
	if len(runs) != len(want) {
		t.Errorf("Runs = %d runs, want %d", len(runs), len(want))
	}

	// A live run that was marked crashed revives at its next heartbeat.
	if _, err := st.db.Exec(`UPDATE runs SET status = 'crashed', end_time = 1 WHERE id = ?`, live.ID()); err != nil {
		t.Fatal(err)
	}
	if err := live.Flush(); err != nil {
		t.Fatal(err)
	}
	if ri := getRun(t, st, live.ID()); ri.Status != StatusRunning || !ri.EndTime.IsZero() {
		t.Errorf("after heartbeat: status %q end %v, want running again", ri.Status, ri.EndTime)
	}
}

func TestOpenBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	foreign := filepath.Join(dir, "foreign.db")
	{
		db, err := sql.Open("sqlite", foreign)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ada')"); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	newer := filepath.Join(dir, "newer.db")
	{
		st, err := Open(newer)
		if err != nil {
			t.Fatal(err)
		}
		st.db.Exec("PRAGMA user_version = 99")
		st.Close()
	}
	random := make([]byte, 8192)
	for i := range random {
		random[i] = byte(i*7 + i/13)
	}
	corrupt := append([]byte("SQLite format 3\x00"), random...)
	notDir := write("plain-file", []byte("x"))
	tests := []struct {
		name        string
		path        string
		wantErr     string
		wantForeign bool
	}{
		{"random bytes", write("random.db", random), "not a SQLite database", true},
		{"text file", write("notes.txt", []byte("hello\n")), "not a SQLite database", true},
		{"foreign sqlite", foreign, "another application's tables (users)", true},
		{"corrupt sqlite", write("corrupt.db", corrupt), "", true},
		{"newer schema", newer, "schema version 99 is newer", false},
		{"folder", dir, "is a folder", false},
		{"parent is a file", filepath.Join(notDir, "x.db"), "creating folder", false},
		{"read-only file system", "/proc/difflab-track-test/x.db", "creating folder", false},
		{"empty path", "", "empty database path", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := fileHash(tt.path)
			st, err := Open(tt.path)
			if err == nil {
				st.Close()
				t.Fatalf("Open(%q) = nil error, want error", tt.path)
			}
			if !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open(%q) = %q, want the path and %q", tt.path, err, tt.wantErr)
			}
			if tt.wantForeign != errors.Is(err, ErrForeignDatabase) {
				t.Errorf("Open(%q) = %v; errors.Is(ErrForeignDatabase) = %v, want %v", tt.path, err, !tt.wantForeign, tt.wantForeign)
			}
			if after := fileHash(tt.path); after != before {
				t.Errorf("Open(%q) modified the file", tt.path)
			}
		})
	}

	empty := write("empty.db", nil)
	st, err := Open(empty)
	if err != nil {
		t.Fatalf("Open(empty file) = %v, want a new database", err)
	}
	st.Close()
}

func fileHash(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

func TestOpenReadOnly(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("file permissions do not apply to root")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "ro.db")
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	os.Chmod(path, 0o444)
	if st, err := Open(path); err == nil {
		st.Close()
		t.Errorf("Open(read-only file) = nil error, want error")
	} else if !strings.Contains(err.Error(), path) {
		t.Errorf("Open(read-only file) = %v, want the path in the error", err)
	}
	locked := filepath.Join(dir, "locked")
	os.Mkdir(locked, 0o500)
	if st, err := Open(filepath.Join(locked, "x.db")); err == nil {
		st.Close()
		t.Errorf("Open(in read-only folder) = nil error, want error")
	}
}

// TestWriteErrorsSurface fills the database (max_page_count stands in for a
// full disk) and checks that the failure reaches Err and End without
// stopping the logging calls.
func TestWriteErrorsSurface(t *testing.T) {
	st := openTemp(t, dialectSQLite)
	r := start(t, st, RunOptions{FlushSize: 100, FlushInterval: time.Hour})
	r.LogMetric("loss", 0, 1)
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	// Pin the pool to one connection so the pragma applies to every write.
	st.db.SetMaxOpenConns(1)
	var pages int
	if err := st.db.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := st.db.ExecContext(context.Background(), fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		if err := r.LogMetric("loss", int64(i+1), float64(i)); err != nil {
			t.Fatalf("LogMetric returned %v; want write errors kept for Err", err)
		}
	}
	err := r.End(nil)
	if err == nil || !strings.Contains(err.Error(), "full") {
		t.Errorf("End = %v, want a database-full error", err)
	}
	if r.Err() == nil {
		t.Errorf("Err() = nil, want the write error")
	}
}

package track

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestEndKilled(t *testing.T) { eachStore(t, testEndKilled) }

func testEndKilled(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	r := start(t, st, RunOptions{})
	stop := fmt.Errorf("train: step 12: %w", context.Canceled)
	if err := r.End(stop); err != nil {
		t.Fatalf("End: %v", err)
	}
	ri := getRun(t, st, r.ID())
	if ri.Status != StatusKilled || ri.Error != stop.Error() {
		t.Errorf("after End(canceled): status %q error %q, want killed and %q", ri.Status, ri.Error, stop.Error())
	}
	runs, err := st.Runs(Query{Filter: `status = "killed"`})
	if err != nil || len(runs) != 1 || runs[0].ID != r.ID() {
		t.Errorf(`Runs(status = "killed") = %v, %v; want the run`, runs, err)
	}
	// A deadline is not a deliberate stop.
	r2 := start(t, st, RunOptions{})
	r2.End(context.DeadlineExceeded)
	if ri := getRun(t, st, r2.ID()); ri.Status != StatusFailed {
		t.Errorf("after End(deadline exceeded): status %q, want failed", ri.Status)
	}
}

// TestMigrateV1 writes a database with the first schema only (as difflab wrote it
// before the status "killed"), then opens it with the current schema: every run,
// param, metric point and artifact survives the rebuild of the runs table, the
// foreign keys cascade again afterwards, and a run can end killed.
func TestMigrateV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	all := migrations
	migrations = all[:1]
	st, err := Open(path)
	if err != nil {
		migrations = all
		t.Fatal(err)
	}
	var ids []string
	// Version 1 recorded a cancelled run as failed with the cancellation's message.
	stopped := errors.New("train: stopped at step 3 (checkpoint: ck/ckpt-00000003): context canceled")
	for i, end := range []error{nil, errors.New("loss is NaN"), nil, stopped} {
		r := start(t, st, RunOptions{Experiment: "old", Name: fmt.Sprintf("run%d", i), Params: map[string]any{"i": i, "lr": 1e-3}})
		for s := range 50 {
			r.LogMetric("loss", int64(s), float64(i*100+s))
		}
		r.LogArtifact("notes.txt", strings.NewReader(fmt.Sprintf("run %d", i)))
		if err := r.End(end); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID())
	}
	st.Close()
	migrations = all
	if v := userVersion(t, path); v != 1 {
		t.Fatalf("the old database has user_version %d, want 1", v)
	}

	st, err = Open(path)
	if err != nil {
		t.Fatalf("Open(v1 database): %v", err)
	}
	defer st.Close()
	if v := userVersion(t, path); v != len(migrations) {
		t.Errorf("after Open: user_version %d, want %d", v, len(migrations))
	}
	for i, id := range ids {
		ri := getRun(t, st, id)
		want := []Status{StatusFinished, StatusFailed, StatusFinished, StatusKilled}[i]
		if ri.Status != want || ri.Name != fmt.Sprintf("run%d", i) || ri.Params["i"] != int64(i) || ri.Params["lr"] != 1e-3 {
			t.Errorf("run %d after the migration: status %q name %q params %v", i, ri.Status, ri.Name, ri.Params)
		}
		pts, err := st.Metric(id, "loss")
		if err != nil || len(pts) != 50 || pts[49].Value != float64(i*100+49) {
			t.Errorf("run %d loss after the migration: %d points (%v)", i, len(pts), err)
		}
		rc, err := st.OpenArtifact(id, "notes.txt")
		if err != nil {
			t.Errorf("run %d artifact after the migration: %v", i, err)
		} else {
			rc.Close()
		}
	}
	r := start(t, st, RunOptions{Experiment: "old"})
	r.End(context.Canceled)
	if ri := getRun(t, st, r.ID()); ri.Status != StatusKilled {
		t.Errorf("a run ended by cancellation after the migration is %q, want killed", ri.Status)
	}
	// Deleting a run still cascades to its params and points.
	rep, err := st.GC(GCOptions{DeleteStatus: []Status{StatusFailed}, Grace: -1})
	if err != nil || rep.RunsDeleted != 1 {
		t.Fatalf("GC(failed) = %+v, %v", rep, err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var orphans int
	if err := db.QueryRow(`SELECT count(*) FROM params WHERE run NOT IN (SELECT seq FROM runs)`).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("params left without a run after GC: %d (%v)", orphans, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM series WHERE run NOT IN (SELECT seq FROM runs)`).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("series left without a run after GC: %d (%v)", orphans, err)
	}
}

func userVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Package track records training and sampling runs in a SQLite database
// (modernc.org/sqlite, pure Go): params, tags, metrics, artifacts, a note,
// and the environment the run started in.
//
//	st, err := track.Open("runs/difflab.db")
//	defer st.Close()
//	run, err := st.StartRun(track.RunOptions{Experiment: "ddim-sweep", Name: "eta=0", Params: map[string]any{"eta": 0.0}})
//	run.LogMetric("loss", step, loss) // buffered; cheap in a training loop
//	err = run.End(trainErr)           // finished; killed when trainErr wraps context.Canceled; else failed
//
// Then list and compare:
//
//	runs, err := st.Runs(track.Query{Experiment: "ddim-sweep", Filter: "params.eta = 0 and metrics.fid < 10", OrderBy: "metrics.fid"})
//	cmp, err := st.Compare(runs[0].ID, runs[1].ID)
//
// # Storage
//
// The database uses WAL mode, so readers never block the writer, and
// synchronous=NORMAL: a killed process never corrupts the file and loses
// at most the points it had not flushed (a power cut may also lose the last
// committed transactions). Write transactions start with BEGIN IMMEDIATE and
// are retried with backoff while another process holds the lock, so
// "database is locked" does not reach the caller unless the database stays
// locked for minutes. The schema is versioned by PRAGMA user_version and
// migrated on Open.
//
// Metric points are buffered in memory and written in one transaction per
// flush: when RunOptions.FlushSize points wait, every FlushInterval, and at
// End. Params, tags, notes and artifacts are written at once.
//
// Artifact content is stored once per distinct content, under its sha256,
// in the folder beside the database (path + ".artifacts").
//
// # Crashes
//
// A running run records a heartbeat and its process id. Open, Runs and Run
// mark a running run as crashed when its process on this machine is gone,
// or when its heartbeat is older than RunOptions.StaleAfter (for runs on
// other machines, or hung processes). A run marked crashed that turns out to
// be alive becomes running again at its next heartbeat.
package track

package track

// migrations is the ordered list of schema changes. The database's
// PRAGMA user_version holds how many of them have been applied, so this list
// is append-only: never edit or remove an entry once it has been released,
// add a new one instead.
var migrations = []string{
	// 1: the first schema.
	`
CREATE TABLE experiments (
	id         INTEGER PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
);
CREATE TABLE runs (
	seq         INTEGER PRIMARY KEY,
	id          TEXT NOT NULL UNIQUE,
	experiment  INTEGER NOT NULL REFERENCES experiments(id),
	name        TEXT NOT NULL,
	status      TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'crashed')),
	start_time  INTEGER NOT NULL,
	end_time    INTEGER,
	heartbeat   INTEGER NOT NULL,
	stale_after INTEGER NOT NULL,
	pid         INTEGER NOT NULL,
	pid_start   INTEGER NOT NULL,
	host        TEXT NOT NULL,
	host_key    TEXT NOT NULL,
	note        TEXT NOT NULL DEFAULT '',
	error       TEXT NOT NULL DEFAULT '',
	env         TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX runs_experiment_start ON runs(experiment, start_time);
CREATE INDEX runs_status ON runs(status);
CREATE TABLE params (
	run   INTEGER NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
	key   TEXT NOT NULL,
	type  TEXT NOT NULL,
	value, -- no declared type: values keep their own storage class
	PRIMARY KEY (run, key)
) WITHOUT ROWID;
CREATE TABLE tags (
	run   INTEGER NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
	key   TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (run, key)
) WITHOUT ROWID;
CREATE TABLE series (
	id         INTEGER PRIMARY KEY,
	run        INTEGER NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
	key        TEXT NOT NULL,
	count      INTEGER NOT NULL DEFAULT 0,
	last_step  INTEGER,
	last_value REAL,
	last_time  INTEGER,
	min        REAL,
	min_step   INTEGER,
	max        REAL,
	max_step   INTEGER,
	UNIQUE (run, key)
);
CREATE TABLE points (
	series INTEGER NOT NULL REFERENCES series(id) ON DELETE CASCADE,
	step   INTEGER NOT NULL,
	value  REAL,
	time   INTEGER NOT NULL
);
CREATE INDEX points_series_step ON points(series, step);
CREATE TABLE artifacts (
	run    INTEGER NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
	name   TEXT NOT NULL,
	sha256 TEXT NOT NULL,
	size   INTEGER NOT NULL,
	time   INTEGER NOT NULL,
	PRIMARY KEY (run, name)
) WITHOUT ROWID;
CREATE INDEX artifacts_sha256 ON artifacts(sha256);
`,
	// 2: the status 'killed' (a run stopped on purpose). SQLite cannot alter a CHECK
	// constraint, so the runs table is rebuilt (SQLite's "other kinds of table
	// schema changes" procedure; migrate turns foreign keys off around it, so that
	// dropping the old table cascades nowhere). Runs that ended failed with the
	// error of a cancelled context were stopped on purpose: they become killed.
	`
CREATE TABLE runs_v2 (
	seq         INTEGER PRIMARY KEY,
	id          TEXT NOT NULL UNIQUE,
	experiment  INTEGER NOT NULL REFERENCES experiments(id),
	name        TEXT NOT NULL,
	status      TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'killed', 'crashed')),
	start_time  INTEGER NOT NULL,
	end_time    INTEGER,
	heartbeat   INTEGER NOT NULL,
	stale_after INTEGER NOT NULL,
	pid         INTEGER NOT NULL,
	pid_start   INTEGER NOT NULL,
	host        TEXT NOT NULL,
	host_key    TEXT NOT NULL,
	note        TEXT NOT NULL DEFAULT '',
	error       TEXT NOT NULL DEFAULT '',
	env         TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO runs_v2 (seq, id, experiment, name, status, start_time, end_time, heartbeat, stale_after,
	pid, pid_start, host, host_key, note, error, env)
SELECT seq, id, experiment, name, status, start_time, end_time, heartbeat, stale_after,
	pid, pid_start, host, host_key, note, error, env FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v2 RENAME TO runs;
CREATE INDEX runs_experiment_start ON runs(experiment, start_time);
CREATE INDEX runs_status ON runs(status);
UPDATE runs SET status = 'killed' WHERE status = 'failed' AND error LIKE '%context canceled';
`,
}

// applicationID marks a SQLite file as a difflab tracking database
// (PRAGMA application_id; the bytes spell "dflb").
const applicationID = 0x64666c62

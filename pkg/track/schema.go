package track

// migrations is the ordered list of schema changes. The database's
// PRAGMA user_version holds how many of them have been applied, so this list
// is append-only: never edit or remove an entry once it has been released,
// add a new one instead.
//
// Each entry has its SQLite and its PostgreSQL form; PostgreSQL's first
// schema already has everything SQLite's second migration added, so its form
// of migration 2 is empty.
var migrations = []migration{
	// 1: the first schema.
	{sqlite: `
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
`, postgres: pgSchema},
	// 2: the status 'killed' (a run stopped on purpose). SQLite cannot alter a CHECK
	// constraint, so the runs table is rebuilt (SQLite's "other kinds of table
	// schema changes" procedure; migrate turns foreign keys off around it, so that
	// dropping the old table cascades nowhere). Runs that ended failed with the
	// error of a cancelled context were stopped on purpose: they become killed.
	{sqlite: `
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
`},
	// 3: the task queues of sweeps shared by workers (see Store.Claim), and
	// settings (PostgreSQL made its settings table when it created the schema).
	{sqlite: settingsTable + tasksTable, postgres: tasksTable},
}

// migration is one schema change in each dialect.
type migration struct {
	sqlite, postgres string
}

// settingsTable holds the database's own settings: on PostgreSQL the
// application and schema version (SQLite keeps them in PRAGMAs), and the
// artifact root.
const settingsTable = `
CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
`

// tasksTable is the same on both stores. A task is pending, leased (by the
// worker holding token until lease_until, Unix nanoseconds on the database's
// clock) or done; an after_all task is claimable only once every other task
// of its queue is done. pid to host_key identify the holder's process, so a
// worker on the same machine can tell that it died without waiting for the
// lease to expire.
const tasksTable = `
CREATE TABLE tasks (
	queue       TEXT NOT NULL,
	name        TEXT NOT NULL,
	ord         INTEGER NOT NULL,
	after_all   INTEGER NOT NULL DEFAULT 0,
	state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'leased', 'done')),
	owner       TEXT NOT NULL DEFAULT '',
	pid         INTEGER NOT NULL DEFAULT 0,
	pid_start   BIGINT NOT NULL DEFAULT 0,
	host        TEXT NOT NULL DEFAULT '',
	host_key    TEXT NOT NULL DEFAULT '',
	token       TEXT NOT NULL DEFAULT '',
	lease_until BIGINT NOT NULL DEFAULT 0,
	attempts    INTEGER NOT NULL DEFAULT 0,
	run_id      TEXT NOT NULL DEFAULT '',
	done_at     BIGINT,
	PRIMARY KEY (queue, name)
);
CREATE INDEX tasks_queue_state ON tasks(queue, state, ord);
`

// pgSchema is PostgreSQL's first schema: SQLite's after migration 2, with
// typed columns. A param's value is in the column of its kind (sval, ival
// for integers and booleans, fval; all NULL for NaN). points.rowid keeps the
// order points were logged in, as SQLite's rowid does.
const pgSchema = `
CREATE TABLE experiments (
	id         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL
);
CREATE TABLE runs (
	seq         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	id          TEXT NOT NULL UNIQUE,
	experiment  BIGINT NOT NULL REFERENCES experiments(id),
	name        TEXT NOT NULL,
	status      TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'killed', 'crashed')),
	start_time  BIGINT NOT NULL,
	end_time    BIGINT,
	heartbeat   BIGINT NOT NULL,
	stale_after BIGINT NOT NULL,
	pid         BIGINT NOT NULL,
	pid_start   BIGINT NOT NULL,
	host        TEXT NOT NULL,
	host_key    TEXT NOT NULL,
	note        TEXT NOT NULL DEFAULT '',
	error       TEXT NOT NULL DEFAULT '',
	env         TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX runs_experiment_start ON runs(experiment, start_time);
CREATE INDEX runs_status ON runs(status);
CREATE TABLE params (
	run  BIGINT NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
	key  TEXT NOT NULL,
	type TEXT NOT NULL,
	sval TEXT,
	ival BIGINT,
	fval DOUBLE PRECISION,
	PRIMARY KEY (run, key)
);
CREATE TABLE tags (
	run   BIGINT NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
	key   TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (run, key)
);
CREATE TABLE series (
	id         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	run        BIGINT NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
	key        TEXT NOT NULL,
	count      BIGINT NOT NULL DEFAULT 0,
	last_step  BIGINT,
	last_value DOUBLE PRECISION,
	last_time  BIGINT,
	min        DOUBLE PRECISION,
	min_step   BIGINT,
	max        DOUBLE PRECISION,
	max_step   BIGINT,
	UNIQUE (run, key)
);
CREATE TABLE points (
	rowid  BIGINT GENERATED BY DEFAULT AS IDENTITY,
	series BIGINT NOT NULL REFERENCES series(id) ON DELETE CASCADE,
	step   BIGINT NOT NULL,
	value  DOUBLE PRECISION,
	time   BIGINT NOT NULL
);
CREATE INDEX points_series_step ON points(series, step, rowid);
CREATE TABLE artifacts (
	run    BIGINT NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
	name   TEXT NOT NULL,
	sha256 TEXT NOT NULL,
	size   BIGINT NOT NULL,
	time   BIGINT NOT NULL,
	PRIMARY KEY (run, name)
);
CREATE INDEX artifacts_sha256 ON artifacts(sha256);
`

// applicationID marks a SQLite file as a difflab tracking database
// (PRAGMA application_id; the bytes spell "dflb").
const applicationID = 0x64666c62

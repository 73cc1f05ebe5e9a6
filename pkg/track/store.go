package track

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrNotFound is wrapped by errors about a run, metric or artifact that does
// not exist. Test for it with errors.Is.
var ErrNotFound = errors.New("not found")

// ErrForeignDatabase is wrapped by the error Open returns for a file that is
// not a difflab tracking database: random bytes, or a SQLite database that
// belongs to another application. Open never modifies such a file.
var ErrForeignDatabase = errors.New("not a difflab tracking database")

// Store is an open tracking database: a SQLite file or a PostgreSQL
// database (see Open). It is safe for concurrent use by many goroutines, and
// many processes, on one machine or several, may open the same database at
// once.
type Store struct {
	path        string // absolute path of the database file, or the redacted DSN
	artifactDir string // content-addressed artifact store; "" when none is set (PostgreSQL)
	d           dialect
	db          *sqlDB
	self        process

	// retryFor bounds how long a write retries on contention (SQLITE_BUSY
	// after busy_timeout has already waited; on PostgreSQL serialization
	// failures, deadlocks and lost connections).
	retryFor time.Duration

	mu     sync.Mutex
	live   map[*Run]struct{} // runs started here and not yet ended
	closed bool
}

// busyTimeout is how long SQLite itself waits for a lock before returning
// SQLITE_BUSY; Store.write retries on top of it.
const busyTimeout = 5 * time.Second

// Options are the settings of OpenWith.
type Options struct {
	// Artifacts is the artifact root: the folder that holds the artifact
	// files, content-addressed. For SQLite the default is the folder
	// path+".artifacts" beside the database. A PostgreSQL store records
	// the first root it is given in the database, and later opens without
	// one use it, so that every machine that mounts a shared folder at the
	// same path finds the files; until a root is given it logs no
	// artifacts (LogArtifact says so).
	Artifacts string
}

// Open opens the tracking database dsn with the default Options; see OpenWith.
func Open(dsn string) (*Store, error) { return OpenWith(dsn, Options{}) }

// OpenWith opens a tracking database and brings its schema up to date. dsn
// is either
//
//   - a file path: a SQLite database, created (with its parent folder) when
//     missing; or
//   - a PostgreSQL URL, postgres://user:password@host:port/dbname?... (or
//     postgresql://), as github.com/jackc/pgx reads it. The tables live in
//     the schema "difflab" of that database, created when missing. The
//     query parameter artifacts=FOLDER sets Options.Artifacts. Nothing is
//     created on this machine.
//
// Any other URL scheme is an error. Errors name the database, with the
// password of a DSN replaced (see RedactDSN).
//
// Open refuses, with an error wrapping ErrForeignDatabase and leaving it
// untouched, a file that is not SQLite (random bytes), a SQLite database that
// holds another application's tables, or a PostgreSQL schema "difflab" that
// is not difflab's. An empty file is treated as a new database. A database
// written by a newer difflab (higher schema version) is refused too. Open also
// marks as crashed the runs whose process is gone (see Status).
func OpenWith(dsn string, o Options) (*Store, error) {
	if dsn == "" {
		return nil, errors.New("track: open: empty database path")
	}
	if isPostgresDSN(dsn) {
		return openPostgres(dsn, o)
	}
	if scheme, ok := urlScheme(dsn); ok {
		return nil, fmt.Errorf("track: open %s: unknown database scheme %q (allowed: postgres://, postgresql://, or a file path for SQLite)",
			RedactDSN(dsn), scheme)
	}
	return openSQLite(dsn, o)
}

func openSQLite(path string, o Options) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("track: open %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("track: open %s: creating folder: %w", path, err)
	}
	if err := checkHeader(abs); err != nil {
		return nil, fmt.Errorf("track: open %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("track: open %s: %w", path, err)
	}
	// Writers in one process take turns anyway (SQLite has one writer at a
	// time); a few connections let readers run beside a writer under WAL.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	art := abs + ".artifacts"
	if o.Artifacts != "" {
		if art, err = filepath.Abs(o.Artifacts); err != nil {
			return nil, fmt.Errorf("track: open %s: artifact root: %w", path, err)
		}
	}
	s := &Store{
		path:        abs,
		artifactDir: art,
		d:           dialectSQLite,
		db:          &sqlDB{db, dialectSQLite},
		self:        currentProcess(),
		retryFor:    2 * time.Minute,
		live:        map[*Run]struct{}{},
	}
	if err := s.init(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("track: open %s: %w", path, explainOpenError(err))
	}
	if err := s.reap(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("track: open %s: %w", path, err)
	}
	return s, nil
}

// dsn builds the modernc.org/sqlite data source name. BEGIN IMMEDIATE
// (_txlock) takes the write lock at the start of a write transaction, so a
// writer waits in busy_timeout rather than failing on a lock upgrade.
func dsn(abs string) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	return u.String() + "?" + q.Encode()
}

// checkHeader refuses a non-empty file that does not start with the SQLite
// magic string, before SQLite gets a chance to touch it.
func checkHeader(abs string) error {
	f, err := os.Open(abs)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() {
		return errors.New("is a folder, want a database file")
	}
	if st.Size() == 0 {
		return nil
	}
	head := make([]byte, 16)
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, []byte("SQLite format 3\x00")) {
		return fmt.Errorf("%w: the file is not a SQLite database", ErrForeignDatabase)
	}
	return nil
}

// explainOpenError rewords SQLite's terse open errors.
func explainOpenError(err error) error {
	switch sqliteCode(err) & 0xff {
	case sqlite3.SQLITE_READONLY:
		return fmt.Errorf("database is read-only (check the permissions of the file and its folder): %w", err)
	case sqlite3.SQLITE_CANTOPEN:
		return fmt.Errorf("cannot open or create the database (check that the folder is writable): %w", err)
	case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
		return fmt.Errorf("%w: the file is corrupt or not a SQLite database: %v", ErrForeignDatabase, err)
	}
	return err
}

// init checks that the file is ours (or empty), switches it to WAL and
// applies pending migrations. Several processes may run it at once.
func (s *Store) init(ctx context.Context) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := checkOwner(ctx, conn); err != nil {
		return err
	}
	// journal_mode=WAL is persistent in the file; it needs no lock of its own
	// but can meet SQLITE_BUSY while another process initialises the file.
	if err := retry(ctx, s.d, s.retryFor, func() error {
		var mode string
		if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
			return err
		}
		if !strings.EqualFold(mode, "wal") {
			return fmt.Errorf("cannot switch to WAL journal mode (got %q)", mode)
		}
		return nil
	}); err != nil {
		return err
	}
	return retry(ctx, s.d, s.retryFor, func() error { return migrate(ctx, conn) })
}

// checkOwner returns an error wrapping ErrForeignDatabase unless the database
// is empty or carries difflab's application id.
func checkOwner(ctx context.Context, conn *sql.Conn) error {
	var appID int64
	if err := conn.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return err
	}
	if appID == applicationID {
		return nil
	}
	if appID != 0 {
		return fmt.Errorf("%w: application id %#x belongs to another application", ErrForeignDatabase, appID)
	}
	rows, err := conn.QueryContext(ctx, "SELECT name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
	if err != nil {
		return err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(names) > 0 {
		if len(names) > 5 {
			names = append(names[:5], "...")
		}
		return fmt.Errorf("%w: it holds another application's tables (%s); refusing to modify it",
			ErrForeignDatabase, strings.Join(names, ", "))
	}
	return nil
}

// migrate applies the migrations the database lacks in one transaction, with
// foreign-key enforcement off meanwhile (it cannot change inside a transaction):
// a migration that rebuilds a table drops the old one, and with enforcement on
// that drop would cascade to every row that references it. The transaction
// checks the keys itself before it commits.
func migrate(ctx context.Context, conn *sql.Conn) (err error) {
	if _, err := conn.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		return err
	}
	defer func() {
		if _, ferr := conn.ExecContext(context.Background(), "PRAGMA foreign_keys = ON"); ferr != nil && err == nil {
			err = ferr
		}
	}()
	tx, err := conn.BeginTx(ctx, nil) // BEGIN IMMEDIATE: one migrator at a time
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this difflab knows (%d); upgrade difflab", version, len(migrations))
	}
	if version == len(migrations) {
		return nil
	}
	if version == 0 {
		// Recheck inside the write lock: another program may have created
		// tables since checkOwner looked.
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: tables appeared without a difflab schema version", ErrForeignDatabase)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
			return err
		}
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i].sqlite); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	if err := foreignKeyCheck(ctx, tx); err != nil {
		return err
	}
	// PRAGMA takes no bound parameters; the value is our own integer.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
		return err
	}
	return tx.Commit()
}

// foreignKeyCheck returns an error naming the first row whose foreign key points
// nowhere (PRAGMA foreign_key_check), or nil.
func foreignKeyCheck(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fk int
		if err := rows.Scan(&table, &rowid, &parent, &fk); err != nil {
			return err
		}
		return fmt.Errorf("migration left row %d of table %s pointing to a missing row of %s", rowid.Int64, table, parent)
	}
	return rows.Err()
}

// Path returns the absolute path of the database file, or for PostgreSQL
// its DSN with the password replaced (RedactDSN): what messages call it.
func (s *Store) Path() string { return s.path }

// ArtifactDir returns the folder that holds the artifact files, or "" for a
// PostgreSQL store that has no artifact root yet (see Options.Artifacts).
func (s *Store) ArtifactDir() string { return s.artifactDir }

// Close ends the runs this Store started that have not ended (as failed,
// with an error saying the store was closed first), then closes the database.
// Calling Close again returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	live := make([]*Run, 0, len(s.live))
	for r := range s.live {
		live = append(live, r)
	}
	s.mu.Unlock()
	var errs []error
	for _, r := range live {
		if err := r.End(errClosedBeforeEnd); err != nil && !errors.Is(err, errClosedBeforeEnd) {
			errs = append(errs, err)
		}
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("track: close %s: %w", s.path, err))
	}
	return errors.Join(errs...)
}

var errClosedBeforeEnd = errors.New("track: store closed before Run.End")

// write runs fn in a write transaction (SQLite: BEGIN IMMEDIATE), retrying
// the whole transaction with backoff while the database is busy or, on
// PostgreSQL, after a serialization failure, a deadlock or a lost connection.
// fn may run several times and must not keep state from a failed attempt.
func (s *Store) write(ctx context.Context, fn func(tx *sqlTx) error) error {
	return retry(ctx, s.d, s.retryFor, func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			tx.Rollback()
			return err
		}
		return tx.Commit()
	})
}

// retry calls fn until it succeeds, fails with an error that d does not deem
// retryable, or keeps failing for longer than limit. The backoff doubles from
// 2 ms up to 250 ms (1 s on PostgreSQL, where a server restarting takes
// seconds), with jitter so that processes do not retry in lockstep.
func retry(ctx context.Context, d dialect, limit time.Duration, fn func() error) error {
	deadline := time.Now().Add(limit)
	backoff := 2 * time.Millisecond
	maxBackoff := 250 * time.Millisecond
	if d == dialectPostgres {
		maxBackoff = time.Second
	}
	for {
		err := fn()
		if err == nil || !d.retryable(err) || time.Now().After(deadline) {
			return err
		}
		sleep := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(sleep):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// isBusy reports whether err is SQLite's "database is locked" or "database
// table is locked", in any extended form.
func isBusy(err error) bool {
	switch sqliteCode(err) & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}

// sqliteCode returns the (extended) SQLite result code in err, or 0.
func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

// register records a live run so that Close can end it.
func (s *Store) register(r *Run) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("track: %s: store is closed", s.path)
	}
	s.live[r] = struct{}{}
	return nil
}

func (s *Store) unregister(r *Run) {
	s.mu.Lock()
	delete(s.live, r)
	s.mu.Unlock()
}

package track

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgSchemaName is the PostgreSQL schema that holds difflab's tables, so that
// they share a database with other applications' tables without meeting them.
const pgSchemaName = "difflab"

// Pool bounds of a PostgreSQL store, per process: with the default
// max_connections of 100, a few dozen workers fit. Idle connections are closed
// after pgMaxIdle, so a sweep of many idle workers holds few.
const (
	pgMaxConns = 4
	pgMaxIdle  = time.Minute
)

// isPostgresDSN reports whether dsn names a PostgreSQL database.
func isPostgresDSN(dsn string) bool {
	l := strings.ToLower(dsn)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// IsDSN reports whether s names a database server by a URL (scheme://...),
// as opposed to a file path of a SQLite database.
func IsDSN(s string) bool {
	_, ok := urlScheme(s)
	return ok
}

// urlScheme returns the scheme of dsn when it has the form scheme://...
func urlScheme(dsn string) (string, bool) {
	i := strings.Index(dsn, "://")
	if i <= 0 {
		return "", false
	}
	for j, c := range dsn[:i] {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (j == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", false
		}
	}
	return dsn[:i], true
}

// RedactDSN returns dsn with its password (in the user part, or a password
// query parameter) replaced by "xxxxx", for messages. A file path is
// returned unchanged, and a DSN that cannot be read as a URL is shown as
// its scheme only.
func RedactDSN(dsn string) string {
	if _, ok := urlScheme(dsn); !ok {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		scheme, _ := urlScheme(dsn)
		return scheme + "://(unreadable DSN)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// openPostgres opens the PostgreSQL database at dsn (see OpenWith).
func openPostgres(dsn string, o Options) (*Store, error) {
	shown := RedactDSN(dsn)
	fail := func(err error) (*Store, error) { return nil, fmt.Errorf("track: open %s: %w", shown, err) }
	u, err := url.Parse(dsn)
	if err != nil {
		// url's error quotes the DSN, password included.
		return fail(errors.New("cannot read the DSN as a URL (postgres://user:password@host:port/dbname)"))
	}
	q := u.Query()
	if a := q.Get("artifacts"); a != "" && o.Artifacts == "" {
		o.Artifacts = a
	}
	q.Del("artifacts")
	u.RawQuery = q.Encode()
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return fail(fmt.Errorf("reading the DSN: %s", redactIn(err.Error(), u)))
	}
	cfg.RuntimeParams["search_path"] = pgSchemaName
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "difflab"
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(pgMaxConns)
	db.SetMaxIdleConns(pgMaxConns)
	db.SetConnMaxIdleTime(pgMaxIdle)
	s := &Store{
		path:     shown,
		d:        dialectPostgres,
		db:       &sqlDB{db, dialectPostgres},
		self:     currentProcess(),
		retryFor: 2 * time.Minute,
		live:     map[*Run]struct{}{},
	}
	ctx := context.Background()
	// A server that refuses the first connection is reported at once, not
	// retried for minutes: Open is where a wrong DSN shows.
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return fail(fmt.Errorf("cannot connect: %s", redactIn(err.Error(), u)))
	}
	if err := retry(ctx, s.d, 30*time.Second, func() error { return s.migratePostgres(ctx) }); err != nil {
		db.Close()
		return fail(err)
	}
	if s.artifactDir, err = s.artifactRoot(ctx, o.Artifacts); err != nil {
		db.Close()
		return fail(err)
	}
	if err := s.reap(ctx); err != nil {
		db.Close()
		return fail(err)
	}
	return s, nil
}

// redactIn removes u's password from a message of pgx, should it quote it.
func redactIn(msg string, u *url.URL) string {
	if u.User == nil {
		return msg
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
		msg = strings.ReplaceAll(msg, url.QueryEscape(pw), "xxxxx")
	}
	return msg
}

// migratePostgres creates the schema when missing, checks that it is
// difflab's, and applies the migrations it lacks, all in one transaction under
// an advisory lock, so that processes opening the database at once take turns.
func (s *Store) migratePostgres(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", int64(applicationID)); err != nil {
		return err
	}
	var hasSettings bool
	if err := tx.QueryRowContext(ctx, "SELECT to_regclass(?) IS NOT NULL", pgSchemaName+".settings").Scan(&hasSettings); err != nil {
		return err
	}
	version := 0
	if !hasSettings {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ?", pgSchemaName).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: the schema %q holds another application's tables; refusing to modify it", ErrForeignDatabase, pgSchemaName)
		}
		if _, err := tx.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgSchemaName); err != nil {
			return fmt.Errorf("creating the schema %q (the user needs the CREATE privilege on the database): %w", pgSchemaName, err)
		}
		if _, err := tx.ExecContext(ctx, settingsTable); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO settings (key, value) VALUES ('application', 'difflab'), ('schema_version', '0')"); err != nil {
			return err
		}
	} else {
		var app, v string
		err := tx.QueryRowContext(ctx, "SELECT (SELECT value FROM settings WHERE key = 'application'), (SELECT value FROM settings WHERE key = 'schema_version')").
			Scan(&app, &v)
		if err != nil || app != "difflab" {
			return fmt.Errorf("%w: the schema %q is not a difflab tracking database", ErrForeignDatabase, pgSchemaName)
		}
		if version, err = strconv.Atoi(v); err != nil {
			return fmt.Errorf("%w: bad schema version %q", ErrForeignDatabase, v)
		}
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this difflab knows (%d); upgrade difflab", version, len(migrations))
	}
	if version == len(migrations) {
		return nil
	}
	for i := version; i < len(migrations); i++ {
		if migrations[i].postgres == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, migrations[i].postgres); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE settings SET value = ? WHERE key = 'schema_version'", strconv.Itoa(len(migrations))); err != nil {
		return err
	}
	return tx.Commit()
}

// artifactRoot returns the artifact root of a PostgreSQL store: given (made
// absolute) when set, and then recorded in the database if it has none yet;
// else the recorded root; else "".
func (s *Store) artifactRoot(ctx context.Context, given string) (string, error) {
	if given != "" {
		abs, err := filepath.Abs(given)
		if err != nil {
			return "", fmt.Errorf("artifact root: %w", err)
		}
		err = s.write(ctx, func(tx *sqlTx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO settings (key, value) VALUES ('artifact_root', ?) ON CONFLICT (key) DO NOTHING", abs)
			return err
		})
		return abs, err
	}
	var root string
	err := s.db.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = 'artifact_root'").Scan(&root)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return root, err
}

// errNoArtifactRoot is LogArtifact's error on a PostgreSQL store that has no
// artifact root.
var errNoArtifactRoot = errors.New("this PostgreSQL store has no artifact root: open it with Options.Artifacts " +
	"(the CLI's --artifacts or $DIFFLAB_ARTIFACTS, or artifacts=FOLDER in the DSN) set to a folder every machine can reach")

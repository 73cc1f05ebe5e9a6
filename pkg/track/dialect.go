package track

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// dialect is the SQL flavour of a store. The queries are written once, in
// SQLite's syntax with ? placeholders; the few places where the two differ ask
// the dialect.
type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

func (d dialect) String() string {
	if d == dialectPostgres {
		return "postgres"
	}
	return "sqlite"
}

// rebind rewrites SQLite placeholders for the dialect: on PostgreSQL "?" becomes
// "$1", "$2", ... in order, and "?N" becomes "$N". Quoted text ('...' and
// "...") is left alone.
func (d dialect) rebind(q string) string {
	if d != dialectPostgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
			b.WriteByte(c)
		case c == '\'' || c == '"':
			quote = c
			b.WriteByte(c)
		case c == '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			b.WriteByte('$')
			if j > i+1 {
				b.WriteString(q[i+1 : j])
			} else {
				n++
				b.WriteString(strconv.Itoa(n))
			}
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// limitAll is the LIMIT clause that means "no limit", needed before OFFSET.
func (d dialect) limitAll() string {
	if d == dialectPostgres {
		return " LIMIT ALL"
	}
	return " LIMIT -1"
}

// like is the SQL of a LIKE or NOT LIKE operator with SQLite's meaning on both
// stores: ASCII case folded, and no escape character.
func (d dialect) like(op string) string {
	if d == dialectPostgres {
		return strings.Replace(op, "LIKE", "ILIKE", 1) + " ? ESCAPE ''"
	}
	return op + " ?"
}

// text is expr as compared and sorted: bytewise on both stores (SQLite's BINARY
// collation; PostgreSQL's database collation may be a locale's).
func (d dialect) text(expr string) string {
	if d == dialectPostgres {
		return expr + ` COLLATE "C"`
	}
	return expr
}

// nowNano is SQL for the database server's clock in Unix nanoseconds, so that
// leases written from several machines compare on one clock.
func (d dialect) nowNano() string {
	if d == dialectPostgres {
		return "(extract(epoch FROM clock_timestamp()) * 1000000000)::bigint"
	}
	return "CAST((julianday('now') - 2440587.5) * 86400000000000 AS INTEGER)"
}

// retryable reports whether err is worth retrying the whole transaction for:
// SQLite's busy and locked; on PostgreSQL serialization failures, deadlocks,
// lock timeouts, too many connections, a server shutting down or starting,
// and a connection lost or refused.
func (d dialect) retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if d == dialectSQLite {
		return isBusy(err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01", "55P03", "53300", "57P01", "57P02", "57P03", "53000":
			return true
		}
		return strings.HasPrefix(pe.Code, "08")
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "conn closed")
}

// sqlDB is a database handle that rebinds its queries for the dialect.
type sqlDB struct {
	*sql.DB
	d dialect
}

func (db *sqlDB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return db.DB.ExecContext(ctx, db.d.rebind(q), args...)
}

func (db *sqlDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return db.DB.QueryContext(ctx, db.d.rebind(q), args...)
}

func (db *sqlDB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return db.DB.QueryRowContext(ctx, db.d.rebind(q), args...)
}

func (db *sqlDB) Exec(q string, args ...any) (sql.Result, error) {
	return db.ExecContext(context.Background(), q, args...)
}

func (db *sqlDB) QueryRow(q string, args ...any) *sql.Row {
	return db.QueryRowContext(context.Background(), q, args...)
}

func (db *sqlDB) Query(q string, args ...any) (*sql.Rows, error) {
	return db.QueryContext(context.Background(), q, args...)
}

func (db *sqlDB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sqlTx, error) {
	tx, err := db.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &sqlTx{tx, db.d}, nil
}

// sqlTx is a transaction that rebinds its queries for the dialect.
type sqlTx struct {
	*sql.Tx
	d dialect
}

func (tx *sqlTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return tx.Tx.ExecContext(ctx, tx.d.rebind(q), args...)
}

func (tx *sqlTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return tx.Tx.QueryContext(ctx, tx.d.rebind(q), args...)
}

func (tx *sqlTx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return tx.Tx.QueryRowContext(ctx, tx.d.rebind(q), args...)
}

func (tx *sqlTx) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return tx.Tx.PrepareContext(ctx, tx.d.rebind(q))
}

package track

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Query selects runs for Store.Runs. The zero Query lists every run, newest
// first.
type Query struct {
	// Experiment restricts to one experiment; "" means all.
	Experiment string
	// Filter is an expression in the filter language (see FilterError and
	// the grammar in filter.go), for example
	// `params.eta = 0 and metrics.fid < 10`. "" matches every run.
	Filter string
	// OrderBy is a field, optionally with a leading "-" or a trailing
	// DESC/ASC: "metrics.fid", "-metrics.fid", "start_time DESC",
	// "params.eta". Runs that lack the key come last. "" means newest
	// first.
	OrderBy string
	// Limit caps the number of runs; 0 means no limit. Negative is an
	// error.
	Limit int
	// Offset skips that many runs of the ordered result (a page's start);
	// negative is an error.
	Offset int
}

// RunInfo is a snapshot of a run as stored.
type RunInfo struct {
	ID         string
	Name       string
	Experiment string
	Status     Status
	StartTime  time.Time
	// EndTime is zero while the run is running. For a crashed run it is the
	// last heartbeat.
	EndTime time.Time
	// Heartbeat is when the run last showed it was alive.
	Heartbeat time.Time
	// Params hold string, int64, float64 or bool values.
	Params map[string]any
	Tags   map[string]string
	// Metrics holds each metric's last value (at the highest step).
	Metrics map[string]float64
	// Summaries holds each metric's count, last, min and max.
	Summaries map[string]MetricSummary
	Note      string
	// Error is the error message a failed run ended with, or why it is
	// deemed crashed.
	Error string
	Env   Env
}

// Duration is EndTime - StartTime, or the time since StartTime while the
// run is running.
func (ri RunInfo) Duration() time.Duration {
	if ri.EndTime.IsZero() {
		return time.Since(ri.StartTime)
	}
	return ri.EndTime.Sub(ri.StartTime)
}

// MetricSummary describes one metric of a run. Min and Max ignore NaN; when
// every value is NaN they are NaN and MinStep/MaxStep are 0.
type MetricSummary struct {
	Count    int64
	LastStep int64
	Last     float64
	Min      float64
	MinStep  int64
	Max      float64
	MaxStep  int64
}

// Point is one logged metric value.
type Point struct {
	Step  int64
	Value float64
	Time  time.Time
}

const runColumns = `r.seq, r.id, r.name, e.name, r.status, r.start_time, r.end_time, r.heartbeat, r.note, r.error, r.env`

// Runs returns the runs that match q, with their params, tags and metric
// summaries. A bad filter or order-by gives a *FilterError naming the column.
// Runs first marks crashed runs (see Open).
func (s *Store) Runs(q Query) ([]RunInfo, error) {
	ctx := context.Background()
	if q.Limit < 0 || q.Offset < 0 {
		return nil, fmt.Errorf("track: Runs: negative limit %d or offset %d", q.Limit, q.Offset)
	}
	from, args, err := s.selectRuns(ctx, q)
	if err != nil {
		return nil, err
	}
	ob, err := parseOrderBy(q.OrderBy)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("SELECT " + runColumns + from)
	order, orderArgs := ob.clause(s.d)
	b.WriteString(order)
	args = append(args, orderArgs...)
	switch {
	case q.Limit > 0:
		b.WriteString(" LIMIT ?")
		args = append(args, q.Limit)
	case q.Offset > 0:
		b.WriteString(s.d.limitAll())
	}
	if q.Offset > 0 {
		b.WriteString(" OFFSET ?")
		args = append(args, q.Offset)
	}
	runs, err := s.queryRuns(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("track: Runs: %w", err)
	}
	return runs, nil
}

// selectRuns returns the FROM and WHERE clauses that select the runs of q
// (runs r joined with experiments e) with their bound arguments, after
// marking crashed runs. Limit, Offset and OrderBy are not looked at.
func (s *Store) selectRuns(ctx context.Context, q Query) (string, []any, error) {
	where, args, err := compileFilter(s.d, q.Filter)
	if err != nil {
		return "", nil, err
	}
	if err := s.reap(ctx); err != nil {
		return "", nil, fmt.Errorf("track: Runs: %w", err)
	}
	var b strings.Builder
	b.WriteString(" FROM runs r JOIN experiments e ON e.id = r.experiment WHERE TRUE")
	if q.Experiment != "" {
		b.WriteString(" AND e.name = ?")
		args = append([]any{q.Experiment}, args...)
	}
	if where != "" {
		b.WriteString(" AND " + where)
	}
	return b.String(), args, nil
}

// Count returns how many runs match q's experiment and filter (Limit,
// Offset and OrderBy are ignored): the total behind a page of Runs.
func (s *Store) Count(q Query) (int, error) {
	ctx := context.Background()
	from, args, err := s.selectRuns(ctx, q)
	if err != nil {
		return 0, err
	}
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*)"+from, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("track: Count: %w", err)
	}
	return n, nil
}

// Keys are the param, tag and metric keys that a set of runs use, each
// sorted: the columns of a table of those runs.
type Keys struct {
	Params, Tags, Metrics []string
}

// Keys returns the keys used by the runs that match q's experiment and
// filter (Limit, Offset and OrderBy are ignored).
func (s *Store) Keys(q Query) (Keys, error) {
	ctx := context.Background()
	from, args, err := s.selectRuns(ctx, q)
	if err != nil {
		return Keys{}, err
	}
	var k Keys
	for _, t := range []struct {
		table string
		dst   *[]string
	}{{"params", &k.Params}, {"tags", &k.Tags}, {"series", &k.Metrics}} {
		rows, err := s.db.QueryContext(ctx, "SELECT DISTINCT key FROM "+t.table+" WHERE run IN (SELECT r.seq"+from+") ORDER BY key", args...)
		if err != nil {
			return Keys{}, fmt.Errorf("track: Keys: %w", err)
		}
		*t.dst = []string{}
		for rows.Next() {
			var key string
			if err := rows.Scan(&key); err != nil {
				rows.Close()
				return Keys{}, fmt.Errorf("track: Keys: %w", err)
			}
			*t.dst = append(*t.dst, key)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return Keys{}, fmt.Errorf("track: Keys: %w", err)
		}
	}
	return k, nil
}

// querier is what *sql.DB and *sql.Tx share for reading.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// compileFilter turns a filter into a SQL condition with bound arguments.
func compileFilter(d dialect, filter string) (string, []any, error) {
	n, err := parseFilter(filter)
	if err != nil || n == nil {
		return "", nil, err
	}
	var args []any
	return n.sql(d, &args), args, nil
}

// Run returns one run. id is the run id or a unique prefix of it (at least 4
// characters). An unknown id gives an error wrapping ErrNotFound; an
// ambiguous prefix is an error too.
func (s *Store) Run(id string) (RunInfo, error) {
	ctx := context.Background()
	if err := s.reap(ctx); err != nil {
		return RunInfo{}, fmt.Errorf("track: Run: %w", err)
	}
	runs, err := s.queryRuns(ctx, "SELECT "+runColumns+" FROM runs r JOIN experiments e ON e.id = r.experiment WHERE r.id = ?", id)
	if err != nil {
		return RunInfo{}, fmt.Errorf("track: Run %q: %w", id, err)
	}
	if len(runs) == 0 && len(id) >= 4 {
		runs, err = s.queryRuns(ctx, "SELECT "+runColumns+" FROM runs r JOIN experiments e ON e.id = r.experiment WHERE substr(r.id, 1, ?) = ? LIMIT 2", len(id), id)
		if err != nil {
			return RunInfo{}, fmt.Errorf("track: Run %q: %w", id, err)
		}
		if len(runs) > 1 {
			return RunInfo{}, fmt.Errorf("track: Run %q: prefix matches several runs; give more characters", id)
		}
	}
	if len(runs) == 0 {
		return RunInfo{}, fmt.Errorf("track: run %q: %w", id, ErrNotFound)
	}
	return runs[0], nil
}

// runSeq returns the internal key of run id (exact id only).
func (s *Store) runSeq(ctx context.Context, id string) (int64, error) {
	var seq int64
	err := s.db.QueryRowContext(ctx, "SELECT seq FROM runs WHERE id = ?", id).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("track: run %q: %w", id, ErrNotFound)
	}
	return seq, err
}

// Metric returns every point of metric key in run runID, by step (points
// with equal steps in the order logged). Points still buffered in a live
// run are not included until flushed (see Run.Flush). An unknown run gives
// an error wrapping ErrNotFound; a key the run never logged gives no points
// and no error.
func (s *Store) Metric(runID, key string) ([]Point, error) {
	ctx := context.Background()
	seq, err := s.runSeq(ctx, runID)
	if err != nil {
		return nil, err
	}
	var count int64
	var sid int64
	err = s.db.QueryRowContext(ctx, "SELECT id, count FROM series WHERE run = ? AND key = ?", seq, key).Scan(&sid, &count)
	if errors.Is(err, sql.ErrNoRows) {
		return []Point{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("track: Metric %s/%s: %w", runID, key, err)
	}
	pts, err := s.points(ctx, sid, math.MinInt64, math.MaxInt64, int(count))
	if err != nil {
		return nil, fmt.Errorf("track: Metric %s/%s: %w", runID, key, err)
	}
	return pts, nil
}

// Experiments returns the experiment names, sorted.
func (s *Store) Experiments() ([]string, error) {
	rows, err := s.db.Query("SELECT name FROM experiments ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("track: Experiments: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

func nullToNaN(v sql.NullFloat64) float64 {
	if !v.Valid {
		return math.NaN()
	}
	return v.Float64
}

// queryRuns runs a query selecting runColumns and loads each run's params,
// tags and metric summaries, all in one read transaction so that they are a
// consistent snapshot.
func (s *Store) queryRuns(ctx context.Context, query string, args ...any) ([]RunInfo, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var runs []RunInfo
	var seqs []int64
	for rows.Next() {
		var ri RunInfo
		var seq, start, beat int64
		var end sql.NullInt64
		var status, env string
		if err := rows.Scan(&seq, &ri.ID, &ri.Name, &ri.Experiment, &status, &start, &end, &beat, &ri.Note, &ri.Error, &env); err != nil {
			rows.Close()
			return nil, err
		}
		ri.Status = Status(status)
		ri.StartTime = time.Unix(0, start)
		if end.Valid {
			ri.EndTime = time.Unix(0, end.Int64)
		}
		ri.Heartbeat = time.Unix(0, beat)
		if err := json.Unmarshal([]byte(env), &ri.Env); err != nil {
			rows.Close()
			return nil, fmt.Errorf("run %s: bad env: %w", ri.ID, err)
		}
		ri.Params = map[string]any{}
		ri.Tags = map[string]string{}
		ri.Metrics = map[string]float64{}
		ri.Summaries = map[string]MetricSummary{}
		runs = append(runs, ri)
		seqs = append(seqs, seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return []RunInfo{}, nil
	}
	index := make(map[int64]*RunInfo, len(runs))
	for i, seq := range seqs {
		index[seq] = &runs[i]
	}
	// Many runs: one pass over each child table beats thousands of index
	// lookups. Few runs: look them up by key, in chunks of bound ids.
	if len(seqs) > 2000 {
		if err := loadChildren(ctx, s.d, tx, "", nil, index); err != nil {
			return nil, err
		}
		return runs, nil
	}
	const chunk = 500
	for lo := 0; lo < len(seqs); lo += chunk {
		part := seqs[lo:min(lo+chunk, len(seqs))]
		in := " run IN (" + strings.TrimSuffix(strings.Repeat("?,", len(part)), ",") + ")"
		ids := make([]any, len(part))
		for i, v := range part {
			ids[i] = v
		}
		if err := loadChildren(ctx, s.d, tx, in, ids, index); err != nil {
			return nil, err
		}
	}
	return runs, nil
}

// loadChildren loads params, tags and metric summaries of the runs in index
// whose rows match cond (a condition on run with bound ids; "" for all).
func loadChildren(ctx context.Context, d dialect, q querier, cond string, ids []any, index map[int64]*RunInfo) error {
	where := ""
	if cond != "" {
		where = " WHERE" + cond
	}
	if err := loadParams(ctx, d, q, where, ids, index); err != nil {
		return err
	}
	if err := loadTags(ctx, q, where, ids, index); err != nil {
		return err
	}
	return loadSummaries(ctx, q, where, ids, index)
}

func loadParams(ctx context.Context, d dialect, db querier, where string, ids []any, index map[int64]*RunInfo) error {
	rows, err := db.QueryContext(ctx, "SELECT run, key, type, "+d.paramColumns()+" FROM params"+where, ids...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var key, typ string
		var pv paramValue
		if err := rows.Scan(append([]any{&seq, &key, &typ}, pv.dest(d)...)...); err != nil {
			return err
		}
		v := pv.value(d)
		ri := index[seq]
		if ri == nil {
			continue
		}
		val, err := decodeParam(typ, v)
		if err != nil {
			return err
		}
		ri.Params[key] = val
	}
	return rows.Err()
}

func loadTags(ctx context.Context, db querier, where string, ids []any, index map[int64]*RunInfo) error {
	rows, err := db.QueryContext(ctx, "SELECT run, key, value FROM tags"+where, ids...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var key, val string
		if err := rows.Scan(&seq, &key, &val); err != nil {
			return err
		}
		if ri := index[seq]; ri != nil {
			ri.Tags[key] = val
		}
	}
	return rows.Err()
}

func loadSummaries(ctx context.Context, db querier, where string, ids []any, index map[int64]*RunInfo) error {
	rows, err := db.QueryContext(ctx, `SELECT run, key, count, last_step, last_value, min, min_step, max, max_step
		FROM series`+where, ids...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var key string
		var m MetricSummary
		var last, mn, mx sql.NullFloat64
		var lastStep, mnStep, mxStep sql.NullInt64
		if err := rows.Scan(&seq, &key, &m.Count, &lastStep, &last, &mn, &mnStep, &mx, &mxStep); err != nil {
			return err
		}
		ri := index[seq]
		if ri == nil || m.Count == 0 {
			continue
		}
		m.LastStep, m.MinStep, m.MaxStep = lastStep.Int64, mnStep.Int64, mxStep.Int64
		m.Last, m.Min, m.Max = nullToNaN(last), nullToNaN(mn), nullToNaN(mx)
		ri.Metrics[key] = m.Last
		ri.Summaries[key] = m
	}
	return rows.Err()
}

package track

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Status is the state of a run.
type Status string

// The run states. A run starts running and ends finished, failed or killed
// through Run.End (killed: it was stopped on purpose, its error wrapping
// context.Canceled, as Ctrl-C or an interrupted notebook cell give); a run whose
// process died without End is reported as crashed.
const (
	StatusRunning  Status = "running"
	StatusFinished Status = "finished"
	StatusFailed   Status = "failed"
	StatusKilled   Status = "killed"
	StatusCrashed  Status = "crashed"
)

// allStatuses lists every Status, in lifecycle order.
var allStatuses = []Status{StatusRunning, StatusFinished, StatusFailed, StatusKilled, StatusCrashed}

// Defaults of RunOptions.
const (
	DefaultFlushSize         = 1000
	DefaultFlushInterval     = time.Second
	DefaultHeartbeatInterval = 5 * time.Second
	// DefaultStaleAfterBeats is how many heartbeat intervals may pass
	// without a heartbeat before a run on another host is deemed crashed.
	DefaultStaleAfterBeats = 12
)

// Params are a run's parameters by key: strings, integers, floats and booleans
// (see LogParam for the types accepted and how they are stored).
type Params map[string]any

// RunOptions describes a run to start. Only Experiment and Name are commonly
// set; zero values select the documented defaults.
type RunOptions struct {
	// Experiment groups runs; "" means "default".
	Experiment string
	// Name is a label for people; it need not be unique. "" is allowed.
	Name string
	// Params are logged as if by LogParam before StartRun returns.
	Params Params
	// Tags are set as if by SetTag.
	Tags map[string]string
	// Note is the run's free-text note.
	Note string

	// Seed is the random seed the run uses, recorded in Env; nil if none.
	Seed *int64
	// ConfigHash identifies the run's configuration (for example a sha256
	// of the config file), recorded in Env.
	ConfigHash string
	// Backend is the GoMLX backend, recorded in Env; "" reads
	// $GOMLX_BACKEND.
	Backend string
	// NoGit skips running git to capture the commit (for tests and
	// folders that are not repositories). Default false.
	NoGit bool

	// FlushSize is how many buffered metric points trigger a background
	// flush. Default DefaultFlushSize (1000). When the buffer reaches 10 ×
	// FlushSize (the database cannot keep up), LogMetric flushes itself.
	FlushSize int
	// FlushInterval is the longest a metric point waits in memory.
	// Default DefaultFlushInterval (1 s).
	FlushInterval time.Duration
	// HeartbeatInterval is how often the run records that it is alive.
	// Default DefaultHeartbeatInterval (5 s).
	HeartbeatInterval time.Duration
	// StaleAfter is how old the last heartbeat may be before the run counts
	// as crashed, when its process cannot be checked directly (another
	// host). Default DefaultStaleAfterBeats × HeartbeatInterval; at least 3
	// × HeartbeatInterval.
	StaleAfter time.Duration
}

// Run is a run being recorded. Its methods are safe for concurrent use.
//
// A Run from Disabled (or a nil *Run) does nothing: every method returns nil
// or a zero value. Logging methods never stop training: a failed write is
// kept in Err and returned by End, and they return an error at once only for
// bad input (an empty key, an unsupported param type, a run already ended);
// that error is kept in Err too.
type Run struct {
	st   *Store // nil for a disabled run
	id   string
	seq  int64
	opts RunOptions

	mu       sync.Mutex
	buf      []point
	err      error     // first logging error that stands
	flushErr error     // error of the last flush, while its points wait for the next
	failed   time.Time // when the last flush failed; zero after a success
	ended    bool
	endErr   error

	flushMu sync.Mutex
	series  map[string]*seriesState // guarded by flushMu

	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{} // closed when loop returns
	endDone chan struct{} // closed when End has finished
}

type point struct {
	key   string
	step  int64
	value float64
	time  int64 // unix nanoseconds
}

// seriesState mirrors a row of the series table; the run that owns a series
// is its only writer, so the summary is computed here.
type seriesState struct {
	id               int64
	count            int64
	lastStep         int64
	lastValue        float64
	lastTime         int64
	min, max         float64
	minStep, maxStep int64
	hasMin           bool // some value was not NaN
}

// Disabled returns a run that records nothing; use it for tests and dry runs
// so that code can log unconditionally.
func Disabled() *Run { return &Run{} }

// Enabled reports whether the run records anything.
func (r *Run) Enabled() bool { return r != nil && r.st != nil }

// StartRun creates a run in the running state, with its params, tags and
// captured Env (see Env), and starts its background flusher and heartbeat.
// The caller must call End. Bad params (unsupported types) are an error and
// no run is created.
func (s *Store) StartRun(opts RunOptions) (*Run, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("track: StartRun: %s: store is closed", s.path)
	}
	if opts.Experiment == "" {
		opts.Experiment = "default"
	}
	if opts.FlushSize <= 0 {
		opts.FlushSize = DefaultFlushSize
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = DefaultStaleAfterBeats * opts.HeartbeatInterval
	}
	opts.StaleAfter = max(opts.StaleAfter, 3*opts.HeartbeatInterval)

	type kv struct {
		key, typ string
		val      any
	}
	params := make([]kv, 0, len(opts.Params))
	for k, v := range opts.Params {
		if err := checkKey("param", k); err != nil {
			return nil, err
		}
		typ, norm, err := normalizeParam(v)
		if err != nil {
			return nil, fmt.Errorf("track: StartRun: param %q: %w", k, err)
		}
		params = append(params, kv{k, typ, norm})
	}
	for k := range opts.Tags {
		if err := checkKey("tag", k); err != nil {
			return nil, err
		}
	}

	env := captureEnv(opts)
	envJSON, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("track: StartRun: %w", err)
	}
	id, err := newRunID()
	if err != nil {
		return nil, fmt.Errorf("track: StartRun: %w", err)
	}
	r := &Run{
		st:      s,
		id:      id,
		opts:    opts,
		series:  map[string]*seriesState{},
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		endDone: make(chan struct{}),
	}
	now := time.Now().UnixNano()
	p := s.self
	ctx := context.Background()
	err = s.write(ctx, func(tx *sqlTx) error {
		expID, err := ensureExperiment(ctx, tx, opts.Experiment, now)
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO runs
			(id, experiment, name, status, start_time, heartbeat, stale_after, pid, pid_start, host, host_key, note, env)
			VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
			id, expID, opts.Name, now, now, opts.StaleAfter.Nanoseconds(),
			p.PID, p.PIDStart, p.Host, p.HostKey, opts.Note, string(envJSON)).Scan(&r.seq)
		if err != nil {
			return err
		}
		for _, p := range params {
			if _, err := tx.ExecContext(ctx, s.d.insertParam(), append([]any{r.seq, p.key, p.typ}, s.d.paramArgs(p.val)...)...); err != nil {
				return err
			}
		}
		for k, v := range opts.Tags {
			if _, err := tx.ExecContext(ctx, `INSERT INTO tags (run, key, value) VALUES (?, ?, ?)`, r.seq, k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("track: StartRun in %s: %w", s.path, err)
	}
	if err := s.register(r); err != nil {
		return nil, err
	}
	go r.loop()
	return r, nil
}

func ensureExperiment(ctx context.Context, tx *sqlTx, name string, now int64) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO experiments (name, created_at) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id`, name, now).Scan(&id)
	return id, err
}

// newRunID returns 16 random hex digits.
func newRunID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// checkKey rejects keys that cannot be stored or queried: empty, invalid
// UTF-8, or with control characters.
func checkKey(kind, key string) error {
	if key == "" {
		return fmt.Errorf("track: empty %s key", kind)
	}
	if !utf8.ValidString(key) || strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("track: %s key %q: invalid UTF-8 or control character", kind, key)
	}
	return nil
}

// ID returns the run's id ("" for a disabled run).
func (r *Run) ID() string {
	if !r.Enabled() {
		return ""
	}
	return r.id
}

// Err returns the first error met while logging, or nil. A flush that
// failed counts until a later flush writes its points (the database came
// back); a flush whose points had to be dropped counts for good.
func (r *Run) Err() error {
	if !r.Enabled() {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.firstErr()
}

// firstErr is Err's value; r.mu must be held.
func (r *Run) firstErr() error {
	if r.err != nil {
		return r.err
	}
	return r.flushErr
}

// fail records err as the run's error if it is the first, and returns it.
func (r *Run) fail(err error) error {
	if err == nil {
		return nil
	}
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	return err
}

var errEnded = errors.New("run has ended")

func (r *Run) checkLive(what string) error {
	r.mu.Lock()
	ended := r.ended
	r.mu.Unlock()
	if ended {
		return fmt.Errorf("track: run %s: %s: %w", r.id, what, errEnded)
	}
	return nil
}

// LogParam records a hyperparameter. value must be a string, bool, integer
// or float (named types by their kind); it is given back as string, bool,
// int64 or float64. A param is written once: logging the same key again with
// an equal value (same type) is fine, a different value is an error and the
// stored value is kept.
func (r *Run) LogParam(key string, value any) error {
	if !r.Enabled() {
		return nil
	}
	if err := checkKey("param", key); err != nil {
		return r.fail(err)
	}
	if err := r.checkLive("LogParam"); err != nil {
		return r.fail(err)
	}
	typ, norm, err := normalizeParam(value)
	if err != nil {
		return r.fail(fmt.Errorf("track: LogParam %q: %w", key, err))
	}
	ctx := context.Background()
	err = r.st.write(ctx, func(tx *sqlTx) error {
		d := r.st.d
		var oldTyp string
		var oldVal paramValue
		err := tx.QueryRowContext(ctx, `SELECT type, `+d.paramColumns()+` FROM params WHERE run = ? AND key = ?`, r.seq, key).
			Scan(append([]any{&oldTyp}, oldVal.dest(d)...)...)
		if err == sql.ErrNoRows {
			_, err = tx.ExecContext(ctx, d.insertParam(), append([]any{r.seq, key, typ}, d.paramArgs(norm)...)...)
			return err
		}
		if err != nil {
			return err
		}
		old, err := decodeParam(oldTyp, oldVal.value(d))
		if err != nil {
			return err
		}
		if !sameParam(old, norm) {
			return fmt.Errorf("param %q is already %v (%s); params are write-once, cannot set %v (%s)", key, old, oldTyp, norm, typ)
		}
		return nil
	})
	if err != nil {
		return r.fail(fmt.Errorf("track: LogParam: %w", err))
	}
	return nil
}

// SetTag sets a tag, replacing its previous value. Tags are for labels that
// may change (for example "best" or "reviewed").
func (r *Run) SetTag(key, value string) error {
	if !r.Enabled() {
		return nil
	}
	if err := checkKey("tag", key); err != nil {
		return r.fail(err)
	}
	ctx := context.Background()
	err := r.st.write(ctx, func(tx *sqlTx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tags (run, key, value) VALUES (?, ?, ?)
			ON CONFLICT (run, key) DO UPDATE SET value = excluded.value`, r.seq, key, value)
		return err
	})
	if err != nil {
		return r.fail(fmt.Errorf("track: SetTag: %w", err))
	}
	return nil
}

// DeleteTag removes a tag; removing a missing tag is not an error.
func (r *Run) DeleteTag(key string) error {
	if !r.Enabled() {
		return nil
	}
	ctx := context.Background()
	err := r.st.write(ctx, func(tx *sqlTx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM tags WHERE run = ? AND key = ?`, r.seq, key)
		return err
	})
	if err != nil {
		return r.fail(fmt.Errorf("track: DeleteTag: %w", err))
	}
	return nil
}

// SetNote replaces the run's free-text note. It works after End too.
func (r *Run) SetNote(note string) error {
	if !r.Enabled() {
		return nil
	}
	ctx := context.Background()
	err := r.st.write(ctx, func(tx *sqlTx) error {
		_, err := tx.ExecContext(ctx, `UPDATE runs SET note = ? WHERE seq = ?`, note, r.seq)
		return err
	})
	if err != nil {
		return r.fail(fmt.Errorf("track: SetNote: %w", err))
	}
	return nil
}

// LogMetric records value for key at step, with the current wall time. The
// point is buffered in memory and written by a background flush (when
// FlushSize points are waiting, every FlushInterval, and at End), so the
// call costs well under a microsecond. NaN and ±Inf are stored as given.
// Steps need not increase; the metric's last value is the one at the
// highest step (the latest logged among equal steps).
//
// It returns an error at once only for an empty or invalid key or an ended
// run; write failures show in Err and End.
func (r *Run) LogMetric(key string, step int64, value float64) error {
	if !r.Enabled() {
		return nil
	}
	if err := checkKey("metric", key); err != nil {
		return r.fail(err)
	}
	return r.add(point{key: key, step: step, value: value, time: time.Now().UnixNano()})
}

// LogMetrics records several metrics at the same step and wall time; see
// LogMetric. Keys are checked before any point is recorded.
func (r *Run) LogMetrics(step int64, values map[string]float64) error {
	if !r.Enabled() {
		return nil
	}
	for k := range values {
		if err := checkKey("metric", k); err != nil {
			return r.fail(err)
		}
	}
	now := time.Now().UnixNano()
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pts := make([]point, len(keys))
	for i, k := range keys {
		pts[i] = point{key: k, step: step, value: values[k], time: now}
	}
	return r.add(pts...)
}

func (r *Run) add(pts ...point) error {
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		return r.fail(fmt.Errorf("track: run %s: LogMetric: %w", r.id, errEnded))
	}
	r.buf = append(r.buf, pts...)
	n := len(r.buf)
	// After a failed flush, leave retries to the background loop for a
	// while instead of failing again on every call.
	backoff := !r.failed.IsZero() && time.Since(r.failed) < r.opts.FlushInterval
	r.mu.Unlock()
	switch {
	case backoff:
	case n >= 10*r.opts.FlushSize:
		// The background flush is not keeping up: push back on the caller
		// rather than growing without bound.
		r.flush()
	case n >= r.opts.FlushSize:
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// Flush writes the buffered metric points now, and records a heartbeat. It
// returns the error of this flush (also kept in Err).
func (r *Run) Flush() error {
	if !r.Enabled() {
		return nil
	}
	return r.flush()
}

// loop is the run's background goroutine: it flushes metrics and records
// heartbeats until End.
func (r *Run) loop() {
	defer close(r.done)
	flushT := time.NewTicker(r.opts.FlushInterval)
	defer flushT.Stop()
	beatT := time.NewTicker(r.opts.HeartbeatInterval)
	defer beatT.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-r.kick:
			r.flush()
		case <-flushT.C:
			r.mu.Lock()
			n := len(r.buf)
			r.mu.Unlock()
			if n > 0 {
				r.flush()
			}
		case <-beatT.C:
			r.flush()
		}
	}
}

// maxRequeue bounds how many points a failing database may hold in memory;
// beyond it, points from failed flushes are dropped (and Err says so).
const maxRequeue = 1 << 20

// flush writes the buffered points and the heartbeat in one transaction.
func (r *Run) flush() error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	r.mu.Lock()
	batch := r.buf
	r.buf = nil
	r.mu.Unlock()

	err := r.writeBatch(batch)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		// The points of failed flushes were in this batch: nothing is lost.
		r.failed, r.flushErr = time.Time{}, nil
		return nil
	}
	r.failed = time.Now()
	err = fmt.Errorf("track: run %s: writing metrics to %s: %w", r.id, r.st.path, err)
	if len(r.buf)+len(batch) <= maxRequeue {
		// Kept for the next flush; the error stands until one succeeds.
		r.buf = append(batch, r.buf...)
		r.flushErr = err
		return err
	}
	err = fmt.Errorf("%w (dropped %d metric points)", err, len(batch))
	if r.err == nil {
		r.err = err
	}
	return err
}

func (r *Run) writeBatch(batch []point) error {
	// Work on copies of the series summaries: the transaction may be
	// retried or fail, and only a commit makes them true.
	work := map[string]*seriesState{}
	for _, p := range batch {
		s := work[p.key]
		if s == nil {
			if old := r.series[p.key]; old != nil {
				c := *old
				s = &c
			} else {
				s = &seriesState{}
			}
			work[p.key] = s
		}
		s.add(p)
	}
	ctx := context.Background()
	now := time.Now().UnixNano()
	err := r.st.write(ctx, func(tx *sqlTx) error {
		// Revive a run that another process marked crashed while this one
		// was stalled (suspended laptop, stopped process).
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET heartbeat = ?, status = 'running', end_time = NULL
			WHERE seq = ? AND status IN ('running', 'crashed')`, now, r.seq); err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		for k, s := range work {
			if s.id != 0 {
				continue
			}
			if err := tx.QueryRowContext(ctx, `INSERT INTO series (run, key) VALUES (?, ?)
				ON CONFLICT (run, key) DO UPDATE SET key = excluded.key RETURNING id`, r.seq, k).Scan(&s.id); err != nil {
				return err
			}
		}
		if err := insertPoints(ctx, tx, batch, work); err != nil {
			return err
		}
		upd, err := tx.PrepareContext(ctx, `UPDATE series SET count = ?, last_step = ?, last_value = ?, last_time = ?,
			min = ?, min_step = ?, max = ?, max_step = ? WHERE id = ?`)
		if err != nil {
			return err
		}
		defer upd.Close()
		for _, s := range work {
			var mn, mx, mnStep, mxStep any
			if s.hasMin {
				mn, mx, mnStep, mxStep = nullableFloat(s.min), nullableFloat(s.max), s.minStep, s.maxStep
			}
			if _, err := upd.ExecContext(ctx, s.count, s.lastStep, nullableFloat(s.lastValue), s.lastTime,
				mn, mnStep, mx, mxStep, s.id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Ids assigned in a rolled-back transaction are void.
		return err
	}
	for k, s := range work {
		r.series[k] = s
	}
	return nil
}

// insertPoints inserts a batch of points in order: on SQLite with one
// prepared statement, on PostgreSQL in one statement over arrays (one round
// trip to the server instead of one per point).
func insertPoints(ctx context.Context, tx *sqlTx, batch []point, work map[string]*seriesState) error {
	if tx.d == dialectPostgres {
		series, steps, times := make([]int64, len(batch)), make([]int64, len(batch)), make([]int64, len(batch))
		values := make([]*float64, len(batch))
		for i, p := range batch {
			series[i], steps[i], times[i] = work[p.key].id, p.step, p.time
			if !math.IsNaN(p.value) {
				v := p.value
				values[i] = &v
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO points (series, step, value, time)
			SELECT s, st, v, t FROM unnest(?::bigint[], ?::bigint[], ?::float8[], ?::bigint[]) WITH ORDINALITY AS u(s, st, v, t, i)
			ORDER BY i`, series, steps, values, times)
		return err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO points (series, step, value, time) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	for _, p := range batch {
		if _, err := ins.ExecContext(ctx, work[p.key].id, p.step, nullableFloat(p.value), p.time); err != nil {
			return err
		}
	}
	return nil
}

func (s *seriesState) add(p point) {
	if s.count == 0 || p.step >= s.lastStep {
		s.lastStep, s.lastValue, s.lastTime = p.step, p.value, p.time
	}
	s.count++
	if math.IsNaN(p.value) {
		return
	}
	if !s.hasMin || p.value < s.min {
		s.min, s.minStep = p.value, p.step
	}
	if !s.hasMin || p.value > s.max {
		s.max, s.maxStep = p.value, p.step
	}
	s.hasMin = true
}

// nullableFloat stores NaN as NULL, which SQLite would do anyway; reading
// turns NULL back into NaN.
func nullableFloat(v float64) any {
	if math.IsNaN(v) {
		return nil
	}
	return v
}

// End flushes everything and marks the run finished when err is nil, killed
// when err wraps context.Canceled (the run was stopped on purpose), or failed
// otherwise; killed and failed runs keep err's message. It returns the first
// error met while logging or ending (nil when all was recorded), so a caller can
// check that the run's data is complete. Calling End again does nothing and returns the
// same result.
func (r *Run) End(err error) error {
	return r.endWith(err, nil)
}

// endWith is End; when the run would end finished, hook runs in the
// transaction that records it, and an error of hook's (or a point that could
// not be written) ends the run failed instead and is returned.
func (r *Run) endWith(err error, hook func(ctx context.Context, tx *sqlTx) error) error {
	if !r.Enabled() {
		return nil
	}
	r.mu.Lock()
	if r.ended {
		r.mu.Unlock()
		<-r.endDone
		r.mu.Lock()
		defer r.mu.Unlock()
		if hook != nil && r.endErr == nil {
			return errors.New("track: run " + r.id + " had already ended")
		}
		return r.endErr
	}
	r.ended = true
	r.mu.Unlock()
	close(r.stop)
	<-r.done
	r.flush()

	status, msg := StatusFinished, ""
	switch {
	case errors.Is(err, context.Canceled):
		status, msg = StatusKilled, err.Error()
	case err != nil:
		status, msg = StatusFailed, err.Error()
	}
	var hookErr error
	if hook != nil && status == StatusFinished {
		r.mu.Lock()
		hookErr = r.firstErr()
		r.mu.Unlock()
	}
	ctx := context.Background()
	update := func(tx *sqlTx, status Status, msg string) error {
		now := time.Now().UnixNano()
		_, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, error = ?, end_time = ?, heartbeat = ? WHERE seq = ?`,
			string(status), msg, now, now, r.seq)
		return err
	}
	werr := r.st.write(ctx, func(tx *sqlTx) error {
		if hook != nil && status == StatusFinished && hookErr == nil {
			if err := hook(ctx, tx); err != nil {
				return err
			}
		}
		if hookErr != nil {
			return update(tx, StatusFailed, hookErr.Error())
		}
		return update(tx, status, msg)
	})
	if hook != nil && werr != nil && hookErr == nil && !r.st.d.retryable(werr) {
		// The hook refused (a lost lease): the run ends failed with its reason.
		hookErr = werr
		werr = r.st.write(ctx, func(tx *sqlTx) error { return update(tx, StatusFailed, hookErr.Error()) })
	}
	if werr != nil {
		r.fail(fmt.Errorf("track: run %s: End: %w", r.id, werr))
	}
	r.st.unregister(r)
	r.mu.Lock()
	r.endErr = r.firstErr()
	if r.endErr == nil {
		r.endErr = hookErr
	}
	r.mu.Unlock()
	close(r.endDone)
	return r.endErr
}

package track

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// A Queue is a named set of tasks that worker processes share through the
// store: each worker claims the next task nobody holds, works on it and
// marks it done, until every task is done. It is how several processes, on
// one machine or many, share a sweep with no coordinator but the database.
//
// A claim is a lease: the worker holds the task until a deadline on the
// database's clock and renews it while it works (every third of Lease). A
// worker that dies stops renewing, and once the lease expires (at once, when
// the dead worker ran on the claiming worker's machine) the task is claimed
// again. Finishing checks the lease, in the same transaction that records
// the task's run as finished, so a task is done at most once even when a
// stalled worker wakes up after losing its lease.
//
// On PostgreSQL a claim is SELECT ... FOR UPDATE SKIP LOCKED, so workers
// claiming at once never wait for each other; on SQLite it is a short write
// transaction.
type Queue struct {
	// Name identifies the queue in the store.
	Name string
	// Lease is how long a claim lasts without renewal; default DefaultLease.
	Lease time.Duration
	// Poll is how long Claim waits before looking again when every task left
	// is held by another worker; default one second (less when a lease
	// expires sooner).
	Poll time.Duration
	// Owner names the worker in Status; Store.Queue sets it to "host:pid".
	Owner string

	s *Store
}

// DefaultLease is a claim's default duration: a task of a dead worker on
// another machine is claimed again at most this long after it died.
const DefaultLease = time.Minute

// ErrQueueDone is returned by Claim when every task of the queue is done.
var ErrQueueDone = errors.New("track: every task of the queue is done")

// ErrLeaseLost is returned by Finish, and is the cause of the lease's
// context, when the lease expired and another worker claimed the task (or
// the queue was reset).
var ErrLeaseLost = errors.New("track: lease lost: the task was claimed by another worker")

// Queue returns the queue of the given name. It holds no connection; tasks
// are added with Add.
func (s *Store) Queue(name string) *Queue {
	return &Queue{Name: name, Owner: s.selfName(), s: s}
}

// A Task is one unit of work of a queue.
type Task struct {
	// Name identifies the task in its queue.
	Name string
	// Final marks a task that can be claimed only once every other task of
	// the queue is done (a report over all of them).
	Final bool
	// RunID, when set, is a finished run that already did the task's work:
	// the task is added done, with that run.
	RunID string
}

func (q *Queue) lease() time.Duration {
	if q.Lease > 0 {
		return q.Lease
	}
	return DefaultLease
}

func (q *Queue) owner() string {
	if q.Owner != "" {
		return q.Owner
	}
	return q.s.selfName()
}

// selfName names this process as "host:pid".
func (s *Store) selfName() string { return s.self.Host + ":" + strconv.Itoa(s.self.PID) }

// Add adds the tasks that the queue does not have yet, in order (the order
// in which they are claimed), so every worker can call it with the whole
// list. Tasks given a RunID are marked done by that run. Add also reopens
// the done tasks whose run is no longer a finished run of the store (deleted,
// say), and the final tasks while any other task is not done, so that a
// queue never claims to be done with work that is missing.
func (q *Queue) Add(ctx context.Context, tasks ...Task) error {
	if q.Name == "" {
		return errors.New("track: Queue.Name is empty")
	}
	for _, t := range tasks {
		if err := checkKey("task", t.Name); err != nil {
			return err
		}
	}
	d := q.s.d
	return q.s.write(ctx, func(tx *sqlTx) error {
		var ord int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(ord) + 1, 0) FROM tasks WHERE queue = ?`, q.Name).Scan(&ord); err != nil {
			return err
		}
		for _, t := range tasks {
			state := "pending"
			if t.RunID != "" {
				state = "done"
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO tasks (queue, name, ord, after_all, state, run_id, done_at)
				VALUES (?, ?, ?, ?, ?, ?, CASE WHEN ? = 'done' THEN `+d.nowNano()+` END)
				ON CONFLICT (queue, name) DO NOTHING`, q.Name, t.Name, ord, boolInt(t.Final), state, t.RunID, state)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				ord++
			} else if t.RunID != "" {
				if _, err := tx.ExecContext(ctx, `UPDATE tasks SET state = 'done', run_id = ?, token = '', done_at = `+d.nowNano()+`
					WHERE queue = ? AND name = ? AND state <> 'done'`, t.RunID, q.Name, t.Name); err != nil {
					return err
				}
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE tasks SET state = 'pending', run_id = '', done_at = NULL
			WHERE queue = ? AND state = 'done' AND run_id <> ''
			AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.id = tasks.run_id AND runs.status = 'finished')`, q.Name); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE tasks SET state = 'pending', run_id = '', done_at = NULL
			WHERE queue = ? AND after_all = 1 AND state = 'done'
			AND EXISTS (SELECT 1 FROM tasks o WHERE o.queue = ? AND o.after_all = 0 AND o.state <> 'done')`, q.Name, q.Name)
		return err
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Claim leases the next task that nobody holds: pending, or held by a worker
// whose lease expired or, on this machine, whose process is gone; a final
// task only once every other task is done. When every task left is held by
// a live worker, Claim waits and looks again (every Poll) until one is free,
// every task is done (ErrQueueDone) or ctx is done.
func (q *Queue) Claim(ctx context.Context) (*Lease, error) {
	for {
		l, wait, err := q.tryClaim(ctx)
		if err != nil || l != nil {
			return l, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// tryClaim claims a task, or says how long to wait before trying again.
func (q *Queue) tryClaim(ctx context.Context) (*Lease, time.Duration, error) {
	s, d := q.s, q.s.d
	token, err := newToken()
	if err != nil {
		return nil, 0, err
	}
	lease := q.lease()
	poll := q.Poll
	if poll <= 0 {
		poll = time.Second
	}
	skipLocked := ""
	if d == dialectPostgres {
		skipLocked = " FOR UPDATE SKIP LOCKED"
	}
	var (
		name     string
		final    bool
		attempts int
		left     int
		wait     = poll
	)
	err = s.write(ctx, func(tx *sqlTx) error {
		name, final, left = "", false, 0
		// A free task: pending or expired; a final one once the rest are done.
		var fin int
		err := tx.QueryRowContext(ctx, `SELECT name, after_all FROM tasks t
			WHERE queue = ? AND (state = 'pending' OR (state = 'leased' AND lease_until < `+d.nowNano()+`))
			AND (after_all = 0 OR NOT EXISTS (SELECT 1 FROM tasks o WHERE o.queue = t.queue AND o.after_all = 0 AND o.state <> 'done'))
			ORDER BY after_all, ord LIMIT 1`+skipLocked, q.Name).Scan(&name, &fin)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if name == "" {
			// A task held by a dead process of this machine.
			if name, fin, err = q.deadHolder(ctx, tx, skipLocked); err != nil {
				return err
			}
		}
		if name == "" {
			var untilMin sql.NullInt64
			var now int64
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), MIN(CASE WHEN state = 'leased' THEN lease_until END), `+d.nowNano()+`
				FROM tasks WHERE queue = ? AND state <> 'done'`, q.Name).Scan(&left, &untilMin, &now); err != nil {
				return err
			}
			if untilMin.Valid {
				wait = min(poll, max(time.Duration(untilMin.Int64-now)+time.Millisecond, time.Millisecond))
			}
			return nil
		}
		final = fin != 0
		p := s.self
		return tx.QueryRowContext(ctx, `UPDATE tasks SET state = 'leased', token = ?, owner = ?, pid = ?, pid_start = ?, host = ?, host_key = ?,
			lease_until = `+d.nowNano()+` + ?, attempts = attempts + 1 WHERE queue = ? AND name = ? RETURNING attempts`,
			token, q.owner(), p.PID, p.PIDStart, p.Host, p.HostKey, int64(lease), q.Name, name).Scan(&attempts)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("track: queue %s: claim: %w", q.Name, err)
	}
	if name == "" {
		if left == 0 {
			return nil, 0, ErrQueueDone
		}
		return nil, wait, nil
	}
	l := &Lease{Task: name, Final: final, Attempt: attempts, q: q, token: token, stop: make(chan struct{}), done: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancelCause(context.Background())
	go l.renew()
	return l, 0, nil
}

// deadHolder returns a leased task whose holder ran on this machine and is
// no longer alive.
func (q *Queue) deadHolder(ctx context.Context, tx *sqlTx, skipLocked string) (string, int, error) {
	me := q.s.self
	rows, err := tx.QueryContext(ctx, `SELECT name, after_all, pid, pid_start, host, host_key FROM tasks
		WHERE queue = ? AND state = 'leased' AND host = ? AND host_key = ? ORDER BY after_all, ord`+skipLocked,
		q.Name, me.Host, me.HostKey)
	if err != nil {
		return "", 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var fin int
		var p process
		if err := rows.Scan(&name, &fin, &p.PID, &p.PIDStart, &p.Host, &p.HostKey); err != nil {
			return "", 0, err
		}
		if p != me && me.check(p) == dead {
			return name, fin, nil
		}
	}
	return "", 0, rows.Err()
}

func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// A Lease is a worker's claim on one task of a queue. It renews itself in
// the background until Finish or Release.
type Lease struct {
	// Task is the name of the claimed task.
	Task string
	// Final reports whether it is the queue's final task.
	Final bool
	// Attempt counts the claims of the task, this one included: above 1, an
	// earlier worker died or gave the task back.
	Attempt int

	q          *Queue
	token      string
	ctx        context.Context
	cancel     context.CancelCauseFunc
	stop, done chan struct{}
	once       sync.Once
}

// Context is cancelled, with cause ErrLeaseLost, when the lease is lost, so
// that work nobody will record can stop early.
func (l *Lease) Context() context.Context { return l.ctx }

// renew extends the lease every third of its duration. A renewal that finds
// the task no longer held with this token has lost the lease; one that
// cannot reach the database keeps trying, and gives up when the lease has
// expired on the worker's clock.
func (l *Lease) renew() {
	defer close(l.done)
	lease := l.q.lease()
	held := time.Now().Add(lease)
	tick := time.NewTicker(lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), lease/3)
		var n int64
		err := l.q.s.write(ctx, func(tx *sqlTx) error {
			res, err := tx.ExecContext(ctx, `UPDATE tasks SET lease_until = `+l.q.s.d.nowNano()+` + ?
				WHERE queue = ? AND name = ? AND token = ? AND state = 'leased'`, int64(lease), l.q.Name, l.Task, l.token)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		cancel()
		switch {
		case err == nil && n == 0:
			l.cancel(ErrLeaseLost)
			return
		case err == nil:
			held = time.Now().Add(lease)
		case time.Now().After(held):
			l.cancel(ErrLeaseLost)
			return
		}
	}
}

func (l *Lease) stopRenewing() {
	l.once.Do(func() { close(l.stop) })
	<-l.done
}

// markDone marks the task done by runID inside tx, if the lease still holds.
func (l *Lease) markDone(ctx context.Context, tx *sqlTx, runID string) error {
	res, err := tx.ExecContext(ctx, `UPDATE tasks SET state = 'done', run_id = ?, token = '', done_at = `+l.q.s.d.nowNano()+`
		WHERE queue = ? AND name = ? AND token = ? AND state = 'leased'`, runID, l.q.Name, l.Task, l.token)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrLeaseLost
	}
	return nil
}

// Finish ends run as finished and marks the task done with it, in one
// transaction, if the lease still holds; otherwise (the lease was lost, or
// the run could not write all its points) the run ends failed, the task is
// left to the worker that holds it, and Finish returns the reason, wrapping
// ErrLeaseLost for a lost lease. run may be nil for a task that leaves no
// run.
func (l *Lease) Finish(run *Run) error {
	l.stopRenewing()
	defer l.cancel(nil)
	if run == nil || !run.Enabled() {
		err := l.q.s.write(context.Background(), func(tx *sqlTx) error {
			return l.markDone(context.Background(), tx, "")
		})
		if err != nil {
			return fmt.Errorf("track: queue %s, task %s: %w", l.q.Name, l.Task, err)
		}
		return nil
	}
	if err := run.endWith(nil, func(ctx context.Context, tx *sqlTx) error {
		return l.markDone(ctx, tx, run.ID())
	}); err != nil {
		return fmt.Errorf("track: queue %s, task %s: %w", l.q.Name, l.Task, err)
	}
	return nil
}

// Release gives the task back, pending, for another worker to claim now
// (after a failure, say). It does nothing if the lease was already lost.
func (l *Lease) Release() error {
	l.stopRenewing()
	defer l.cancel(nil)
	return l.q.s.write(context.Background(), func(tx *sqlTx) error {
		_, err := tx.ExecContext(context.Background(), `UPDATE tasks SET state = 'pending', token = '', lease_until = 0
			WHERE queue = ? AND name = ? AND token = ? AND state = 'leased'`, l.q.Name, l.Task, l.token)
		return err
	})
}

// QueueStatus counts a queue's tasks by state.
type QueueStatus struct {
	Pending, Leased, Done int
	// Holders are the owners of the leased tasks, with how many each holds.
	Holders map[string]int
	// Retried counts the tasks claimed more than once.
	Retried int
}

// Total is the number of tasks.
func (st QueueStatus) Total() int { return st.Pending + st.Leased + st.Done }

// Status counts the queue's tasks. A leased task whose lease has expired
// counts as pending.
func (q *Queue) Status(ctx context.Context) (QueueStatus, error) {
	st := QueueStatus{Holders: map[string]int{}}
	rows, err := q.s.db.QueryContext(ctx, `SELECT state, lease_until < `+q.s.d.nowNano()+`, owner, attempts FROM tasks WHERE queue = ?`, q.Name)
	if err != nil {
		return st, fmt.Errorf("track: queue %s: %w", q.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var state, owner string
		var expired bool
		var attempts int
		if err := rows.Scan(&state, &expired, &owner, &attempts); err != nil {
			return st, err
		}
		switch {
		case state == "done":
			st.Done++
		case state == "leased" && !expired:
			st.Leased++
			st.Holders[owner]++
		default:
			st.Pending++
		}
		if attempts > 1 {
			st.Retried++
		}
	}
	return st, rows.Err()
}

package track

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func tasks(names ...string) []Task {
	out := make([]Task, len(names))
	for i, n := range names {
		out[i] = Task{Name: n}
	}
	return out
}

func mustClaim(t *testing.T, q *Queue) *Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := q.Claim(ctx)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return l
}

// TestQueueOrder: tasks come in the order added, the final one last and only
// once the others are done, then ErrQueueDone; adding again changes nothing.
func TestQueueOrder(t *testing.T) { eachStore(t, testQueueOrder) }

func testQueueOrder(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	ctx := context.Background()
	q := st.Queue("sweep")
	all := append(tasks("c", "a", "b"), Task{Name: "report", Final: true})
	for range 2 {
		if err := q.Add(ctx, all...); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := q.Status(ctx); err != nil || s.Pending != 4 || s.Total() != 4 {
		t.Fatalf("Status = %+v, %v; want 4 pending", s, err)
	}
	var got []string
	var held []*Lease
	for range 3 {
		l := mustClaim(t, q)
		if l.Final || l.Attempt != 1 {
			t.Errorf("task %s: Final %v, Attempt %d", l.Task, l.Final, l.Attempt)
		}
		got = append(got, l.Task)
		held = append(held, l)
	}
	if strings.Join(got, ",") != "c,a,b" {
		t.Errorf("claimed %v, want c,a,b", got)
	}
	// The final task waits for the others, which are leased, not done.
	q.Poll = 10 * time.Millisecond
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	if l, err := q.Claim(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Claim with every task leased = %v, %v; want to wait", l, err)
	}
	cancel()
	if s, _ := q.Status(ctx); s.Leased != 3 || s.Pending != 1 || s.Holders[q.owner()] != 3 {
		t.Errorf("Status = %+v", s)
	}
	for _, l := range held {
		r := start(t, st, RunOptions{Experiment: "x", Name: l.Task})
		r.LogMetric("m", 0, 1)
		if err := l.Finish(r); err != nil {
			t.Fatal(err)
		}
		if info, _ := st.Run(r.ID()); info.Status != StatusFinished || len(info.Metrics) != 1 {
			t.Errorf("run of %s: %+v", l.Task, info)
		}
	}
	l := mustClaim(t, q)
	if l.Task != "report" || !l.Final {
		t.Fatalf("claimed %s (final %v), want the report", l.Task, l.Final)
	}
	if err := l.Finish(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Claim(ctx); !errors.Is(err, ErrQueueDone) {
		t.Errorf("Claim on a done queue: %v, want ErrQueueDone", err)
	}
	if err := q.Add(ctx, all...); err != nil {
		t.Fatal(err)
	}
	if s, _ := q.Status(ctx); s.Done != 4 || s.Total() != 4 {
		t.Errorf("after adding again: %+v, want 4 done", s)
	}
	if _, err := st.Queue("empty").Claim(ctx); !errors.Is(err, ErrQueueDone) {
		t.Errorf("Claim on an empty queue: %v, want ErrQueueDone", err)
	}
	if err := st.Queue("bad").Add(ctx, Task{Name: "a\nb"}); err == nil {
		t.Error("a task name with a newline was accepted")
	}
}

// TestQueueReopen: tasks added with the run that did them are done; a done
// task whose run was deleted is pending again, and so is the final task.
func TestQueueReopen(t *testing.T) { eachStore(t, testQueueReopen) }

func testQueueReopen(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	ctx := context.Background()
	old := start(t, st, RunOptions{Experiment: "x"})
	if err := old.End(nil); err != nil {
		t.Fatal(err)
	}
	failed := start(t, st, RunOptions{Experiment: "x"})
	failed.End(errors.New("boom"))
	q := st.Queue("sweep")
	if err := q.Add(ctx, Task{Name: "a", RunID: old.ID()}, Task{Name: "b"}, Task{Name: "r", Final: true}); err != nil {
		t.Fatal(err)
	}
	if s, _ := q.Status(ctx); s.Done != 1 || s.Pending != 2 {
		t.Fatalf("Status = %+v, want a done", s)
	}
	lb := mustClaim(t, q)
	if lb.Task != "b" {
		t.Fatalf("claimed %s, want b", lb.Task)
	}
	rb := start(t, st, RunOptions{Experiment: "x"})
	if err := lb.Finish(rb); err != nil {
		t.Fatal(err)
	}
	lr := mustClaim(t, q)
	if err := lr.Finish(nil); err != nil {
		t.Fatal(err)
	}
	// b's run is no longer finished (deleted, or marked failed by hand): b
	// and the final task are to do again; a is not.
	if _, err := st.db.Exec(`UPDATE runs SET status = 'failed' WHERE id = ?`, rb.ID()); err != nil {
		t.Fatal(err)
	}
	// A task marked done by a run that did not finish is not done.
	if err := q.Add(ctx, Task{Name: "c", RunID: failed.ID()}); err != nil {
		t.Fatal(err)
	}
	s, _ := q.Status(ctx)
	if s.Done != 1 || s.Pending != 3 {
		t.Errorf("after b's run failed: %+v, want 1 done (a), 3 pending (b, c, r)", s)
	}
	if l := mustClaim(t, q); l.Task != "b" || l.Attempt != 2 {
		t.Errorf("claimed %s attempt %d, want b attempt 2", l.Task, l.Attempt)
	}
}

// TestLeaseExpiry: a worker that stops renewing loses its task once the
// lease expires; its late Finish is refused, its run ends failed, and the
// task is done once, by the worker that took it over. A renewal that finds
// the task taken cancels the lease's context.
func TestLeaseExpiry(t *testing.T) { eachStore(t, testLeaseExpiry) }

func testLeaseExpiry(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	ctx := context.Background()
	q1, q2 := st.Queue("sweep"), st.Queue("sweep")
	q1.Lease, q2.Lease = 300*time.Millisecond, time.Hour
	q1.Owner, q2.Owner = "one", "two"
	q2.Poll = 20 * time.Millisecond
	if err := q1.Add(ctx, tasks("a", "b")...); err != nil {
		t.Fatal(err)
	}
	stalled := mustClaim(t, q1)
	stalled.stopRenewing() // hung: no more renewals
	t0 := time.Now()
	// q2 takes b at once, then a once the lease of one expires.
	if l := mustClaim(t, q2); l.Task != "b" {
		t.Fatalf("claimed %s, want b", l.Task)
	} else {
		defer l.Release()
	}
	took := mustClaim(t, q2)
	if took.Task != "a" || took.Attempt != 2 {
		t.Fatalf("claimed %s attempt %d, want a attempt 2", took.Task, took.Attempt)
	}
	if el := time.Since(t0); el < 200*time.Millisecond {
		t.Errorf("a was taken over after %v, before its lease of 300 ms expired", el)
	}
	late := start(t, st, RunOptions{Experiment: "x", Name: "late"})
	if err := stalled.Finish(late); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("late Finish: %v, want ErrLeaseLost", err)
	}
	if info, _ := st.Run(late.ID()); info.Status != StatusFailed || !strings.Contains(info.Error, "lease lost") {
		t.Errorf("late run: status %s, error %q; want failed, lease lost", info.Status, info.Error)
	}
	winner := start(t, st, RunOptions{Experiment: "x", Name: "winner"})
	if err := took.Finish(winner); err != nil {
		t.Fatal(err)
	}
	if s, _ := q1.Status(ctx); s.Done != 1 || s.Retried != 1 {
		t.Errorf("Status = %+v, want a done once, retried", s)
	}

	// A live lease whose task is taken from it (expired while the database
	// was out of reach, say) notices at its next renewal.
	q3 := st.Queue("other")
	q3.Lease = 300 * time.Millisecond
	if err := q3.Add(ctx, tasks("x")...); err != nil {
		t.Fatal(err)
	}
	l := mustClaim(t, q3)
	if _, err := st.db.Exec(`UPDATE tasks SET token = 'someone else' WHERE queue = 'other'`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Context().Done():
		if !errors.Is(context.Cause(l.Context()), ErrLeaseLost) {
			t.Errorf("cause %v, want ErrLeaseLost", context.Cause(l.Context()))
		}
	case <-time.After(5 * time.Second):
		t.Error("the lease's context was not cancelled after the task was taken")
	}
}

// TestLeaseRenewal: a working worker keeps its task past the lease's
// duration, and Release gives it back at once.
func TestLeaseRenewal(t *testing.T) { eachStore(t, testLeaseRenewal) }

func testLeaseRenewal(t *testing.T, k storeKind) {
	st := openTemp(t, k)
	ctx := context.Background()
	q := st.Queue("sweep")
	q.Lease = 300 * time.Millisecond
	if err := q.Add(ctx, tasks("a")...); err != nil {
		t.Fatal(err)
	}
	l := mustClaim(t, q)
	time.Sleep(time.Second) // three leases
	other := st.Queue("sweep")
	other.Poll = 10 * time.Millisecond
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if got, err := other.Claim(short); err == nil {
		t.Fatalf("a renewed lease was claimed by another worker: %s", got.Task)
	}
	if l.Context().Err() != nil {
		t.Fatalf("lease lost while renewing: %v", context.Cause(l.Context()))
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if got := mustClaim(t, other); got.Task != "a" || got.Attempt != 2 {
		t.Errorf("after Release: %s attempt %d", got.Task, got.Attempt)
	}
}

// TestQueueConcurrentWorkers: workers with their own connections drain a
// queue at once; every task is done exactly once and the final one last.
func TestQueueConcurrentWorkers(t *testing.T) { eachStore(t, testQueueConcurrentWorkers) }

func testQueueConcurrentWorkers(t *testing.T, k storeKind) {
	const workers, n = 6, 60
	dsn := tempDSN(t, k)
	ctx := context.Background()
	var all []Task
	for i := range n {
		all = append(all, Task{Name: fmt.Sprintf("cell-%02d", i)})
	}
	all = append(all, Task{Name: "report", Final: true})
	var mu sync.Mutex
	count := map[string]int{}
	var order []string
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := openDSN(t, dsn)
			q := st.Queue("sweep")
			q.Owner, q.Poll = fmt.Sprint("w", w), 5*time.Millisecond
			if err := q.Add(ctx, all...); err != nil {
				errs <- err
				return
			}
			for {
				l, err := q.Claim(ctx)
				if errors.Is(err, ErrQueueDone) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				r, err := st.StartRun(RunOptions{Experiment: "x", Name: l.Task, NoGit: true})
				if err != nil {
					errs <- err
					return
				}
				if err := l.Finish(r); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				count[l.Task]++
				order = append(order, l.Task)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(count) != n+1 {
		t.Errorf("%d tasks done, want %d", len(count), n+1)
	}
	for name, c := range count {
		if c != 1 {
			t.Errorf("task %s done %d times", name, c)
		}
	}
	if len(order) > 0 && order[len(order)-1] != "report" {
		t.Errorf("last task done: %s, want the report", order[len(order)-1])
	}
	st := openDSN(t, dsn)
	runs, err := st.Runs(Query{Experiment: "x", Filter: `status = "finished"`})
	if err != nil || len(runs) != n+1 {
		t.Errorf("%d finished runs (%v), want %d", len(runs), err, n+1)
	}
}

// TestLeaseDeadHolder: the task of a worker killed on this machine is
// claimed again at once, without waiting for its hour-long lease; one whose
// holder runs elsewhere waits for the lease.
func TestLeaseDeadHolder(t *testing.T) { eachStore(t, testLeaseDeadHolder) }

func testLeaseDeadHolder(t *testing.T, k storeKind) {
	dsn := tempDSN(t, k)
	st := openDSN(t, dsn)
	ctx := context.Background()
	q := st.Queue("sweep")
	q.Poll = 20 * time.Millisecond
	if err := q.Add(ctx, tasks("a", "b")...); err != nil {
		t.Fatal(err)
	}
	cmd := helperCmd(t, "claimer", dsn, 0, helperName+"=sweep")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "a" {
		cmd.Process.Kill()
		t.Fatalf("helper claimed %q, %v; want a", line, err)
	}
	// While the holder lives, a is not free.
	if l := mustClaim(t, q); l.Task != "b" {
		t.Fatalf("claimed %s while a is held, want b", l.Task)
	} else {
		defer l.Release()
	}
	cmd.Process.Kill()
	cmd.Wait()
	t0 := time.Now()
	l := mustClaim(t, q)
	if l.Task != "a" || l.Attempt != 2 {
		t.Fatalf("claimed %s attempt %d, want a attempt 2", l.Task, l.Attempt)
	}
	if el := time.Since(t0); el > 5*time.Second {
		t.Errorf("took %v to claim a dead worker's task", el)
	}
	// The same held by a process of another machine waits for its lease.
	if _, err := st.db.Exec(`UPDATE tasks SET host = 'elsewhere', lease_until = lease_until + 3600000000000 WHERE name = 'a'`); err != nil {
		t.Fatal(err)
	}
	l.stopRenewing()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if got, err := st.Queue("sweep").Claim(short); err == nil {
		t.Errorf("claimed %s held by a live lease of another machine", got.Task)
	}
}

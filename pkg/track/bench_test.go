package track

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// eachStoreB runs a benchmark once per store, as eachStore does tests.
func eachStoreB(b *testing.B, bench func(b *testing.B, k storeKind)) {
	for _, k := range []storeKind{dialectSQLite, dialectPostgres} {
		b.Run(k.String(), func(b *testing.B) { bench(b, k) })
	}
}

// BenchmarkLogMetric measures LogMetric from one goroutine, including the
// flushes it causes and the final flush in End. One op is 1000 points (a
// step logging 1000 values, or 1000 steps of one value), so that the rate is
// meaningful even with -benchtime 3x.
func BenchmarkLogMetric(b *testing.B) { eachStoreB(b, benchLogMetric) }

func benchLogMetric(b *testing.B, k storeKind) {
	const perOp = 1000
	st := openTemp(b, k)
	r := start(b, st, RunOptions{})
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		for j := range perOp {
			step := int64(i*perOp + j)
			r.LogMetric("train/loss", step, float64(step))
		}
	}
	if err := r.End(nil); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N*perOp)/time.Since(t0).Seconds(), "points/s")
}

// BenchmarkLogMetric8Proc starts 8 processes that each log 20000 points to
// their own run in one database, and reports the aggregate rate over the
// wall time from the first start to the last exit (process start included).
func BenchmarkLogMetric8Proc(b *testing.B) { eachStoreB(b, benchLogMetric8Proc) }

func benchLogMetric8Proc(b *testing.B, k storeKind) {
	const procs, points = 8, 20000
	db := tempDSN(b, k)
	st, err := Open(db)
	if err != nil {
		b.Fatal(err)
	}
	st.Close()
	b.ResetTimer()
	t0 := time.Now()
	for range b.N {
		var wg sync.WaitGroup
		errs := make([]error, procs)
		for p := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := helperCmd(b, "bench-writer", db, points).CombinedOutput()
				if err != nil {
					errs[p] = fmt.Errorf("%v: %s", err, out)
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*procs*points)/time.Since(t0).Seconds(), "points/s")
}

// fillRuns inserts n finished runs with three params and two metrics each,
// in bulk. Run i is named run-i, has eta i%10, steps 10+i%5, fid
// (i%10000)/100 and loss 1/(i+1).
func fillRuns(b testing.TB, st *Store, n int) {
	b.Helper()
	ctx := context.Background()
	err := st.write(ctx, func(tx *sqlTx) error {
		exp, err := ensureExperiment(ctx, tx, "bench", 0)
		if err != nil {
			return err
		}
		for i := range n {
			var seq int64
			now := time.Now().UnixNano() + int64(i)
			if err := tx.QueryRowContext(ctx, `INSERT INTO runs (id, experiment, name, status, start_time, end_time, heartbeat, stale_after, pid, pid_start, host, host_key, env)
				VALUES (?, ?, ?, 'finished', ?, ?, ?, 0, 0, 0, 'h', 'k', '{"go_version":"go1.26"}') RETURNING seq`,
				fmt.Sprintf("%016x", i), exp, fmt.Sprintf("run-%d", i), now, now, now).Scan(&seq); err != nil {
				return err
			}
			for k, v := range map[string]any{"eta": float64(i % 10), "steps": int64(10 + i%5), "sampler": "ddim"} {
				typ, norm, _ := normalizeParam(v)
				if _, err := tx.ExecContext(ctx, st.d.insertParam(), append([]any{seq, k, typ}, st.d.paramArgs(norm)...)...); err != nil {
					return err
				}
			}
			for k, v := range map[string]float64{"fid": float64(i%10000) / 100, "loss": 1 / float64(i+1)} {
				if _, err := tx.ExecContext(ctx, `INSERT INTO series (run, key, count, last_step, last_value, last_time, min, min_step, max, max_step)
					VALUES (?, ?, 1, 0, ?, ?, ?, 0, ?, 0)`, seq, k, v, now, v, v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRuns10k lists a database of 10000 runs: all of them, a filter
// that keeps 1000, and a filtered, ordered top 20.
func BenchmarkRuns10k(b *testing.B) { eachStoreB(b, benchRuns10k) }

func benchRuns10k(b *testing.B, k storeKind) {
	st := openTemp(b, k)
	fillRuns(b, st, 10000)
	for _, bb := range []struct {
		name string
		q    Query
		want int
	}{
		{"all", Query{}, 10000},
		{"filter", Query{Filter: "params.eta = 0 and metrics.fid < 50"}, 500},
		{"filter-order-limit20", Query{Filter: "params.eta = 0", OrderBy: "metrics.fid", Limit: 20}, 20},
	} {
		b.Run(bb.name, func(b *testing.B) {
			for range b.N {
				runs, err := st.Runs(bb.q)
				if err != nil {
					b.Fatal(err)
				}
				if len(runs) != bb.want {
					b.Fatalf("Runs(%+v) = %d runs, want %d", bb.q, len(runs), bb.want)
				}
			}
		})
	}
}

// BenchmarkMetric100k reads one metric of 100000 points.
func BenchmarkMetric100k(b *testing.B) { eachStoreB(b, benchMetric100k) }

func benchMetric100k(b *testing.B, k storeKind) {
	st := openTemp(b, k)
	r := start(b, st, RunOptions{})
	for i := range 100000 {
		r.LogMetric("loss", int64(i), float64(i))
	}
	if err := r.End(nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		pts, err := st.Metric(r.ID(), "loss")
		if err != nil {
			b.Fatal(err)
		}
		if len(pts) != 100000 {
			b.Fatalf("Metric = %d points, want 100000", len(pts))
		}
	}
	b.ReportMetric(float64(b.N)*100000/b.Elapsed().Seconds(), "points/s")
}

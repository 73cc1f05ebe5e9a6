package ui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/difflab/difflab/pkg/track"
)

// Benchmark stores are built once per process: filling them takes longer
// than what is measured.
var (
	benchOnce   sync.Once
	benchStore  *track.Store
	benchLong   []string // 20 runs of 100k points of "loss"
	benchErr    error
	benchRunsN  = 10000
	benchPoints = 100000
)

// benchFixture is a store with 10k sweep runs (experiment "sweep", params
// eta, steps, seed and 6 more, metrics swd and fid) and 20 runs with
// 100k-point curves (experiment "train").
func benchFixture(b *testing.B) (*track.Store, []string) {
	b.Helper()
	benchOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			benchErr = err
			return
		}
		// Kept in build/ (not committed) and reused: filling it takes
		// a few minutes. Delete the folder to rebuild it.
		path := filepath.Join(root, "build", "ui-bench", "bench.db")
		st, err := track.Open(path)
		if err != nil {
			benchErr = err
			return
		}
		if n, err := st.Count(track.Query{}); err == nil && n == benchRunsN+20 {
			runs, err := st.Runs(track.Query{Experiment: "train", OrderBy: "start_time"})
			if benchErr = err; err != nil {
				return
			}
			for _, r := range runs {
				benchLong = append(benchLong, r.ID)
			}
			benchStore = st
			return
		} else if n != 0 {
			benchErr = fmt.Errorf("%s holds %d runs, not the benchmark's %d: delete it", path, n, benchRunsN+20)
			return
		}
		for i := range benchRunsN {
			r, err := st.StartRun(track.RunOptions{Experiment: "sweep", Name: fmt.Sprintf("cell %d", i), NoGit: true,
				Params: track.Params{"eta": float64(i%5) / 4, "steps": 10 << (i % 4), "seed": i % 3, "schedule": []string{"linear", "cosine"}[i%2],
					"T": 1000, "model": "oracle", "eval_n": 2000, "sampler": "ddim", "spacing": "leading"}})
			if err != nil {
				benchErr = err
				return
			}
			r.LogMetrics(0, map[string]float64{"swd": float64(i%97) / 97, "fid": float64(i % 89)})
			if benchErr = r.End(nil); benchErr != nil {
				return
			}
		}
		for i := range 20 {
			r, err := st.StartRun(track.RunOptions{Experiment: "train", Name: fmt.Sprintf("train lr=%d seed=%d", i%4, i/4), NoGit: true,
				Params: track.Params{"lr": i % 4, "seed": i / 4}, FlushSize: 20000})
			if err != nil {
				benchErr = err
				return
			}
			for s := range benchPoints {
				r.LogMetric("loss", int64(s), 1/float64(s+1)+float64(i)/100)
			}
			if benchErr = r.End(nil); benchErr != nil {
				return
			}
			benchLong = append(benchLong, r.ID())
		}
		benchStore = st
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchStore, benchLong
}

// BenchmarkMetricAPI is the latency of GET /api/runs/{id}/metrics/loss with
// 1000 buckets, over a 100k-point metric, through the handler (no network).
func BenchmarkMetricAPI(b *testing.B) {
	st, long := benchFixture(b)
	h := newHandler(b, st, Options{})
	b.ResetTimer()
	timeRequests(b, h, "/api/runs/"+long[0]+"/metrics/loss?points=1000")
}

// timeRequests GETs path from h b.N times and reports the mean latency.
func timeRequests(b *testing.B, h *Handler, path string) {
	b.Helper()
	t0 := time.Now()
	for range b.N {
		if code, body, _ := get(b, h, path); code != 200 {
			b.Fatalf("GET %s: %d %s", path, code, body)
		}
	}
	b.ReportMetric(time.Since(t0).Seconds()*1000/float64(b.N), "ms/request")
}

// BenchmarkMetricsOfRunsAPI is GET /api/metrics/loss for 20 runs of 100k
// points on one grid of 1000 buckets: what the compare page asks per chart.
func BenchmarkMetricsOfRunsAPI(b *testing.B) {
	st, long := benchFixture(b)
	h := newHandler(b, st, Options{})
	b.ResetTimer()
	timeRequests(b, h, "/api/metrics/loss?points=1000&ids="+strings.Join(long, ","))
}

// BenchmarkRunsAPI10k is GET /api/runs for the first page (100 runs),
// ordered by a metric, of an experiment of 10k runs: the runs page's one
// request.
func BenchmarkRunsAPI10k(b *testing.B) {
	st, _ := benchFixture(b)
	h := newHandler(b, st, Options{})
	for _, c := range []struct{ name, path string }{
		{"newest", "/api/runs?experiment=sweep&limit=100"},
		{"order-metric", "/api/runs?experiment=sweep&limit=100&order=metrics.swd"},
		{"filter", "/api/runs?experiment=sweep&limit=100&filter=params.eta+%3D+0.5+and+metrics.fid+%3C+40"},
		{"pivot", "/api/pivot?experiment=sweep&row=params.eta&col=params.steps&value=metrics.swd"},
	} {
		b.Run(c.name, func(b *testing.B) { timeRequests(b, h, c.path) })
	}
}

// repoRoot is the folder of go.mod above the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// benchBrowser serves st and starts headless Chromium for a benchmark; it
// returns the browser's context and the server's address.
func benchBrowser(b *testing.B, st *track.Store) (context.Context, string) {
	b.Helper()
	exe := btFindChromium()
	if exe == "" {
		b.Skip("no chromium")
	}
	srv := httptest.NewServer(newHandler(b, st, Options{}))
	b.Cleanup(srv.Close)
	var out bytes.Buffer
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), btAllocatorOptions(exe, filepath.Join(b.TempDir(), "profile"), &out)...)
	b.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	b.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.Fatalf("starting chromium: %v\n%s", err, out.String())
	}
	return ctx, srv.URL
}

// timePage loads url b.N times and reports the mean time from the start of
// the navigation until the expression done is true (polled every 5 ms).
func timePage(b *testing.B, ctx context.Context, url, done string) {
	b.Helper()
	var total time.Duration
	for range b.N {
		if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
			b.Fatal(err)
		}
		for {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](done))
			if err == nil && ok {
				break
			}
			if time.Since(t0) > time.Minute {
				b.Fatalf("%s: %s still false after a minute", url, done)
			}
			time.Sleep(5 * time.Millisecond)
		}
		total += time.Since(t0)
	}
	b.ReportMetric(total.Seconds()*1000/float64(b.N), "ms/render")
}

// BenchmarkBrowserRunsPage10k is the time from navigating to the runs page
// of an experiment of 10k runs until its first page of 100 rows is in the
// table (Chromium headless, the server on loopback).
func BenchmarkBrowserRunsPage10k(b *testing.B) {
	st, _ := benchFixture(b)
	ctx, base := benchBrowser(b, st)
	b.ResetTimer()
	timePage(b, ctx, base+"/?experiment=sweep", `document.querySelectorAll('#runs tr[data-id]').length === 100`)
}

// BenchmarkBrowserCompare20x100k is the time from navigating to the compare
// page of 20 runs that each logged a 100k-point loss until its chart is drawn.
func BenchmarkBrowserCompare20x100k(b *testing.B) {
	st, long := benchFixture(b)
	ctx, base := benchBrowser(b, st)
	b.ResetTimer()
	timePage(b, ctx, base+"/compare?ids="+strings.Join(long, ","),
		`document.body.dataset.ready === 'true' && document.querySelectorAll('.chart[data-metric="loss"] canvas').length === 1 && document.querySelectorAll('.chart[data-metric="loss"] .legend .item').length === 20`)
}

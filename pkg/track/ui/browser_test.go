package ui

// TestBrowser drives the tracker UI in a headless Chromium (chromedp): the
// runs table, the filter and its errors, selecting runs and comparing them,
// a pivot whose means are known, a run page with images, and hostile names
// that must show as text and never run. It runs once per kind of store
// (SQLite, and PostgreSQL on the test server: see eachStore). Screenshots of
// the pages go to build/ui-screenshots/STORE/ at the repository root (not
// committed), STORE being sqlite or postgres.
//
// Without a Chromium on PATH (or at /usr/bin/chromium) the test is skipped,
// unless DIFFLAB_REQUIRE_BROWSER=1, when it fails.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/difflab/difflab/pkg/track"
)

// Hostile strings: run names, a param value, a tag value and a note. Each
// sets window.__xss if it ever runs as markup (the page's CSP should stop
// that too, and the test reports CSP violations).
const (
	xssName1 = `<img src=x onerror="window.__xss=1">`
	xssName2 = `<script>window.__xss=2</script>`
	xssParam = `<img src=x onerror="window.__xss=3">`
	xssTag   = `"><script>window.__xss=4</script><b>tag</b>`
	xssNote  = "<b>bold</b> <img src=x onerror=\"window.__xss=5\"> & <i>it</i>\nline 2"
	xssExp   = `xss <b>exp</b>`
)

// btFindChromium returns the Chromium to drive, or "".
func btFindChromium() string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if st, err := os.Stat("/usr/bin/chromium"); err == nil && !st.IsDir() {
		return "/usr/bin/chromium"
	}
	return ""
}

// btRepoRoot walks up from the package folder to the folder with go.mod.
func btRepoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod above the package folder")
		}
		dir = parent
	}
}

// btPNG is a w×h gradient PNG.
func btPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(255 * x / w), uint8(255 * y / h), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// btSweepRun is one run of the "sweep" experiment.
type btSweepRun struct {
	eta         float64
	steps, seed int
	swd         float64
	id          string
}

func (s btSweepRun) name() string {
	return fmt.Sprintf("eta=%g steps=%d seed=%d", s.eta, s.steps, s.seed)
}
func (s btSweepRun) row() string { return fmt.Sprintf("eta=%g", s.eta) }

// btData is what btFillStore logged, for the checks.
type btData struct {
	sweep            []btSweepRun
	trainIDs         [2]string // [0] has the spike and the artifacts
	trainNames       [2]string
	trainLabels      [2]string // the names shortened as the compare page does
	finalLoss        [2]string // final_loss as the bars show it
	xssIDs           [2]string
	allNames         []string
	filterColumn     int    // column of the error for btBadFilter, from pkg/track
	filterMsg        string // its message
	notesText        string
	imageW1, imageW2 int // widths of samples/step-100.png and step-200.png
}

const btBadFilter = "params.eta <"

func btFillStore(t *testing.T, st *track.Store) *btData {
	t.Helper()
	d := &btData{}
	start := func(o track.RunOptions) *track.Run {
		t.Helper()
		o.NoGit = true
		r, err := st.StartRun(o)
		if err != nil {
			t.Fatalf("StartRun(%q): %v", o.Name, err)
		}
		return r
	}
	end := func(r *track.Run) {
		t.Helper()
		if err := r.End(nil); err != nil {
			t.Fatalf("End: %v", err)
		}
	}

	// The sweep: swd values chosen so that each cell's mean is exact (see
	// wantMeans in the pivot check).
	swd := map[[3]int]float64{
		{0, 10, 1}: 0.5, {0, 10, 2}: 0.25,
		{0, 20, 1}: 0.125, {0, 20, 2}: 0.375,
		{1, 10, 1}: 0.25, {1, 10, 2}: 0.125,
		{1, 20, 1}: 0.1, {1, 20, 2}: 0.2,
	}
	for _, eta := range []int{0, 1} {
		for _, steps := range []int{10, 20} {
			for _, seed := range []int{1, 2} {
				s := btSweepRun{eta: float64(eta), steps: steps, seed: seed, swd: swd[[3]int{eta, steps, seed}]}
				r := start(track.RunOptions{Experiment: "sweep", Name: s.name(),
					Params: track.Params{"eta": s.eta, "steps": steps, "seed": seed},
					Tags:   map[string]string{"row": s.row()}})
				if err := r.LogMetric("swd", 0, s.swd); err != nil {
					t.Fatal(err)
				}
				end(r)
				s.id = r.ID()
				d.sweep = append(d.sweep, s)
				d.allNames = append(d.allNames, s.name())
			}
		}
	}

	// Two training runs with a long loss curve; the first has a spike, two
	// sample images (a slider) and a text file.
	d.trainNames = [2]string{"base lr=0.001", "base lr=0.01"}
	d.trainLabels = [2]string{"lr=0.001", "lr=0.01"}
	d.finalLoss = [2]string{"0.5", "0.25"}
	d.notesText = "notes of the first training run\n"
	d.imageW1, d.imageW2 = 16, 32
	for i, lr := range []float64{0.001, 0.01} {
		r := start(track.RunOptions{Experiment: "train", Name: d.trainNames[i],
			Params: track.Params{"lr": lr, "batch": 64, "optimizer": "adam"}})
		for step := int64(0); step < 3000; step++ {
			v := 2*math.Exp(-float64(step)/(800*float64(i+1))) + 0.1 + 0.02*math.Sin(float64(step)/37)
			if i == 0 && step == 1500 {
				v = 50 // the spike
			}
			if err := r.LogMetric("loss", step, v); err != nil {
				t.Fatal(err)
			}
		}
		fl, _ := strconv.ParseFloat(d.finalLoss[i], 64)
		if err := r.LogMetric("final_loss", 3000, fl); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			for name, data := range map[string][]byte{
				"samples/step-100.png": btPNG(t, d.imageW1, 16),
				"samples/step-200.png": btPNG(t, d.imageW2, 16),
				"notes.txt":            []byte(d.notesText),
			} {
				if err := r.LogArtifact(name, bytes.NewReader(data)); err != nil {
					t.Fatalf("LogArtifact(%q): %v", name, err)
				}
			}
		}
		end(r)
		d.trainIDs[i] = r.ID()
		d.allNames = append(d.allNames, d.trainNames[i])
	}

	// Hostile strings everywhere a user string goes.
	for i, name := range []string{xssName1, xssName2} {
		r := start(track.RunOptions{Experiment: xssExp, Name: name,
			Params: track.Params{"payload": xssParam}, Tags: map[string]string{"who": xssTag}, Note: xssNote})
		end(r)
		d.xssIDs[i] = r.ID()
		d.allNames = append(d.allNames, name)
	}

	// What the parser says about the bad filter, for the error check.
	_, err := st.Runs(track.Query{Filter: btBadFilter})
	var fe *track.FilterError
	if !errors.As(err, &fe) {
		t.Fatalf("Runs(filter %q): want a *track.FilterError, got %v", btBadFilter, err)
	}
	d.filterColumn, d.filterMsg = fe.Column, fe.Msg
	return d
}

// btOutput collects the browser's output.
type btOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *btOutput) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *btOutput) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// browser is a tab on the UI under test.
type btBrowser struct {
	ctx  context.Context
	base string
	shot string // screenshot folder

	mu         sync.Mutex
	exceptions []string
}

// btHealthJS reports CSP violations (recorded by the script injected into every
// document) and signs of injected markup; [] when all is well.
const btHealthJS = `(() => {
  const p = [];
  if (typeof window.__xss !== 'undefined') p.push('window.__xss is ' + String(window.__xss) + ': a hostile string ran as script');
  for (const e of document.querySelectorAll('img[src="x"]')) p.push('injected element ' + e.outerHTML);
  for (const s of document.querySelectorAll('script')) {
    const src = s.getAttribute('src') || '';
    if (!src.startsWith('/assets/')) p.push('injected script element ' + s.outerHTML);
  }
  for (const e of document.querySelectorAll('*')) for (const a of e.attributes) {
    if (/^on/i.test(a.name)) p.push('element <' + e.tagName.toLowerCase() + '> with inline handler ' + a.name + '=' + JSON.stringify(a.value));
  }
  for (const v of (window.__csp || [])) p.push('CSP violation: ' + v);
  if (!window.__csp) p.push('the CSP recorder is missing (the test script did not run in this document)');
  return p;
})()`

// btRecorderJS runs in every new document before the page's scripts.
const btRecorderJS = `window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + (e.sample ? ' (' + e.sample + ')' : '')));`

// eval evaluates js in the page and decodes its value; a failure is fatal.
func btEval[T any](t *testing.T, b *btBrowser, js string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// waitFor polls the boolean expression js until it is true.
func (b *btBrowser) waitFor(js string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	var last error
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("waited %v for %s; last error: %v", d, js, last)
			}
			return fmt.Errorf("waited %v for %s; it stayed false", d, js)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

const btReadyJS = `document.body && document.body.dataset.ready === 'true'`

// open loads path and waits for the page's first render.
func (b *btBrowser) open(t *testing.T, path string) {
	t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(b.base+path)); err != nil {
		t.Fatalf("navigating to %s: %v", path, err)
	}
	if err := b.waitFor(btReadyJS, 20*time.Second); err != nil {
		t.Fatalf("page %s never set body[data-ready=true]: %v", path, err)
	}
}

// health fails t for uncaught exceptions since the last call, CSP
// violations and injected markup in the current document.
func (b *btBrowser) health(t *testing.T, where string) {
	t.Helper()
	b.mu.Lock()
	exc := b.exceptions
	b.exceptions = nil
	b.mu.Unlock()
	for _, e := range exc {
		t.Errorf("%s: uncaught exception in the page: %s", where, e)
	}
	for _, p := range btEval[[]string](t, b, btHealthJS) {
		t.Errorf("%s: %s", where, p)
	}
}

// screenshot saves the whole page as build/ui-screenshots/STORE/NAME.png.
func (b *btBrowser) screenshot(t *testing.T, name string) {
	t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(b.shot, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	t.Logf("screenshot %s", p)
}

func btSorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// sameSet reports whether a and b hold the same strings, ignoring order.
func btSameSet(a, b []string) bool { return slices.Equal(btSorted(a), btSorted(b)) }

// btAllocatorOptions start headless Chromium at exe with a fresh profile in
// dir and its output to out, with the background traffic off (the machines
// that run the tests have no network).
func btAllocatorOptions(exe, dir string, out io.Writer) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1400, 1000),
		chromedp.CombinedOutput(out),
	}
}

func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser; skipped with -short")
	}
	exe := btFindChromium()
	if exe == "" {
		if os.Getenv("DIFFLAB_REQUIRE_BROWSER") == "1" {
			t.Fatal("DIFFLAB_REQUIRE_BROWSER=1 but no chromium or chromium-browser on PATH, nor /usr/bin/chromium")
		}
		t.Skip("no chromium or chromium-browser on PATH, nor /usr/bin/chromium: install Chromium to run the UI's browser test (DIFFLAB_REQUIRE_BROWSER=1 makes this a failure)")
	}
	eachStore(t, func(t *testing.T, s testStore) { testBrowser(t, s, exe) })
}

// testBrowser runs the browser checks with Chromium exe on a store of kind s.
func testBrowser(t *testing.T, s testStore, exe string) {
	began := time.Now()

	st, _ := s.open(t)
	data := btFillStore(t, st)

	h, err := New(st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	shots := filepath.Join(btRepoRoot(t), "build", "ui-screenshots", s.name)
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	// The whole browser session is bounded.
	overall, cancelOverall := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancelOverall()
	out := &btOutput{}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(overall, btAllocatorOptions(exe, filepath.Join(t.TempDir(), "chromium-profile"), out)...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	defer cancelCtx()

	b := &btBrowser{ctx: ctx, base: srv.URL, shot: shots}
	// Start the browser and install the CSP recorder in every document.
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: btRecorderJS})
		return err
	})); err != nil {
		t.Fatalf("starting %s: %v\nbrowser output:\n%s", exe, err, out.String())
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok && e.ExceptionDetails != nil {
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			b.mu.Lock()
			b.exceptions = append(b.exceptions, fmt.Sprintf("%s (%s:%d:%d)", msg, d.URL, d.LineNumber+1, d.ColumnNumber+1))
			b.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			o := out.String()
			if len(o) > 4000 {
				o = o[len(o)-4000:]
			}
			t.Logf("browser output (tail):\n%s", o)
		}
	})

	t.Run("runs", func(t *testing.T) { btCheckRuns(t, b, data) })
	t.Run("filter", func(t *testing.T) { btCheckFilter(t, b, data) })
	t.Run("compare", func(t *testing.T) { btCheckCompare(t, b, data) })
	t.Run("pivot", func(t *testing.T) { btCheckPivot(t, b, data) })
	t.Run("run", func(t *testing.T) { btCheckRunPage(t, b, data) })
	t.Run("hostile", func(t *testing.T) { btCheckHostile(t, b, data) })
	t.Run("live", func(t *testing.T) { btCheckLive(t, b, st) })
	t.Run("smoothing", func(t *testing.T) { btCheckSmoothing(t, b) })
	t.Logf("browser checks took %v", time.Since(began).Round(time.Millisecond))
}

// btNameCellsJS lists the text of the runs table's name cells.
const btNameCellsJS = `[...document.querySelectorAll('#runs tr[data-id] td.name')].map((td) => td.textContent)`

func btCheckRuns(t *testing.T, b *btBrowser, d *btData) {
	b.open(t, "/")
	names := btEval[[]string](t, b, btNameCellsJS)
	if !btSameSet(names, d.allNames) {
		t.Errorf("runs page: want the name cells of #runs to be %q (without any click), found %q", btSorted(d.allNames), btSorted(names))
	}
	if info := btEval[string](t, b, `document.getElementById('page-info')?.textContent ?? '(no #page-info)'`); info != fmt.Sprintf("1–%d of %d", len(d.allNames), len(d.allNames)) {
		t.Errorf("runs page: want #page-info %q, found %q", fmt.Sprintf("1–%d of %d", len(d.allNames), len(d.allNames)), info)
	}
	exps := btEval[[]string](t, b, `[...document.querySelectorAll('#experiments li a span:first-child')].map((s) => s.textContent)`)
	if want := []string{"All runs", "sweep", "train", xssExp}; !btSameSet(exps, want) {
		// The list loads without being awaited: give it a moment.
		if err := b.waitFor(`document.querySelectorAll('#experiments li').length >= 4`, 5*time.Second); err == nil {
			exps = btEval[[]string](t, b, `[...document.querySelectorAll('#experiments li a span:first-child')].map((s) => s.textContent)`)
		}
		if !btSameSet(exps, want) {
			t.Errorf("runs page: want the experiments list %q, found %q", want, exps)
		}
	}
	b.health(t, "runs page")
	b.screenshot(t, "runs")
}

func btCheckFilter(t *testing.T, b *btBrowser, d *btData) {
	b.open(t, "/")
	var want []string
	for _, s := range d.sweep {
		if s.eta == 0 {
			want = append(want, s.name())
		}
	}
	wantInfo := fmt.Sprintf("1–%d of %d", len(want), len(want))
	if err := chromedp.Do(b.ctx,
		chromedp.SendKeys(chromedp.CSS("#filter"), "params.eta = 0"),
		chromedp.Click(chromedp.CSS(`#filter-form button[type=submit]`)),
	); err != nil {
		t.Fatalf("typing the filter: %v", err)
	}
	cond := fmt.Sprintf(`document.querySelectorAll('#runs tr[data-id]').length === %d && document.getElementById('page-info')?.textContent === %q`, len(want), wantInfo)
	if err := b.waitFor(cond, 10*time.Second); err != nil {
		t.Errorf("filter %q: want %d rows and #page-info %q; found %d rows, #page-info %q, #filter-error %q (%v)", "params.eta = 0", len(want), wantInfo,
			btEval[int](t, b, `document.querySelectorAll('#runs tr[data-id]').length`),
			btEval[string](t, b, `document.getElementById('page-info')?.textContent ?? '(none)'`),
			btEval[string](t, b, `document.getElementById('filter-error').textContent`), err)
	}
	if names := btEval[[]string](t, b, btNameCellsJS); !btSameSet(names, want) {
		t.Errorf("filter params.eta = 0: want the runs %q, found %q", btSorted(want), btSorted(names))
	}
	if f := btEval[string](t, b, `new URLSearchParams(location.search).get('filter') ?? ''`); f != "params.eta = 0" {
		t.Errorf("filter params.eta = 0: want the address to keep ?filter=params.eta = 0, found filter=%q", f)
	}

	// A bad filter: the error names the column the parser names, with a caret
	// under it, and the table is emptied.
	// (chromedp.SetValue cannot set "": it reports the falsy result as a
	// failure; clear the input in the page.)
	btEval[bool](t, b, `(document.getElementById('filter').value = '') === ''`)
	if err := chromedp.Do(b.ctx,
		chromedp.SendKeys(chromedp.CSS("#filter"), btBadFilter),
		chromedp.Click(chromedp.CSS(`#filter-form button[type=submit]`)),
	); err != nil {
		t.Fatalf("typing the bad filter: %v", err)
	}
	if err := b.waitFor(`document.getElementById('filter-error').textContent !== ''`, 10*time.Second); err != nil {
		t.Fatalf("filter %q: want an error in #filter-error, found none (%v)", btBadFilter, err)
	}
	msg := btEval[string](t, b, `document.getElementById('filter-error').textContent`)
	wantCol := fmt.Sprintf("column %d", d.filterColumn)
	if !strings.Contains(msg, wantCol) || !strings.Contains(msg, d.filterMsg) {
		t.Errorf("filter %q: want #filter-error to mention %q and %q (pkg/track's error), found %q", btBadFilter, wantCol, d.filterMsg, msg)
	}
	if lines := strings.Split(msg, "\n"); len(lines) < 2 || lines[0] != "filter: "+btBadFilter {
		t.Errorf("filter %q: want #filter-error to start with the line %q and a caret line, found %q", btBadFilter, "filter: "+btBadFilter, msg)
	} else if caret := strings.IndexRune(lines[1], '^') - len("filter: "); caret != d.filterColumn-1 {
		t.Errorf("filter %q: want the caret under character %d of the filter (column %d), found it under character %d: %q", btBadFilter, d.filterColumn-1, d.filterColumn, caret, msg)
	}
	if !btEval[bool](t, b, `document.getElementById('filter').classList.contains('invalid')`) {
		t.Errorf("filter %q: want #filter to have class invalid, it has %q", btBadFilter, btEval[string](t, b, `document.getElementById('filter').className`))
	}
	if n := btEval[int](t, b, `document.querySelectorAll('#runs tr[data-id]').length`); n != 0 {
		t.Errorf("filter %q: want the table emptied, found %d rows", btBadFilter, n)
	}
	b.health(t, "runs page with filters")
	b.screenshot(t, "runs-filter-error")
}

func btCheckCompare(t *testing.T, b *btBrowser, d *btData) {
	b.open(t, "/")
	for _, id := range d.trainIDs {
		if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#runs input[type=checkbox][data-id=%q]`, id)))); err != nil {
			t.Fatalf("ticking run %s: %v", id, err)
		}
	}
	wantHref := "/compare?ids=" + url.QueryEscape(d.trainIDs[0]+","+d.trainIDs[1])
	href := btEval[string](t, b, `document.getElementById('compare').getAttribute('href')`)
	text := btEval[string](t, b, `document.getElementById('compare').textContent`)
	if href != wantHref || text != "Compare 2" {
		t.Errorf("after ticking two runs: want #compare %q linking to %q, found %q linking to %q", "Compare 2", wantHref, text, href)
	}
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS("#compare"))); err != nil {
		t.Fatalf("clicking #compare: %v", err)
	}
	if err := b.waitFor(`location.pathname === '/compare' && `+btReadyJS, 20*time.Second); err != nil {
		t.Fatalf("clicking #compare: want the compare page, ready; found %q: %v", btEval[string](t, b, `location.href`), err)
	}
	ids := btEval[string](t, b, `new URLSearchParams(location.search).get('ids')`)
	if ids != d.trainIDs[0]+","+d.trainIDs[1] {
		t.Errorf("compare page: want ids=%s,%s, found ids=%s", d.trainIDs[0], d.trainIDs[1], ids)
	}

	// Params: lr differs (highlighted), batch and optimizer are common.
	type row struct {
		Key    string   `json:"key"`
		Values []string `json:"values"`
	}
	diff := btEval[[]row](t, b, `[...document.querySelectorAll('#params tr.diff')].map((tr) => { const td = [...tr.querySelectorAll('td')].map((x) => x.textContent); return { key: td[0], values: td.slice(1) }; })`)
	if len(diff) != 1 || diff[0].Key != "lr" || !slices.Equal(diff[0].Values, []string{"0.001", "0.01"}) {
		t.Errorf("compare page: want one highlighted row #params tr.diff, lr with 0.001 and 0.01; found %+v", diff)
	}
	common := btEval[[]string](t, b, `[...document.querySelectorAll('#common-params tr td:first-child')].map((td) => td.textContent)`)
	if !btSameSet(common, []string{"batch", "optimizer"}) {
		t.Errorf("compare page: want the common params batch and optimizer, found %q", common)
	}
	heads := btEval[[]string](t, b, `[...document.querySelectorAll('#params thead th.run-col')].map((th) => th.textContent)`)
	if !slices.Equal(heads, d.trainLabels[:]) {
		t.Errorf("compare page: want the run columns %q, found %q", d.trainLabels, heads)
	}

	// The loss curve: a uPlot canvas with both runs drawn, and a legend.
	type chart struct {
		Canvas  bool     `json:"canvas"`
		Width   int      `json:"width"`
		Legend  []string `json:"legend"`
		Bars    []string `json:"bars"`
		Values  []string `json:"values"`
		Colours []int    `json:"colours"` // pixels near each run's colour
		Text    string   `json:"text"`
	}
	chartJS := func(key string) string {
		return fmt.Sprintf(`(() => {
  const c = document.querySelector('#charts .chart[data-metric=%q]');
  if (!c) return null;
  const cv = c.querySelector('canvas');
  const near = (hex) => {
    if (!cv) return 0;
    const n = parseInt(hex.slice(1), 16), r = n >> 16, g = (n >> 8) & 255, b = n & 255;
    const px = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
    let k = 0;
    for (let i = 0; i < px.length; i += 4) if (Math.abs(px[i] - r) + Math.abs(px[i + 1] - g) + Math.abs(px[i + 2] - b) < 40 && px[i + 3] > 200) k++;
    return k;
  };
  return {
    canvas: !!cv, width: cv ? cv.width : 0,
    legend: [...c.querySelectorAll('.legend .item')].map((e) => e.dataset.series),
    bars: [...c.querySelectorAll('.bar-row')].map((e) => e.dataset.series),
    values: [...c.querySelectorAll('.bar-row .bar-value')].map((e) => e.textContent),
    colours: ['#4e79a7', '#f28e2b'].map(near),
    text: c.textContent.slice(0, 200),
  };
})()`, key)
	}
	loss := btEval[*chart](t, b, chartJS("loss"))
	switch {
	case loss == nil:
		t.Errorf("compare page: want a chart .chart[data-metric=\"loss\"] in #charts, found none (charts: %q)",
			btEval[[]string](t, b, `[...document.querySelectorAll('#charts .chart')].map((c) => c.dataset.metric)`))
	default:
		if !loss.Canvas || loss.Width == 0 {
			t.Errorf("compare page: want a uPlot canvas in the loss chart, found canvas=%v width=%d (chart text %q)", loss.Canvas, loss.Width, loss.Text)
		}
		if !slices.Equal(loss.Legend, d.trainLabels[:]) {
			t.Errorf("compare page: want the loss legend to list %q, found %q", d.trainLabels, loss.Legend)
		}
		for i, n := range loss.Colours {
			if n < 20 {
				t.Errorf("compare page: want the loss curve of %s drawn in its colour, found %d pixels of it on the canvas", d.trainLabels[i], n)
			}
		}
		// The spike (50 at step 1500 of 0..2999, the rest below 2.2) must
		// survive the server's downsampling: the only thing drawn in the
		// upper half of the canvas is a narrow blue (first run) column near
		// the middle. Without it the y range would end near 2.2 and the
		// curves' start would fill the upper half across many columns.
		type spike struct {
			Blue, Other, MinX, MaxX, Width int
		}
		sp := btEval[spike](t, b, `(() => {
  const cv = document.querySelector('#charts .chart[data-metric="loss"] canvas');
  const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
  const s = { Blue: 0, Other: 0, MinX: cv.width, MaxX: -1, Width: cv.width };
  for (let y = 0; y < cv.height / 2; y++) for (let x = 0; x < cv.width; x++) {
    const i = 4 * (y * cv.width + x);
    if (d[i + 3] === 0 || Math.abs(d[i] - d[i + 2]) <= 20) continue; // empty, or grey (grid, axes)
    if (d[i + 2] > d[i]) { s.Blue++; s.MinX = Math.min(s.MinX, x); s.MaxX = Math.max(s.MaxX, x); } else s.Other++;
  }
  return s;
})()`)
		if sp.Blue < 20 || sp.Other > 0 || sp.MaxX-sp.MinX > 10 || float64(sp.MinX) < 0.35*float64(sp.Width) || float64(sp.MaxX) > 0.65*float64(sp.Width) {
			t.Errorf("compare page: want the loss spike of %s as a narrow blue column in the upper half of the chart near its middle; found %d blue pixels in columns %d..%d of %d and %d pixels of other colours",
				d.trainLabels[0], sp.Blue, sp.MinX, sp.MaxX, sp.Width, sp.Other)
		}
	}
	fl := btEval[*chart](t, b, chartJS("final_loss"))
	switch {
	case fl == nil:
		t.Errorf("compare page: want a chart for final_loss (logged once per run), found none")
	default:
		if fl.Canvas || !slices.Equal(fl.Bars, d.trainLabels[:]) || !slices.Equal(fl.Values, d.finalLoss[:]) {
			t.Errorf("compare page: want final_loss (logged once) as bars .bar-row[data-series] %q with values %q and no canvas; found bars %q, values %q, canvas %v",
				d.trainLabels, d.finalLoss, fl.Bars, fl.Values, fl.Canvas)
		}
	}
	b.health(t, "compare page")
	b.screenshot(t, "compare")
}

func btCheckPivot(t *testing.T, b *btBrowser, d *btData) {
	// The expected means, by hand from the values in btFillStore.
	wantMean := map[[2]string]float64{
		{"eta=0", "10"}: (0.5 + 0.25) / 2, {"eta=0", "20"}: (0.125 + 0.375) / 2,
		{"eta=1", "10"}: (0.25 + 0.125) / 2, {"eta=1", "20"}: (0.1 + 0.2) / 2,
	}
	// The best mean of each column: the lowest by default (swd is
	// minimized), the highest with goal max. (Both goals, so that a best
	// marked by row instead of column, or always in one row, is caught.)
	wantBest := map[string]map[string]string{
		"":    {"10": "eta=1", "20": "eta=1"},
		"max": {"10": "eta=0", "20": "eta=0"},
	}
	wantIDs := map[[2]string][]string{}
	for _, s := range d.sweep {
		k := [2]string{s.row(), strconv.Itoa(s.steps)}
		wantIDs[k] = append(wantIDs[k], s.id)
	}

	b.open(t, "/pivot?experiment=sweep&row=tags.row&col=params.steps&value=metrics.swd")
	sel := btEval[[]string](t, b, `['pivot-row', 'pivot-col', 'pivot-value'].map((id) => document.getElementById(id)?.value ?? '(none)')`)
	if want := []string{"tags.row", "params.steps", "metrics.swd"}; !slices.Equal(sel, want) {
		t.Errorf("pivot page: want the selects #pivot-row, #pivot-col, #pivot-value at %q, found %q", want, sel)
	}
	type cell struct {
		Row  string  `json:"row"`
		Col  string  `json:"col"`
		Mean *string `json:"mean"`
		N    *string `json:"n"`
		Best bool    `json:"best"`
		Href string  `json:"href"`
	}
	cellsJS := `(() => {
  const t = document.querySelector('#pivot table');
  if (!t) return [];
  const cols = [...t.querySelectorAll('thead th')].slice(1).map((th) => th.textContent);
  return [...t.querySelectorAll('tbody tr')].flatMap((tr) => {
    const row = tr.querySelector('th').textContent;
    return [...tr.querySelectorAll('td')].map((td, j) => ({ row, col: cols[j] ?? '', mean: td.dataset.mean ?? null, n: td.dataset.n ?? null,
      best: td.classList.contains('best'), href: td.querySelector('a')?.getAttribute('href') ?? '' }));
  });
})()`
	for _, goal := range []string{"", "max"} {
		what, better := "pivot page", "lowest"
		if goal != "" {
			what, better = "pivot page with goal max", "highest"
			// Pick "higher is better" in #pivot-goal; the table reloads.
			btEval[bool](t, b, `(() => { const s = document.getElementById('pivot-goal'); s.value = 'max'; s.dispatchEvent(new Event('change')); return true; })()`)
			if err := b.waitFor(`(document.querySelector('#pivot caption')?.textContent ?? '').includes('higher is better')`, 10*time.Second); err != nil {
				t.Errorf("%s: want the caption to say higher is better, found %q (%v)", what,
					btEval[string](t, b, `document.querySelector('#pivot caption')?.textContent ?? '(no caption)'`), err)
			}
			if g := btEval[string](t, b, `new URLSearchParams(location.search).get('goal') ?? ''`); g != "max" {
				t.Errorf("%s: want the address to keep goal=max, found goal=%q", what, g)
			}
		}
		cells := btEval[[]cell](t, b, cellsJS)
		if len(cells) != len(wantMean) {
			t.Errorf("%s: want %d cells (2 rows × 2 columns), found %d: %+v (#pivot text %q)", what, len(wantMean), len(cells), cells,
				btEval[string](t, b, `document.getElementById('pivot')?.textContent ?? '(no #pivot)'`))
		}
		seen := map[[2]string]bool{}
		for _, c := range cells {
			k := [2]string{c.Row, c.Col}
			want, ok := wantMean[k]
			if !ok || seen[k] {
				t.Errorf("%s: unexpected cell row %q col %q (want rows eta=0, eta=1 and columns 10, 20, once each)", what, c.Row, c.Col)
				continue
			}
			seen[k] = true
			if c.Mean == nil {
				t.Errorf("%s: cell %s/%s: want data-mean %v, found no data-mean", what, c.Row, c.Col, want)
			} else if got, err := strconv.ParseFloat(*c.Mean, 64); err != nil || math.Abs(got-want) > 1e-12*math.Abs(want) {
				t.Errorf("%s: cell %s/%s: want data-mean %v, found %q", what, c.Row, c.Col, want, *c.Mean)
			}
			if c.N == nil || *c.N != "2" {
				t.Errorf("%s: cell %s/%s: want data-n 2 (two seeds), found %v", what, c.Row, c.Col, btDeref(c.N))
			}
			bestRow := wantBest[goal][c.Col]
			if isBest := bestRow == c.Row; c.Best != isBest {
				t.Errorf("%s: cell %s/%s (mean %v): want class best %v (the %s mean of column %s is row %s's), found %v", what, c.Row, c.Col, want, isBest, better, c.Col, bestRow, c.Best)
			}
			u, err := url.Parse(c.Href)
			if err != nil || u.Path != "/compare" || !btSameSet(strings.Split(u.Query().Get("ids"), ","), wantIDs[k]) {
				t.Errorf("%s: cell %s/%s: want a link to /compare?ids= the cell's runs %q, found %q", what, c.Row, c.Col, wantIDs[k], c.Href)
			}
		}
		if caption := btEval[string](t, b, `document.querySelector('#pivot caption')?.textContent ?? ''`); !strings.Contains(caption, "8 runs") {
			t.Errorf("%s: want the caption to count the sweep's 8 runs, found %q", what, caption)
		}
		if goal == "" {
			b.screenshot(t, "pivot")
		}
	}
	b.health(t, "pivot page")
}

func btDeref(p *string) string {
	if p == nil {
		return "(none)"
	}
	return strconv.Quote(*p)
}

func btCheckRunPage(t *testing.T, b *btBrowser, d *btData) {
	id := d.trainIDs[0]
	b.open(t, "/run/"+url.PathEscape(id))
	if h1 := btEval[string](t, b, `document.querySelector('#run-head h1')?.textContent ?? '(no #run-head h1)'`); h1 != d.trainNames[0] {
		t.Errorf("run page: want the heading %q, found %q", d.trainNames[0], h1)
	}
	if err := chromedp.Do(b.ctx, chromedp.ScrollIntoView(chromedp.CSS(".artifact img"))); err != nil {
		t.Fatalf("run page: want an .artifact img in #artifacts, found none (%v); #artifacts: %q", err,
			btEval[string](t, b, `document.getElementById('artifacts')?.textContent ?? '(no #artifacts)'`))
	}
	type img struct {
		Src      string `json:"src"`
		Complete bool   `json:"complete"`
		Width    int    `json:"width"`
		Caption  string `json:"caption"`
	}
	imgJS := `(() => { const i = document.querySelector('.artifact img'); return { src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth,
  caption: i.closest('.artifact').querySelector('.caption')?.textContent ?? '' }; })()`
	if err := b.waitFor(`(() => { const i = document.querySelector('.artifact img'); return i.complete && i.naturalWidth > 0; })()`, 10*time.Second); err != nil {
		t.Errorf("run page: want the .artifact img loaded (naturalWidth > 0), found %+v (%v)", btEval[img](t, b, imgJS), err)
	}
	im := btEval[img](t, b, imgJS)
	if !strings.HasSuffix(im.Src, "/samples/step-200.png") || im.Width != d.imageW2 {
		t.Errorf("run page: want the last image samples/step-200.png (%d px wide) shown first, found %+v", d.imageW2, im)
	}
	type slider struct {
		Present bool   `json:"present"`
		Max     string `json:"max"`
		Value   string `json:"value"`
	}
	sl := btEval[slider](t, b, `(() => { const s = document.querySelector('.artifact input[type=range]'); return s ? { present: true, max: s.max, value: s.value } : { present: false, max: '', value: '' }; })()`)
	if !sl.Present || sl.Max != "1" || sl.Value != "1" {
		t.Errorf("run page: want a step slider input[type=range] in the .artifact panel at 1 of 0..1 (two images), found %+v", sl)
	} else {
		// Moving the slider shows the other image.
		btEval[bool](t, b, `(() => { const s = document.querySelector('.artifact input[type=range]'); s.value = '0'; s.dispatchEvent(new Event('input')); return true; })()`)
		cond := fmt.Sprintf(`(() => { const i = document.querySelector('.artifact img'); return i.getAttribute('src').endsWith('/samples/step-100.png') && i.complete && i.naturalWidth === %d; })()`, d.imageW1)
		if err := b.waitFor(cond, 10*time.Second); err != nil {
			t.Errorf("run page: after moving the slider to 0, want samples/step-100.png (%d px wide), found %+v", d.imageW1, btEval[img](t, b, imgJS))
		}
	}
	type file struct {
		Text string `json:"text"`
		Href string `json:"href"`
	}
	files := btEval[[]file](t, b, `[...document.querySelectorAll('#files a')].map((a) => ({ text: a.textContent, href: a.getAttribute('href') }))`)
	wantHref := "/api/artifacts/" + url.PathEscape(id) + "/notes.txt?download=1"
	if len(files) != 1 || files[0].Text != "notes.txt" || files[0].Href != wantHref {
		t.Errorf("run page: want #files to list notes.txt linking to %q (and no image), found %+v", wantHref, files)
	} else {
		body, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(`fetch(%q).then((r) => r.text())`, files[0].Href), chromedp.EvalAwaitPromise))
		if err != nil || body != d.notesText {
			t.Errorf("run page: want %s to serve %q, found %q (%v)", files[0].Href, d.notesText, body, err)
		}
	}
	// loss is a curve (a canvas); final_loss, logged once, is its value.
	if n := btEval[int](t, b, `document.querySelectorAll('#charts .chart[data-metric="loss"] canvas').length`); n != 1 {
		t.Errorf("run page: want a canvas for loss, found %d", n)
	}
	single := btEval[string](t, b, `(document.querySelector('#charts .chart[data-metric="final_loss"] .single-value') || {}).textContent || ''`)
	if want := d.finalLoss[0] + " at step 3000"; single != want {
		t.Errorf("run page: want final_loss (one point) shown as %q, found %q", want, single)
	}
	b.health(t, "run page")
	b.screenshot(t, "run")
}

func btCheckHostile(t *testing.T, b *btBrowser, d *btData) {
	b.open(t, "/")
	names := btEval[[]string](t, b, btNameCellsJS)
	for _, n := range []string{xssName1, xssName2} {
		if !slices.Contains(names, n) {
			t.Errorf("runs page: want the hostile name %q as the text of a name cell, found the names %q", n, names)
		}
	}
	cellTexts := btEval[[]string](t, b, `[...document.querySelectorAll('#runs td')].map((td) => td.textContent)`)
	for _, s := range []string{xssParam, xssExp} {
		if !slices.Contains(cellTexts, s) {
			t.Errorf("runs page: want the hostile string %q as the text of a cell, found cells %q", s, cellTexts)
		}
	}
	if typ := btEval[string](t, b, `typeof window.__xss`); typ != "undefined" {
		t.Errorf("runs page: want typeof window.__xss undefined, found %q", typ)
	}
	b.health(t, "runs page with hostile names")
	b.screenshot(t, "runs-hostile")

	// The health check must see markup injected the way a careless page
	// would (innerHTML): prove it on a copy of the name cell.
	probs := btEval[[]string](t, b, fmt.Sprintf(`(() => { const a = document.createElement('span'); a.innerHTML = %q + %q; document.getElementById('runs').append(a);
  const p = %s; a.remove(); return p; })()`, xssName1, xssName2, btHealthJS))
	if len(probs) < 2 {
		t.Errorf("self-check: markup injected with innerHTML should fail the health check (img[src=x], onerror, script), but it found only %q", probs)
	}

	for i, id := range d.xssIDs {
		name := []string{xssName1, xssName2}[i]
		b.open(t, "/run/"+url.PathEscape(id))
		where := fmt.Sprintf("run page of %q", name)
		if h1 := btEval[string](t, b, `document.querySelector('#run-head h1')?.textContent ?? '(no #run-head h1)'`); h1 != name {
			t.Errorf("%s: want the heading text %q, found %q", where, name, h1)
		}
		kv := btEval[map[string]string](t, b, `Object.fromEntries([...document.querySelectorAll('#run-info table.kv tr')].map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)).filter((c) => c.length === 2))`)
		if kv["payload"] != xssParam || kv["who"] != xssTag {
			t.Errorf("%s: want the param payload = %q and the tag who = %q as text, found %q and %q", where, xssParam, xssTag, kv["payload"], kv["who"])
		}
		if note := btEval[string](t, b, `document.getElementById('note')?.textContent ?? '(no #note)'`); note != xssNote {
			t.Errorf("%s: want the note as text %q, found %q", where, xssNote, note)
		}
		if exp := btEval[string](t, b, `[...document.querySelectorAll('#run-head a')].map((a) => a.textContent).join('|')`); exp != xssExp {
			t.Errorf("%s: want the experiment link text %q, found %q", where, xssExp, exp)
		}
		if typ := btEval[string](t, b, `typeof window.__xss`); typ != "undefined" {
			t.Errorf("%s: want typeof window.__xss undefined, found %q", where, typ)
		}
		b.health(t, where)
		if i == 0 {
			b.screenshot(t, "run-hostile")
		}
	}
}

// btCheckLive: the page of a running run follows it without a reload: new
// points change the chart's summary line, and the end changes the status.
func btCheckLive(t *testing.T, b *btBrowser, st *track.Store) {
	r, err := st.StartRun(track.RunOptions{Experiment: "live", Name: "live run", NoGit: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		r.LogMetric("loss", int64(i), 1)
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	b.open(t, "/run/"+r.ID())
	title := `(document.querySelector('.chart[data-metric="loss"] h3') || {}).textContent || ''`
	if got := btEval[string](t, b, title); !strings.Contains(got, "10 points") {
		t.Fatalf("live run page: want the loss chart titled with 10 points, found %q", got)
	}
	for i := 10; i < 500; i++ {
		r.LogMetric("loss", int64(i), 2)
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := b.waitFor("("+title+`).includes('500 points')`, 15*time.Second); err != nil {
		t.Errorf("live run page: new points never showed without a reload: %v (title %q)", err, btEval[string](t, b, title))
	}
	if err := r.End(nil); err != nil {
		t.Fatal(err)
	}
	if err := b.waitFor(`document.querySelector('#run-head .status').textContent === 'finished' && !document.querySelector('#run-head .live')`, 15*time.Second); err != nil {
		t.Errorf("live run page: the end of the run never showed: %v", err)
	}
	b.health(t, "live run page")
}

// btCheckSmoothing checks the page's debiased EMA (TensorBoard's smoothing)
// and group statistics against values worked out by hand.
func btCheckSmoothing(t *testing.T, b *btBrowser) {
	b.open(t, "/")
	// w = 0.5 on [1, 0, 0]: m = 0.5, 0.25, 0.125; debiased by 1 - 0.5^k:
	// 1, 1/3, 1/7. A gap (null) is passed through and skipped.
	got := btEval[[]any](t, b, `ema([1, 0, null, 0], 0.5)`)
	want := []any{1.0, 1.0 / 3, nil, 1.0 / 7}
	if len(got) != len(want) {
		t.Fatalf("ema = %v, want %v", got, want)
	}
	for i := range want {
		g, _ := got[i].(float64)
		if (want[i] == nil) != (got[i] == nil) || (want[i] != nil && math.Abs(g-want[i].(float64)) > 1e-15) {
			t.Errorf("ema = %v, want %v", got, want)
			break
		}
	}
	if got := btEval[[]float64](t, b, `ema([3, 5], 0)`); !slices.Equal(got, []float64{3, 5}) {
		t.Errorf("ema with weight 0 = %v, want the values unchanged", got)
	}
	// Two members at x = 0 with 1 and 3: mean 2, sample std sqrt(2); one at
	// x = 1 with 4: std 0.
	type agg struct {
		Xs, Ys, Lo, Hi []float64
	}
	a := btEval[agg](t, b, `(() => { const r = aggregate([{ xs: [0, 1], ys: [1, 4] }, { xs: [0], ys: [3] }], 'std'); return { Xs: r.xs, Ys: r.ys, Lo: r.lo, Hi: r.hi }; })()`)
	if !slices.Equal(a.Xs, []float64{0, 1}) || !slices.Equal(a.Ys, []float64{2, 4}) || math.Abs(a.Hi[0]-2-math.Sqrt2) > 1e-15 || math.Abs(a.Lo[0]-2+math.Sqrt2) > 1e-15 || a.Lo[1] != 4 || a.Hi[1] != 4 {
		t.Errorf("aggregate(std) = %+v, want x [0 1], mean [2 4], band 2 ± 1.414 and 4 ± 0", a)
	}
	m := btEval[agg](t, b, `(() => { const r = aggregate([{ xs: [0], ys: [1] }, { xs: [0], ys: [3] }], 'minmax'); return { Xs: r.xs, Ys: r.ys, Lo: r.lo, Hi: r.hi }; })()`)
	if !slices.Equal(m.Lo, []float64{1}) || !slices.Equal(m.Hi, []float64{3}) {
		t.Errorf("aggregate(minmax) = %+v, want band [1, 3]", m)
	}
}

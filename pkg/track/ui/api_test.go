package ui

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/difflab/difflab/pkg/track"
)

// fixture is a store with a small sweep, a long curve and artifacts.
type fixture struct {
	st  *track.Store
	dir string            // the temporary folder of the store's files
	ids map[string]string // by run name
}

// newFixture fills a new store of kind s.
func newFixture(t testing.TB, s testStore) *fixture {
	t.Helper()
	st, dir := s.open(t)
	f := &fixture{st: st, dir: dir, ids: map[string]string{}}
	// swd = 10·eta + steps/10 + seed/100: cell means are known exactly.
	for _, eta := range []float64{0, 1} {
		for _, steps := range []int{10, 20} {
			for _, seed := range []int{1, 2} {
				name := track.FormatValue(eta) + "/" + track.FormatValue(steps) + "/" + track.FormatValue(seed)
				r := f.start(t, track.RunOptions{Experiment: "sweep", Name: name,
					Params: track.Params{"eta": eta, "steps": steps, "seed": seed}})
				r.LogMetric("swd", 0, 10*eta+float64(steps)/10+float64(seed)/100)
				f.end(t, r, name)
			}
		}
	}
	r := f.start(t, track.RunOptions{Experiment: "train", Name: "long", Params: track.Params{"lr": 0.001}, Note: "a <b>note</b>"})
	for i := range 100000 {
		v := 1 / float64(i+1)
		if i == 77777 {
			v = 1000 // a spike that must survive downsampling
		}
		r.LogMetric("loss", int64(i), v)
	}
	r.LogArtifact("samples/step-100.png", bytes.NewReader(pngBytes))
	r.LogArtifact("notes.txt", strings.NewReader("plain text"))
	r.LogArtifact("page.html", strings.NewReader("<script>alert(1)</script>"))
	r.LogMetric("nan", 0, math.NaN())
	f.end(t, r, "long")
	return f
}

// pngBytes is a 1x1 PNG.
var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")

func (f *fixture) start(t testing.TB, o track.RunOptions) *track.Run {
	t.Helper()
	o.NoGit = true
	r, err := f.st.StartRun(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) end(t testing.TB, r *track.Run, name string) {
	t.Helper()
	if err := r.End(nil); err != nil {
		t.Fatal(err)
	}
	f.ids[name] = r.ID()
}

// get requests path from h and returns the status and body.
func get(t testing.TB, h http.Handler, path string, header ...string) (int, []byte, http.Header) {
	t.Helper()
	req := httptest.NewRequest("GET", "http://127.0.0.1:8321"+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, w.Body.Bytes(), w.Header()
}

func getJSON(t testing.TB, h http.Handler, path string, want int, v any) {
	t.Helper()
	code, body, hd := get(t, h, path)
	if code != want {
		t.Fatalf("GET %s: %d %s, want %d", path, code, body, want)
	}
	if ct := hd.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

func newHandler(t testing.TB, st *track.Store, o Options) *Handler {
	t.Helper()
	h, err := New(st, o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestAPIRuns(t *testing.T) { eachStore(t, testAPIRuns) }

func testAPIRuns(t *testing.T, s testStore) {
	f := newFixture(t, s)
	h := newHandler(t, f.st, Options{})
	var page struct {
		Runs []struct {
			ID, Name, Experiment, Status string
			Params                       map[string]any
			Tags                         map[string]string
			Metrics                      map[string]any
			Start                        string
			End                          *string
		}
		Total, Limit, Offset int
		Keys                 struct{ Params, Tags, Metrics []string }
	}
	getJSON(t, h, "/api/runs?experiment=sweep&filter=params.eta+%3D+1&order=metrics.swd&limit=3&offset=1", 200, &page)
	// eta = 1 runs by swd: 11.01, 11.02, 12.01, 12.02; from offset 1, three.
	var names []string
	for _, r := range page.Runs {
		names = append(names, r.Name)
	}
	if want := []string{"1/10/2", "1/20/1", "1/20/2"}; !slices.Equal(names, want) {
		t.Errorf("runs %v, want %v", names, want)
	}
	if page.Total != 4 || page.Limit != 3 || page.Offset != 1 {
		t.Errorf("total %d limit %d offset %d, want 4 3 1", page.Total, page.Limit, page.Offset)
	}
	r := page.Runs[0]
	if r.Experiment != "sweep" || r.Status != "finished" || r.Params["steps"] != 10.0 || r.Metrics["swd"] != 11.02 || r.Start == "" || r.End == nil || r.ID != f.ids["1/10/2"] {
		t.Errorf("run %+v", r)
	}
	if !slices.Equal(page.Keys.Params, []string{"eta", "seed", "steps"}) || !slices.Equal(page.Keys.Metrics, []string{"swd"}) {
		t.Errorf("keys %+v", page.Keys)
	}
	// A bad filter is 400 with the parser's message and column.
	var e struct {
		Error, What, Message string
		Column               int
	}
	getJSON(t, h, "/api/runs?filter=params.eta+%3C", 400, &e)
	if e.What != "filter" || e.Column != 13 || !strings.Contains(e.Error, "column 13") {
		t.Errorf("bad filter: %+v", e)
	}
	getJSON(t, h, "/api/runs?order=-", 400, &e)
	if e.What != "order-by" {
		t.Errorf("bad order: %+v", e)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "offset=-1"} {
		getJSON(t, h, "/api/runs?"+q, 400, &e)
		if name, _, _ := strings.Cut(q, "="); !strings.Contains(e.Error, name) {
			t.Errorf("%s: error %q does not name the parameter", q, e.Error)
		}
	}
	var exps struct {
		Experiments []struct {
			Name string
			Runs int
		}
	}
	getJSON(t, h, "/api/experiments", 200, &exps)
	if len(exps.Experiments) != 2 || exps.Experiments[0].Name != "sweep" || exps.Experiments[0].Runs != 8 || exps.Experiments[1].Runs != 1 {
		t.Errorf("experiments %+v", exps)
	}
}

func TestAPIRunAndMetric(t *testing.T) { eachStore(t, testAPIRunAndMetric) }

func testAPIRunAndMetric(t *testing.T, s testStore) {
	f := newFixture(t, s)
	h := newHandler(t, f.st, Options{})
	id := f.ids["long"]
	var run struct {
		Name, Note string
		Env        map[string]any
		Summaries  map[string]struct {
			Count int64
			Max   any
		}
		Artifacts []struct {
			Name, URL string
			Image     bool
			Size      int64
		}
	}
	getJSON(t, h, "/api/runs/"+id[:6], 200, &run) // a unique prefix works
	if run.Name != "long" || run.Note != "a <b>note</b>" || run.Env["go_version"] == nil || run.Summaries["loss"].Count != 100000 || run.Summaries["loss"].Max != 1000.0 || run.Summaries["nan"].Max != "NaN" {
		t.Errorf("run: %+v", run)
	}
	if len(run.Artifacts) != 3 || run.Artifacts[2].Name != "samples/step-100.png" || !run.Artifacts[2].Image || run.Artifacts[0].Image ||
		run.Artifacts[2].URL != "/api/artifacts/"+id+"/samples/step-100.png" {
		t.Errorf("artifacts: %+v", run.Artifacts)
	}
	var e struct{ Error string }
	getJSON(t, h, "/api/runs/ffffffffffff", 404, &e)

	// 100k points into at most 500 buckets; the spike survives.
	var m struct {
		Key    string
		Count  int
		Points []struct {
			Start, End, Step int64
			Min, Max, Last   any
			Count            int
		}
	}
	getJSON(t, h, "/api/runs/"+id+"/metrics/loss?points=500", 200, &m)
	if m.Key != "loss" || m.Count != 100000 || len(m.Points) != 500 {
		t.Fatalf("metric: key %q count %d, %d buckets; want loss, 100000, 500", m.Key, m.Count, len(m.Points))
	}
	maxSeen, total := 0.0, 0
	for i, p := range m.Points {
		if p.Start != int64(i)*200 || p.End != p.Start+199 || p.Count != 200 {
			t.Fatalf("bucket %d: %+v, want steps [%d, %d] with 200 points", i, p, i*200, i*200+199)
		}
		maxSeen = math.Max(maxSeen, p.Max.(float64))
		total += p.Count
	}
	if maxSeen != 1000 || total != 100000 {
		t.Errorf("max over buckets %v (want the spike, 1000), %d points (want 100000)", maxSeen, total)
	}
	getJSON(t, h, "/api/runs/"+id+"/metrics/loss?points=10&start=100&end=199", 200, &m)
	if len(m.Points) != 10 || m.Points[0].Start != 100 || m.Points[9].End != 199 {
		t.Errorf("range [100, 199] in 10 buckets: %+v", m.Points)
	}
	getJSON(t, h, "/api/runs/"+id+"/metrics/nan", 200, &m)
	if len(m.Points) != 1 || m.Points[0].Last != "NaN" {
		t.Errorf("NaN metric: %+v", m.Points)
	}
	for _, q := range []string{"points=0", "points=10001", "start=5", "start=5&end=4"} {
		getJSON(t, h, "/api/runs/"+id+"/metrics/loss?"+q, 400, &e)
	}
	getJSON(t, h, "/api/runs/nope/metrics/loss", 404, &e)

	// Several runs on one grid: the sweep's runs logged step 0 only.
	var mr struct {
		Runs []struct {
			ID     string
			Points []struct{ Last float64 }
		}
	}
	a, b := f.ids["0/10/1"], f.ids["1/20/2"]
	getJSON(t, h, "/api/metrics/swd?ids="+a+","+b, 200, &mr)
	if len(mr.Runs) != 2 || mr.Runs[0].ID != a || mr.Runs[1].Points[0].Last != 12.02 {
		t.Errorf("metrics of runs: %+v", mr)
	}
	getJSON(t, h, "/api/metrics/swd?ids=", 400, &e)
	getJSON(t, h, "/api/metrics/swd?ids="+strings.Repeat("x,", MaxIDs+1), 400, &e)
}

func TestAPIComparePivot(t *testing.T) { eachStore(t, testAPIComparePivot) }

func testAPIComparePivot(t *testing.T, s testStore) {
	f := newFixture(t, s)
	h := newHandler(t, f.st, Options{Goals: map[string]track.Goal{"swd": track.Maximize}})
	var c struct {
		Runs            []struct{ ID string }
		DifferingParams []struct{ Key string } `json:"differing_params"`
		Metrics         []struct {
			Key, Goal string
			BestRun   string `json:"best_run"`
		}
	}
	a, b := f.ids["0/10/1"], f.ids["1/20/2"]
	getJSON(t, h, "/api/compare?ids="+a+","+b, 200, &c)
	if len(c.Runs) != 2 || len(c.DifferingParams) != 3 || c.Metrics[0].Goal != "max" || c.Metrics[0].BestRun != b {
		t.Errorf("compare: %+v", c)
	}
	var p struct {
		Rows, Cols []string
		Cells      [][]struct {
			Mean any
			N    int
			IDs  []string
			Text string
		}
		Best []int
		Goal string
		Runs int
	}
	getJSON(t, h, "/api/pivot?experiment=sweep&row=params.eta&col=params.steps&value=metrics.swd", 200, &p)
	// Cell (eta, steps) averages seeds 1 and 2: 10·eta + steps/10 + 0.015.
	if !slices.Equal(p.Rows, []string{"0", "1"}) || !slices.Equal(p.Cols, []string{"10", "20"}) || p.Runs != 8 || p.Goal != "max" {
		t.Fatalf("pivot: %+v", p)
	}
	for i, eta := range []float64{0, 1} {
		for j, steps := range []float64{10, 20} {
			want := 10*eta + steps/10 + 0.015
			if c := p.Cells[i][j]; math.Abs(c.Mean.(float64)-want) > 1e-12 || c.N != 2 || len(c.IDs) != 2 {
				t.Errorf("cell (%v, %v) = %+v, want mean %v of 2 runs", eta, steps, c, want)
			}
		}
	}
	if !slices.Equal(p.Best, []int{1, 1}) { // goal max: eta = 1
		t.Errorf("best %v, want [1 1]", p.Best)
	}
	getJSON(t, h, "/api/pivot?experiment=sweep&row=params.eta&col=params.steps&value=metrics.swd&goal=min", 200, &p)
	if !slices.Equal(p.Best, []int{0, 0}) {
		t.Errorf("goal=min: best %v, want [0 0]", p.Best)
	}
	getJSON(t, h, "/api/pivot?ids="+a+","+b+"&row=params.eta&col=params.steps&value=metrics.swd", 200, &p)
	if p.Runs != 2 || p.Cells[0][0].N != 1 || p.Cells[0][1].N != 0 {
		t.Errorf("pivot of ids: %+v", p)
	}
	var e struct{ Error string }
	for _, q := range []string{"row=params.eta&col=params.steps", "row=bogus&col=params.steps&value=metrics.swd",
		"row=params.eta&col=params.steps&value=metrics.swd&goal=best", "row=params.eta&col=params.steps&value=metrics.swd&filter=x+%3D"} {
		getJSON(t, h, "/api/pivot?"+q, 400, &e)
	}
	getJSON(t, h, "/api/compare?ids=nope", 404, &e)
	getJSON(t, h, "/api/nothing", 404, &e)
}

func TestArtifacts(t *testing.T) { eachStore(t, testArtifacts) }

func testArtifacts(t *testing.T, s testStore) {
	f := newFixture(t, s)
	h := newHandler(t, f.st, Options{})
	id := f.ids["long"]
	code, body, hd := get(t, h, "/api/artifacts/"+id+"/samples/step-100.png")
	if code != 200 || !bytes.Equal(body, pngBytes) || hd.Get("Content-Type") != "image/png" || !strings.HasPrefix(hd.Get("Content-Disposition"), "inline") {
		t.Errorf("png: %d, %d bytes, %q, %q", code, len(body), hd.Get("Content-Type"), hd.Get("Content-Disposition"))
	}
	if sum := sha256.Sum256(pngBytes); !strings.Contains(hd.Get("ETag"), string(hexString(sum[:]))) {
		t.Errorf("ETag %q is not the content's sha256", hd.Get("ETag"))
	}
	// HTML (which could run script in the UI's origin) is a download, in
	// a sandbox.
	code, _, hd = get(t, h, "/api/artifacts/"+id+"/page.html")
	if code != 200 || hd.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(hd.Get("Content-Disposition"), "attachment") || !strings.Contains(hd.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("html artifact: %d %q %q %q", code, hd.Get("Content-Type"), hd.Get("Content-Disposition"), hd.Get("Content-Security-Policy"))
	}
	code, body, hd = get(t, h, "/api/artifacts/"+id+"/notes.txt")
	if code != 200 || string(body) != "plain text" || !strings.HasPrefix(hd.Get("Content-Type"), "text/plain") {
		t.Errorf("text artifact: %d %q %q", code, body, hd.Get("Content-Type"))
	}
	// Names that try to leave the store, plain or encoded, never reach a
	// file: the secret in the store's folder, beside the database and the
	// artifact root, stays unread.
	secret := filepath.Join(f.dir, "secret.txt")
	os.WriteFile(secret, []byte("SECRET"), 0o600)
	for _, p := range []string{
		"/api/artifacts/" + id + "/../secret.txt",
		"/api/artifacts/" + id + "/%2e%2e/secret.txt",
		"/api/artifacts/" + id + "/%2e%2e%2fsecret.txt",
		"/api/artifacts/" + id + "/samples/%2e%2e/%2e%2e/secret.txt",
		"/api/artifacts/" + id + "/%2Fetc%2Fpasswd",
		"/api/artifacts/" + id + "//etc/passwd",
		"/api/artifacts/" + id + "/..%5csecret.txt",
		"/api/artifacts/" + id + "/" + url0(secret),
		"/api/artifacts/" + id + "/nope.png",
		"/api/artifacts/nope/notes.txt",
	} {
		code, body, _ := get(t, h, p)
		if code == 200 || bytes.Contains(body, []byte("SECRET")) || bytes.Contains(body, []byte("root:")) {
			t.Errorf("GET %s: %d %q, want an error and no file", p, code, body)
		}
	}
	for _, name := range []string{"", "/abs", "a/../b", "./a", "a//b", "a\\b", "a\x00b", ".."} {
		if validArtifactName(name) == nil {
			t.Errorf("validArtifactName(%q) = nil, want an error", name)
		}
	}
	for _, name := range []string{"a", "samples/step-1.png", "a..b", ".hidden"} {
		if err := validArtifactName(name); err != nil {
			t.Errorf("validArtifactName(%q) = %v", name, err)
		}
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// url0 escapes an absolute path as one segment.
func url0(p string) string { return strings.ReplaceAll(p, "/", "%2F") }

func TestToken(t *testing.T) { eachStore(t, testToken) }

func testToken(t *testing.T, s testStore) {
	f := newFixture(t, s)
	h := newHandler(t, f.st, Options{Token: "s3cret"})
	for _, c := range []struct {
		header []string
		want   int
	}{
		{nil, 401},
		{[]string{"Authorization", "Bearer wrong"}, 401},
		{[]string{"Authorization", "Bearer s3cret"}, 200},
		{[]string{"Authorization", "s3cret"}, 401},
		{[]string{"Cookie", TokenCookie + "=s3cret"}, 200},
		{[]string{"Cookie", TokenCookie + "=s3cre"}, 401},
	} {
		for _, p := range []string{"/api/runs", "/", "/assets/app.js", "/api/artifacts/" + f.ids["long"] + "/notes.txt"} {
			if code, body, _ := get(t, h, p, c.header...); code != c.want {
				t.Errorf("GET %s with %q: %d %s, want %d", p, c.header, code, body, c.want)
			}
		}
	}
	// A ?token= link sets the cookie and redirects to the address without it.
	code, _, hd := get(t, h, "/compare?ids=a&token=s3cret")
	if code != http.StatusSeeOther || hd.Get("Location") != "/compare?ids=a" || !strings.Contains(hd.Get("Set-Cookie"), TokenCookie+"=s3cret") || !strings.Contains(hd.Get("Set-Cookie"), "HttpOnly") {
		t.Errorf("?token=: %d, Location %q, Set-Cookie %q", code, hd.Get("Location"), hd.Get("Set-Cookie"))
	}
	if code, _, hd := get(t, h, "/?token=wrong"); code != 401 || hd.Get("Set-Cookie") != "" {
		t.Errorf("?token=wrong: %d, Set-Cookie %q", code, hd.Get("Set-Cookie"))
	}

	// Listening beyond loopback needs a token.
	for _, c := range []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:0", "", true}, {"localhost:0", "", true}, {"[::1]:0", "", true},
		{"0.0.0.0:0", "", false}, {":0", "", false}, {"10.1.2.3:80", "", false}, {"0.0.0.0:0", "t", true},
		{"127.0.0.1", "", false},
	} {
		if err := CheckAddr(c.addr, c.token); (err == nil) != c.ok {
			t.Errorf("CheckAddr(%q, %q) = %v, want ok %v", c.addr, c.token, err, c.ok)
		}
	}
	if _, err := Listen("0.0.0.0:0", ""); err == nil || !strings.Contains(err.Error(), "--token") {
		t.Errorf("Listen(0.0.0.0:0) without a token: %v, want a refusal naming --token", err)
	}
	// Without a token, only loopback host names are served (DNS rebinding).
	open := newHandler(t, f.st, Options{})
	req := httptest.NewRequest("GET", "http://evil.example:8321/api/runs", nil)
	w := httptest.NewRecorder()
	open.ServeHTTP(w, req)
	if w.Code != http.StatusForbidden {
		t.Errorf("Host evil.example: %d, want 403", w.Code)
	}
}

// TestReadOnly: no request changes the database, and only GET is served.
func TestReadOnly(t *testing.T) { eachStore(t, testReadOnly) }

func testReadOnly(t *testing.T, s testStore) {
	f := newFixture(t, s)
	st := f.st
	h := newHandler(t, st, Options{})
	before := dbState(t, st)
	// The summary does see the fixture: 9 runs, the long curve and the 3
	// artifact files.
	if n := strings.Count(before, "\nrun "); n != 9 || !strings.Contains(before, "metric loss: 100000 points") || strings.Count(before, "\nfile ") != 3 {
		t.Fatalf("dbState misses the fixture (%d runs):\n%s", n, before)
	}
	id := f.ids["long"]
	for _, p := range []string{"/", "/api/runs", "/api/runs/" + id, "/api/runs/" + id + "/metrics/loss", "/api/compare?ids=" + id,
		"/api/pivot?row=params.eta&col=params.steps&value=metrics.swd", "/api/artifacts/" + id + "/notes.txt", "/api/experiments"} {
		if code, body, _ := get(t, h, p); code != 200 {
			t.Errorf("GET %s: %d %s", p, code, body)
		}
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		req := httptest.NewRequest(m, "http://127.0.0.1:8321/api/runs/"+id, strings.NewReader("{}"))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d, want 405", m, w.Code)
		}
	}
	if after := dbState(t, st); after != before {
		b, a := strings.Split(before, "\n"), strings.Split(after, "\n")
		t.Errorf("the store changed:\ngone: %q\nnew:  %q", slices.DeleteFunc(slices.Clone(b), func(l string) bool { return slices.Contains(a, l) }),
			slices.DeleteFunc(slices.Clone(a), func(l string) bool { return slices.Contains(b, l) }))
	}
}

// dbState summarises the store as the track API sees it, the same way on
// every kind of store: the experiments, every run (with its times to the
// nanosecond and its heartbeat, which the JSON form leaves out), each of its
// metrics point by point, its artifact records, and the artifact files, as
// one string.
func dbState(t *testing.T, st *track.Store) string {
	t.Helper()
	var b strings.Builder
	exps, err := st.Experiments()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "experiments %q\n", exps)
	runs, err := st.Runs(track.Query{})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(runs, func(a, b track.RunInfo) int { return strings.Compare(a.ID, b.ID) })
	for _, r := range runs {
		j, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "run %s start %d end %d heartbeat %d\n", j, r.StartTime.UnixNano(), r.EndTime.UnixNano(), r.Heartbeat.UnixNano())
		for _, key := range slices.Sorted(maps.Keys(r.Summaries)) {
			pts, err := st.Metric(r.ID, key)
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			for _, p := range pts {
				fmt.Fprintf(h, "%d %x %d\n", p.Step, math.Float64bits(p.Value), p.Time.UnixNano())
			}
			fmt.Fprintf(&b, "  metric %s: %d points, sha256 %x\n", key, len(pts), h.Sum(nil))
		}
		arts, err := st.Artifacts(r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range arts {
			fmt.Fprintf(&b, "  artifact %q %s %d %d %s\n", a.Name, a.SHA256, a.Size, a.Time.UnixNano(), a.Path)
		}
	}
	if st.ArtifactDir() == "" {
		t.Fatal("the store has no artifact root")
	}
	err = filepath.WalkDir(st.ArtifactDir(), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			fmt.Fprintf(&b, "file %s %s\n", p, hexString(sum[:]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPagesAndHeaders(t *testing.T) { eachStore(t, testPagesAndHeaders) }

func testPagesAndHeaders(t *testing.T, s testStore) {
	f := newFixture(t, s)
	h := newHandler(t, f.st, Options{})
	for _, p := range []string{"/", "/compare?ids=x", "/pivot", "/run/abc"} {
		code, body, hd := get(t, h, p)
		if code != 200 || !bytes.Contains(body, []byte(`<script src="/assets/app.js"`)) {
			t.Errorf("GET %s: %d", p, code)
		}
		csp := hd.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || hd.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: CSP %q", p, csp)
		}
	}
	// The page carries no user data: it fetches it as JSON and writes it
	// as text. Assets are served; the page is not served as an asset.
	for p, want := range map[string]int{"/assets/app.js": 200, "/assets/vendor/uplot/uPlot.iife.min.js": 200, "/assets/vendor/uplot/LICENSE": 200, "/assets/nope.js": 404, "/nope": 404} {
		if code, _, _ := get(t, h, p); code != want {
			t.Errorf("GET %s: %d, want %d", p, code, want)
		}
	}
	code, body, _ := get(t, h, "/assets/app.js")
	if code != 200 || bytes.Contains(body, []byte("innerHTML")) || bytes.Contains(body, []byte("insertAdjacentHTML")) || bytes.Contains(body, []byte("document.write")) {
		t.Errorf("app.js must build the page with DOM calls and text only")
	}
}

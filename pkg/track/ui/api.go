package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/difflab/difflab/pkg/track"
)

// Bounds on what one request may ask for, so that every response stays
// small whatever the database holds.
const (
	// DefaultPageSize and MaxPageSize bound /api/runs?limit=.
	DefaultPageSize = 100
	MaxPageSize     = 1000
	// DefaultPoints and MaxPoints bound ?points= of the metric endpoints.
	DefaultPoints = 1000
	MaxPoints     = 10000
	// MaxIDs bounds ?ids= of /api/compare, /api/metrics and /api/pivot.
	MaxIDs = 200
	// MaxPivotRuns bounds the runs one pivot reads.
	MaxPivotRuns = 20000
)

// httpError is an error with the HTTP status it is answered with.
type httpError struct {
	status int
	err    error
	extra  map[string]any
}

func (e *httpError) Error() string { return e.err.Error() }

func badRequest(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, err: fmt.Errorf(format, args...)}
}

// statusOf maps an error of pkg/track to its HTTP answer.
func statusOf(err error) *httpError {
	var he *httpError
	if errors.As(err, &he) {
		return he
	}
	var fe *track.FilterError
	if errors.As(err, &fe) {
		return &httpError{status: http.StatusBadRequest, err: err,
			extra: map[string]any{"what": fe.What, "column": fe.Column, "message": fe.Msg}}
	}
	if errors.Is(err, track.ErrNotFound) {
		return &httpError{status: http.StatusNotFound, err: err}
	}
	return &httpError{status: http.StatusInternalServerError, err: err}
}

func writeError(w http.ResponseWriter, status int, err error) {
	he := statusOf(err)
	body := map[string]any{"error": err.Error()}
	for k, v := range he.extra {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

// api adapts an endpoint that returns a value to encode as JSON, bounding its
// time with the request timeout.
func (h *Handler) api(f func(r *http.Request) (any, error)) http.HandlerFunc {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := f(r)
		if err != nil {
			he := statusOf(err)
			writeError(w, he.status, err)
			return
		}
		var buf bytes.Buffer
		if err := json.NewEncoder(&buf).Encode(v); err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(buf.Bytes())
	})
	th := http.TimeoutHandler(inner, h.opts.RequestTimeout, `{"error": "the request took too long"}`)
	return th.ServeHTTP
}

// runJSON is a run as the API lists it.
type runJSON struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Experiment string            `json:"experiment"`
	Status     track.Status      `json:"status"`
	Params     map[string]any    `json:"params"`
	Tags       map[string]string `json:"tags"`
	// Metrics are the last values.
	Metrics map[string]any `json:"metrics"`
	Start   time.Time      `json:"start"`
	// End is null while the run is running.
	End       *time.Time `json:"end"`
	DurationS float64    `json:"duration_s"`
	Error     string     `json:"error,omitempty"`
}

// runDetailJSON is one run with everything the run page shows.
type runDetailJSON struct {
	runJSON
	Heartbeat time.Time                      `json:"heartbeat"`
	Note      string                         `json:"note"`
	Env       track.Env                      `json:"env"`
	Summaries map[string]track.MetricSummary `json:"summaries"`
	Artifacts []artifactJSON                 `json:"artifacts"`
}

type artifactJSON struct {
	Name   string    `json:"name"`
	Size   int64     `json:"size"`
	SHA256 string    `json:"sha256"`
	Time   time.Time `json:"time"`
	URL    string    `json:"url"`
	// Image is true for the formats the page shows inline.
	Image bool `json:"image"`
}

func toRunJSON(ri track.RunInfo) runJSON {
	j := runJSON{ID: ri.ID, Name: ri.Name, Experiment: ri.Experiment, Status: ri.Status,
		Params: map[string]any{}, Tags: ri.Tags, Metrics: map[string]any{},
		Start: ri.StartTime.UTC(), DurationS: ri.Duration().Seconds(), Error: ri.Error}
	if j.Tags == nil {
		j.Tags = map[string]string{}
	}
	for k, v := range ri.Params {
		if f, ok := v.(float64); ok {
			j.Params[k] = track.JSONNumber(f)
		} else {
			j.Params[k] = v
		}
	}
	for k, v := range ri.Metrics {
		j.Metrics[k] = track.JSONNumber(v)
	}
	if !ri.EndTime.IsZero() {
		e := ri.EndTime.UTC()
		j.End = &e
	}
	return j
}

// intParam reads an integer query parameter in [lo, hi], def when absent.
func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, badRequest("%s=%q: want an integer from %d to %d", name, s, lo, hi)
	}
	return v, nil
}

// idsParam reads ?ids=a,b,c: 1 to MaxIDs run ids.
func idsParam(r *http.Request) ([]string, error) {
	var ids []string
	for _, id := range strings.Split(r.URL.Query().Get("ids"), ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 || len(ids) > MaxIDs {
		return nil, badRequest("ids: want 1 to %d comma-separated run ids, got %d", MaxIDs, len(ids))
	}
	return ids, nil
}

// GET /api/experiments -> {"experiments": [{"name", "runs"}]}
func (h *Handler) experiments(r *http.Request) (any, error) {
	names, err := h.store.Experiments()
	if err != nil {
		return nil, err
	}
	type exp struct {
		Name string `json:"name"`
		Runs int    `json:"runs"`
	}
	out := []exp{}
	for _, n := range names {
		c, err := h.store.Count(track.Query{Experiment: n})
		if err != nil {
			return nil, err
		}
		out = append(out, exp{n, c})
	}
	return map[string]any{"experiments": out}, nil
}

// GET /api/runs?experiment=E&filter=F&order=K&limit=N&offset=M
func (h *Handler) runs(r *http.Request) (any, error) {
	q := r.URL.Query()
	limit, err := intParam(r, "limit", DefaultPageSize, 1, MaxPageSize)
	if err != nil {
		return nil, err
	}
	offset, err := intParam(r, "offset", 0, 0, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	query := track.Query{Experiment: q.Get("experiment"), Filter: q.Get("filter"), OrderBy: q.Get("order"), Limit: limit, Offset: offset}
	runs, err := h.store.Runs(query)
	if err != nil {
		return nil, err
	}
	total, err := h.store.Count(query)
	if err != nil {
		return nil, err
	}
	keys, err := h.store.Keys(query)
	if err != nil {
		return nil, err
	}
	out := make([]runJSON, len(runs))
	for i, ri := range runs {
		out[i] = toRunJSON(ri)
	}
	return map[string]any{"runs": out, "total": total, "limit": limit, "offset": offset,
		"keys": map[string]any{"params": keys.Params, "tags": keys.Tags, "metrics": keys.Metrics}}, nil
}

// GET /api/runs/{id}
func (h *Handler) run(r *http.Request) (any, error) {
	ri, err := h.store.Run(r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	arts, err := h.store.Artifacts(ri.ID)
	if err != nil {
		return nil, err
	}
	d := runDetailJSON{runJSON: toRunJSON(ri), Heartbeat: ri.Heartbeat.UTC(), Note: ri.Note, Env: ri.Env,
		Summaries: ri.Summaries, Artifacts: []artifactJSON{}}
	if d.Summaries == nil {
		d.Summaries = map[string]track.MetricSummary{}
	}
	for _, a := range arts {
		_, inline := imageTypes[strings.ToLower(path.Ext(a.Name))]
		d.Artifacts = append(d.Artifacts, artifactJSON{Name: a.Name, Size: a.Size, SHA256: a.SHA256, Time: a.Time.UTC(),
			URL: artifactURL(ri.ID, a.Name), Image: inline})
	}
	return d, nil
}

// artifactURL is the API path of an artifact, each name segment escaped.
func artifactURL(id, name string) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "/api/artifacts/" + url.PathEscape(id) + "/" + strings.Join(segs, "/")
}

// pointsParams reads ?points=N&start=S&end=E; start > end means the
// metric's own range.
func pointsParams(r *http.Request) (n int, lo, hi int64, err error) {
	n, err = intParam(r, "points", DefaultPoints, 1, MaxPoints)
	if err != nil {
		return 0, 0, 0, err
	}
	lo, hi = 1, 0
	q := r.URL.Query()
	if q.Get("start") != "" || q.Get("end") != "" {
		var e1, e2 error
		lo, e1 = strconv.ParseInt(q.Get("start"), 10, 64)
		hi, e2 = strconv.ParseInt(q.Get("end"), 10, 64)
		if e1 != nil || e2 != nil || hi < lo {
			return 0, 0, 0, badRequest("start=%q, end=%q: want both, integers with start <= end", q.Get("start"), q.Get("end"))
		}
	}
	return n, lo, hi, nil
}

// GET /api/runs/{id}/metrics/{key}?points=N -> {"key", "run", "count", "points": [...]}
func (h *Handler) metric(r *http.Request) (any, error) {
	n, lo, hi, err := pointsParams(r)
	if err != nil {
		return nil, err
	}
	id, key := r.PathValue("id"), r.PathValue("key")
	b, err := h.store.MetricBuckets(id, key, n, lo, hi)
	if err != nil {
		return nil, err
	}
	return map[string]any{"key": key, "run": id, "count": pointCount(b), "points": b}, nil
}

func pointCount(b []track.Bucket) int {
	n := 0
	for _, x := range b {
		n += x.Count
	}
	return n
}

// GET /api/metrics/{key}?ids=a,b&points=N: the metric of several runs on one
// grid of buckets (the union of their step ranges), so that the buckets of
// different runs line up for overlays and group bands.
func (h *Handler) metricOfRuns(r *http.Request) (any, error) {
	ids, err := idsParam(r)
	if err != nil {
		return nil, err
	}
	n, lo, hi, err := pointsParams(r)
	if err != nil {
		return nil, err
	}
	key := r.PathValue("key")
	// each runs f(i) for every run, four at a time.
	each := func(f func(i int) error) error {
		errs := make([]error, len(ids))
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				errs[i] = f(i)
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	if lo > hi {
		firsts, lasts, oks := make([]int64, len(ids)), make([]int64, len(ids)), make([]bool, len(ids))
		err := each(func(i int) (err error) {
			firsts[i], lasts[i], oks[i], err = h.store.MetricRange(ids[i], key)
			return err
		})
		if err != nil {
			return nil, err
		}
		for i, ok := range oks {
			if !ok {
				continue
			}
			if lo > hi {
				lo, hi = firsts[i], lasts[i]
			}
			lo, hi = min(lo, firsts[i]), max(hi, lasts[i])
		}
	}
	type series struct {
		ID     string         `json:"id"`
		Count  int            `json:"count"`
		Points []track.Bucket `json:"points"`
	}
	out := make([]series, len(ids))
	err = each(func(i int) error {
		out[i] = series{ID: ids[i], Points: []track.Bucket{}}
		if lo > hi { // no run has a point
			_, _, _, err := h.store.MetricRange(ids[i], key)
			return err
		}
		b, err := h.store.MetricBuckets(ids[i], key, n, lo, hi)
		out[i].Points, out[i].Count = b, pointCount(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"key": key, "runs": out}, nil
}

// GET /api/compare?ids=a,b -> Comparison.WriteJSON
func (h *Handler) compare(r *http.Request) (any, error) {
	ids, err := idsParam(r)
	if err != nil {
		return nil, err
	}
	c, err := h.store.CompareWith(track.CompareOptions{Goals: h.opts.Goals}, ids...)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := c.WriteJSON(&buf); err != nil {
		return nil, err
	}
	return json.RawMessage(buf.Bytes()), nil
}

// GET /api/pivot?experiment=E&filter=F|ids=a,b&row=R&col=C&value=V[&goal=min|max]
func (h *Handler) pivot(r *http.Request) (any, error) {
	q := r.URL.Query()
	row, col, value := q.Get("row"), q.Get("col"), q.Get("value")
	if row == "" || col == "" || value == "" {
		return nil, badRequest("row, col and value are required: fields such as params.eta, params.steps and metrics.fid")
	}
	var runs []track.RunInfo
	if q.Get("ids") != "" {
		ids, err := idsParam(r)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			ri, err := h.store.Run(id)
			if err != nil {
				return nil, err
			}
			runs = append(runs, ri)
		}
	} else {
		var err error
		// Oldest first: rows and columns that are not numbers keep the
		// order in which the sweep ran them.
		runs, err = h.store.Runs(track.Query{Experiment: q.Get("experiment"), Filter: q.Get("filter"), OrderBy: "start_time", Limit: MaxPivotRuns})
		if err != nil {
			return nil, err
		}
	}
	p, err := track.NewPivot(runs, row, col, value)
	if err != nil {
		return nil, badRequest("%s", strings.TrimPrefix(err.Error(), "track: "))
	}
	goal := track.Minimize
	if g, ok := h.opts.Goals[strings.TrimPrefix(value, "metrics.")]; ok {
		goal = g
	}
	switch g := q.Get("goal"); g {
	case "":
	case string(track.Minimize), string(track.Maximize):
		goal = track.Goal(g)
	default:
		return nil, badRequest("goal=%q: want %q or %q", g, track.Minimize, track.Maximize)
	}
	type cell struct {
		Mean any      `json:"mean"`
		Std  any      `json:"std"`
		N    int      `json:"n"`
		Text string   `json:"text"`
		IDs  []string `json:"ids"`
	}
	cells := make([][]cell, len(p.Rows))
	for i := range p.Rows {
		cells[i] = make([]cell, len(p.Cols))
		for j := range p.Cols {
			ids := p.IDs[i][j]
			if ids == nil {
				ids = []string{}
			}
			cells[i][j] = cell{track.JSONNumber(p.Mean[i][j]), track.JSONNumber(p.Std[i][j]), p.N[i][j], p.Cell(i, j), ids}
		}
	}
	rows, cols := p.Rows, p.Cols
	if rows == nil {
		rows, cols = []string{}, []string{}
	}
	if cols == nil {
		cols = []string{}
	}
	return map[string]any{"row": row, "col": col, "value": value, "goal": goal,
		"rows": rows, "cols": cols, "cells": cells, "best": p.BestBy(goal), "runs": len(runs)}, nil
}

// imageTypes are the artifact formats shown inline. Every other artifact,
// SVG and HTML included (they can carry script), is served as a download.
var imageTypes = map[string]string{".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp"}

// textTypes are shown inline as plain text.
var textTypes = []string{".txt", ".json", ".csv", ".md", ".toml", ".log", ".tsv", ".yaml", ".yml"}

// validArtifactName refuses names that could mean another place: empty,
// absolute, with a NUL, a backslash or a "." or ".." segment. Artifacts are
// looked up by name in the database, never by path, so such a name could
// never reach a file outside the store; refusing it keeps that visible.
func validArtifactName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.ContainsAny(name, "\x00\\") {
		return badRequest("artifact name %q: want a relative name such as samples/step-1000.png", name)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "." || seg == ".." || seg == "" {
			return badRequest("artifact name %q: segments \".\", \"..\" and empty ones are not allowed", name)
		}
	}
	return nil
}

// GET /api/artifacts/{id}/{name...}[?download=1]
func (h *Handler) artifact(w http.ResponseWriter, r *http.Request) {
	id, name := r.PathValue("id"), r.PathValue("name")
	if err := validArtifactName(name); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ri, err := h.store.Run(id)
	if err != nil {
		writeError(w, statusOf(err).status, err)
		return
	}
	arts, err := h.store.Artifacts(ri.ID)
	if err != nil {
		writeError(w, statusOf(err).status, err)
		return
	}
	i := slices.IndexFunc(arts, func(a track.Artifact) bool { return a.Name == name })
	if i < 0 {
		writeError(w, http.StatusNotFound, fmt.Errorf("run %s has no artifact %q: %w", ri.ID, name, track.ErrNotFound))
		return
	}
	rc, err := h.store.OpenArtifact(ri.ID, name)
	if err != nil {
		writeError(w, statusOf(err).status, err)
		return
	}
	defer rc.Close()
	ext := strings.ToLower(path.Ext(name))
	hd := w.Header()
	hd.Set("Content-Security-Policy", "sandbox; default-src 'none'; img-src 'self'")
	hd.Set("Cache-Control", "private, max-age=31536000, immutable") // content-addressed
	hd.Set("ETag", `"`+arts[i].SHA256+`"`)
	disposition := "attachment"
	switch ct, img := imageTypes[ext]; {
	case img:
		hd.Set("Content-Type", ct)
		disposition = "inline"
	case slices.Contains(textTypes, ext):
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		disposition = "inline"
	default:
		hd.Set("Content-Type", "application/octet-stream")
	}
	if r.URL.Query().Get("download") != "" {
		disposition = "attachment"
	}
	hd.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": path.Base(name)}))
	if rs, ok := rc.(io.ReadSeeker); ok {
		http.ServeContent(w, r, "", arts[i].Time, rs)
		return
	}
	io.Copy(w, rc)
}

package track

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Bucket summarises the points of a metric whose steps fall in [Start, End]:
// what a chart needs to draw them in one pixel column without losing a spike.
type Bucket struct {
	// Start and End are the bucket's step bounds, both inclusive.
	Start, End int64
	// Step is the step of the bucket's last point, Last its value and Time
	// its wall time.
	Step int64
	Last float64
	Time time.Time
	// Min and Max ignore NaN; both are NaN when every value is NaN.
	Min, Max float64
	// Count is the number of points in the bucket.
	Count int
}

// Downsample summarises points (sorted by step, as Store.Metric returns them)
// into at most n buckets of equal width in steps, keeping each bucket's
// minimum, maximum and last value: a deterministic reduction (no random
// sampling), so spikes survive at any zoom. Bucket i of the range [lo, hi]
// (by default the first and last step) covers the steps
// [lo + i·w, lo + (i+1)·w − 1] with w = ⌈(hi − lo + 1)/n⌉; points outside
// [lo, hi] are left out, and empty buckets are not returned. When the range
// holds at most n points, each point is its own bucket. n < 1 is an error.
func Downsample(points []Point, n int, lo, hi int64) ([]Bucket, error) {
	if n < 1 {
		return nil, fmt.Errorf("track: Downsample: %d buckets, want at least 1", n)
	}
	if hi < lo {
		return nil, fmt.Errorf("track: Downsample: step range [%d, %d] is empty", lo, hi)
	}
	first, last := 0, len(points)
	for first < last && points[first].Step < lo {
		first++
	}
	for last > first && points[last-1].Step > hi {
		last--
	}
	points = points[first:last]
	out := []Bucket{}
	if len(points) <= n {
		for _, p := range points {
			out = append(out, Bucket{Start: p.Step, End: p.Step, Step: p.Step, Last: p.Value, Time: p.Time,
				Min: p.Value, Max: p.Value, Count: 1})
		}
		return out, nil
	}
	// Width in steps, ⌈(d+1)/n⌉ = ⌊d/n⌋ + 1 with d = hi − lo, which stays
	// in range when the steps span every int64.
	w := uint64(hi-lo)/uint64(n) + 1
	var b *Bucket
	for _, p := range points {
		i := uint64(p.Step-lo) / w
		start := lo + int64(i*w)
		if b == nil || b.Start != start {
			end := start + int64(w-1)
			if end < start || end > hi { // overflow, or the last bucket
				end = hi
			}
			out = append(out, Bucket{Start: start, End: end, Min: math.NaN(), Max: math.NaN()})
			b = &out[len(out)-1]
		}
		b.Step, b.Last, b.Time = p.Step, p.Value, p.Time
		b.Count++
		if !math.IsNaN(p.Value) {
			if math.IsNaN(b.Min) || p.Value < b.Min {
				b.Min = p.Value
			}
			if math.IsNaN(b.Max) || p.Value > b.Max {
				b.Max = p.Value
			}
		}
	}
	return out, nil
}

// MarshalJSON encodes the bucket as {"start", "end", "step", "last", "min",
// "max", "count", "time"} with time in Unix milliseconds; NaN and ±Inf are the
// strings "NaN", "+Inf", "-Inf", as elsewhere in the tracker's JSON.
func (b Bucket) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Start int64 `json:"start"`
		End   int64 `json:"end"`
		Step  int64 `json:"step"`
		Last  any   `json:"last"`
		Min   any   `json:"min"`
		Max   any   `json:"max"`
		Count int   `json:"count"`
		Time  int64 `json:"time"`
	}{b.Start, b.End, b.Step, jsonValue(b.Last), jsonValue(b.Min), jsonValue(b.Max), b.Count, b.Time.UnixMilli()})
}

// MetricBuckets returns metric key of run runID downsampled to at most n
// buckets over the steps [lo, hi], exactly as Downsample would cut the
// points Metric returns; with lo > hi the range is the metric's own first to
// last step. The buckets are computed by the database (one row per bucket
// leaves it), which for a long metric is many times faster than reading
// every point. Errors are Metric's.
func (s *Store) MetricBuckets(runID, key string, n int, lo, hi int64) ([]Bucket, error) {
	if n < 1 {
		return nil, fmt.Errorf("track: MetricBuckets: %d buckets, want at least 1", n)
	}
	ctx := context.Background()
	seq, err := s.runSeq(ctx, runID)
	if err != nil {
		return nil, err
	}
	fail := func(err error) ([]Bucket, error) {
		return nil, fmt.Errorf("track: MetricBuckets %s/%s: %w", runID, key, err)
	}
	sid, first, last, ok, err := s.seriesRange(ctx, seq, key)
	if err != nil {
		return fail(err)
	}
	if !ok {
		return []Bucket{}, nil
	}
	if lo > hi {
		lo, hi = first, last
	}
	var count int
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM points WHERE series = ? AND step BETWEEN ? AND ?", sid, lo, hi).Scan(&count); err != nil {
		return fail(err)
	}
	w := uint64(hi-lo)/uint64(n) + 1
	if count <= n || w > math.MaxInt64/2 || (lo < 0 && hi > lo+math.MaxInt64) {
		// Few points (each its own bucket), or a step range too wide
		// for SQLite's integer arithmetic: cut them here.
		pts, err := s.points(ctx, sid, lo, hi, count)
		if err != nil {
			return fail(err)
		}
		return Downsample(pts, n, lo, hi)
	}
	// The bucket of each point, then per bucket min, max (NULL, that is
	// NaN, ignored), count and the highest step; the last value is the
	// point at that step logged last (the highest rowid).
	rows, err := s.db.QueryContext(ctx, `SELECT g.b, g.mn, g.mx, g.c, g.ls, p.value, p.time
		FROM (SELECT (step - ?2) / ?3 AS b, min(value) AS mn, max(value) AS mx, count(*) AS c, max(step) AS ls
		      FROM points WHERE series = ?1 AND step BETWEEN ?2 AND ?4 GROUP BY b) g
		JOIN points p ON p.rowid = (SELECT q.rowid FROM points q WHERE q.series = ?1 AND q.step = g.ls ORDER BY q.rowid DESC LIMIT 1)
		ORDER BY g.b`, sid, lo, int64(w), hi)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	out := make([]Bucket, 0, n)
	for rows.Next() {
		var b Bucket
		var i, t int64
		var mn, mx, last sql.NullFloat64
		if err := rows.Scan(&i, &mn, &mx, &b.Count, &b.Step, &last, &t); err != nil {
			return fail(err)
		}
		b.Start = lo + i*int64(w)
		b.End = b.Start + int64(w) - 1
		if b.End > hi || b.End < b.Start {
			b.End = hi
		}
		b.Min, b.Max, b.Last, b.Time = nullToNaN(mn), nullToNaN(mx), nullToNaN(last), time.Unix(0, t)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return out, nil
}

// MetricRange returns the first and last step of metric key of run runID,
// and whether it has any point. Errors are Metric's.
func (s *Store) MetricRange(runID, key string) (first, last int64, ok bool, err error) {
	ctx := context.Background()
	seq, err := s.runSeq(ctx, runID)
	if err != nil {
		return 0, 0, false, err
	}
	_, first, last, ok, err = s.seriesRange(ctx, seq, key)
	if err != nil {
		return 0, 0, false, fmt.Errorf("track: MetricRange %s/%s: %w", runID, key, err)
	}
	return first, last, ok, nil
}

// seriesRange returns the series id of metric key of run seq and its first
// and last step; ok is false when the run has no point of it.
func (s *Store) seriesRange(ctx context.Context, seq int64, key string) (sid, first, last int64, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, "SELECT id FROM series WHERE run = ? AND key = ?", seq, key).Scan(&sid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, 0, false, err
	}
	// Two queries, each answered from the (series, step) index.
	var lo, hi sql.NullInt64
	if err := s.db.QueryRowContext(ctx, "SELECT min(step) FROM points WHERE series = ?", sid).Scan(&lo); err != nil {
		return 0, 0, 0, false, err
	}
	if err := s.db.QueryRowContext(ctx, "SELECT max(step) FROM points WHERE series = ?", sid).Scan(&hi); err != nil {
		return 0, 0, 0, false, err
	}
	return sid, lo.Int64, hi.Int64, lo.Valid, nil
}

// points reads the points of series sid with steps in [lo, hi], by step.
func (s *Store) points(ctx context.Context, sid, lo, hi int64, capacity int) ([]Point, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT step, value, time FROM points WHERE series = ? AND step BETWEEN ? AND ? ORDER BY step, rowid", sid, lo, hi)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	pts := make([]Point, 0, capacity)
	for rows.Next() {
		var p Point
		var v sql.NullFloat64
		var t int64
		if err := rows.Scan(&p.Step, &v, &t); err != nil {
			return nil, err
		}
		p.Value = nullToNaN(v)
		p.Time = time.Unix(0, t)
		pts = append(pts, p)
	}
	return pts, rows.Err()
}

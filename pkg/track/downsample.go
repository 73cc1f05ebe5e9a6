package track

import (
	"encoding/json"
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
// buckets over the steps [lo, hi] (see Downsample); with lo > hi the range is
// the metric's own first to last step. Errors are Metric's.
func (s *Store) MetricBuckets(runID, key string, n int, lo, hi int64) ([]Bucket, error) {
	if n < 1 {
		return nil, fmt.Errorf("track: MetricBuckets: %d buckets, want at least 1", n)
	}
	pts, err := s.Metric(runID, key)
	if err != nil {
		return nil, err
	}
	if lo > hi {
		if len(pts) == 0 {
			return []Bucket{}, nil
		}
		lo, hi = pts[0].Step, pts[len(pts)-1].Step
	}
	return Downsample(pts, n, lo, hi)
}

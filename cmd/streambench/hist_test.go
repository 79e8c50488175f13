package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// precision is the relative error a reported value may have: the width
// of a bucket relative to its lowest value.
const precision = 1.0 / subCount

func TestBucketsCoverEveryValue(t *testing.T) {
	// Every bucket's range starts right after the previous one's, and
	// every value lands in the bucket whose range holds it.
	var next int64
	for i := range numBuckets {
		lo, hi := bucketRange(i)
		if lo != next || hi < lo {
			t.Fatalf("bucket %d is [%d, %d], want it to start at %d", i, lo, hi, next)
		}
		if float64(hi-lo) > precision*float64(lo) {
			t.Fatalf("bucket %d is [%d, %d]: wider than %.2f%% of its values", i, lo, hi, precision*100)
		}
		for _, v := range []int64{lo, hi, lo + (hi-lo)/2} {
			if got := bucketOf(v); got != i {
				t.Fatalf("bucketOf(%d) = %d, want %d", v, got, i)
			}
		}
		next = hi + 1
	}
	if _, hi := bucketRange(numBuckets - 1); hi != math.MaxInt64 {
		t.Fatalf("the last bucket ends at %d, want MaxInt64", hi)
	}
}

// exactQuantile is the value of rank ceil(q*n) of sorted values.
func exactQuantile(sorted []int64, q float64) int64 {
	rank := max(int(math.Ceil(q*float64(len(sorted)))), 1)
	return sorted[rank-1]
}

func TestQuantilesOfKnownDistributions(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() int64{
		"uniform 1..100000":      func() int64 { return 1 + rng.Int64N(100_000) },
		"exponential mean 1ms":   func() int64 { return int64(rng.ExpFloat64() * 1e6) },
		"normal 5ms sd 1ms":      func() int64 { return max(int64(5e6+rng.NormFloat64()*1e6), 0) },
		"bimodal 100us and 50ms": func() int64 { return []int64{100_000, 50_000_000}[rng.IntN(2)] + rng.Int64N(1000) },
		"small integers 0..200":  func() int64 { return rng.Int64N(201) },
	}
	for name, draw := range dists {
		t.Run(name, func(t *testing.T) {
			var h histogram
			vals := make([]int64, 100_000)
			for i := range vals {
				vals[i] = draw()
				h.record(vals[i])
			}
			slices.Sort(vals)
			if h.count() != int64(len(vals)) || h.min != vals[0] || h.max != vals[len(vals)-1] {
				t.Fatalf("count %d min %d max %d, want %d %d %d", h.count(), h.min, h.max, len(vals), vals[0], vals[len(vals)-1])
			}
			for _, q := range []float64{0, 0.01, 0.5, 0.9, 0.99, 0.999, 0.9999, 1} {
				want, got := exactQuantile(vals, q), h.quantile(q)
				// The reported value is the top of the exact value's
				// bucket: never below it, above by at most the width.
				if got < want || float64(got-want) > precision*float64(want) {
					t.Errorf("quantile(%v) = %d, exact %d: off by more than %.2f%%", q, got, want, precision*100)
				}
			}
		})
	}
}

func TestHistogramEdges(t *testing.T) {
	var h histogram
	if h.quantile(0.5) != 0 || h.mean() != 0 {
		t.Fatal("an empty histogram should report 0")
	}
	h.record(-5) // a clock step backwards counts as 0
	h.record(0)
	h.record(math.MaxInt64)
	if h.min != 0 || h.max != math.MaxInt64 || h.count() != 3 {
		t.Fatalf("min %d max %d count %d", h.min, h.max, h.count())
	}
	if got := h.quantile(0.5); got != 0 {
		t.Fatalf("median of 0, 0, max = %d", got)
	}
	if got := h.quantile(1); got != math.MaxInt64 {
		t.Fatalf("quantile(1) = %d", got)
	}

	// A single value is reported exactly whatever its bucket's width.
	var one histogram
	one.record(123_456_789)
	for _, q := range []float64{0, 0.5, 0.999, 1} {
		if got := one.quantile(q); got != 123_456_789 {
			t.Fatalf("quantile(%v) of one value = %d", q, got)
		}
	}
}

func TestMergeAndSince(t *testing.T) {
	var a, b, all histogram
	for i := int64(1); i <= 1000; i++ {
		a.record(i * 1000)
		all.record(i * 1000)
	}
	prev := a // a copy: what a held a second ago
	for i := int64(1); i <= 1000; i++ {
		b.record(i * 7)
		a.record(i * 7)
		all.record(i * 7)
	}
	var m histogram
	m.merge(&prev)
	m.merge(&b)
	if m != all {
		t.Fatalf("merge: count %d min %d max %d, want %d %d %d", m.count(), m.min, m.max, all.count(), all.min, all.max)
	}
	d := a.since(&prev)
	if d.count() != b.count() || d.counts != b.counts {
		t.Fatalf("since: count %d, want %d", d.count(), b.count())
	}
	if d.min != 7 || d.max < 7000 || float64(d.max-7000) > precision*7000 {
		t.Fatalf("since: min %d max %d, want 7 and about 7000", d.min, d.max)
	}
	if got, want := d.quantile(0.5), b.quantile(0.5); got != want {
		t.Fatalf("since: median %d, want %d", got, want)
	}
}

func BenchmarkRecord(b *testing.B) {
	var h histogram
	for i := range b.N {
		h.record(int64(i) * 7919 % 50_000_000)
	}
}

package main

// A log-linear latency histogram in the manner of HdrHistogram: values
// below 2^(subBits+1) have a bucket each, and every power of two above is
// split into 2^subBits buckets of equal width, so that a value is known to
// within 1/2^subBits (0.8%) of itself whatever its size. Memory is fixed
// (numBuckets counters, 57 KiB), however many values are recorded.

import (
	"math"
	"math/bits"
)

const (
	subBits    = 7
	subCount   = 1 << subBits              // buckets per power of two
	numBuckets = (64 - subBits) * subCount // bucketOf(math.MaxInt64) + 1
)

// histogram counts int64 values (nanoseconds here). The zero value is
// empty and ready to use; it is not safe for concurrent use.
type histogram struct {
	counts   [numBuckets]int64
	n        int64
	sum      float64
	min, max int64
}

// bucketOf is the index of the bucket holding v >= 0.
func bucketOf(v int64) int {
	shift := max(bits.Len64(uint64(v))-(subBits+1), 0)
	return shift*subCount + int(v>>shift)
}

// bucketRange is the lowest and highest value that bucket i holds.
func bucketRange(i int) (lo, hi int64) {
	if i < 2*subCount {
		return int64(i), int64(i)
	}
	shift := i/subCount - 1
	m := int64(i - shift*subCount) // in [subCount, 2*subCount)
	lo = m << shift
	return lo, lo + (1<<shift - 1)
}

// record counts one value; negative values count as 0.
func (h *histogram) record(v int64) {
	v = max(v, 0)
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

func (h *histogram) count() int64 { return h.n }

func (h *histogram) mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// quantile is the value at or below which fraction q (0..1) of the
// values lie: the highest value of the bucket holding the value of rank
// ceil(q*n), kept within the exact minimum and maximum. An empty
// histogram gives 0.
func (h *histogram) quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	if q >= 1 {
		return h.max
	}
	rank := max(int64(math.Ceil(q*float64(h.n))), 1)
	var seen int64
	for i := range h.counts {
		if seen += h.counts[i]; seen >= rank {
			_, hi := bucketRange(i)
			return min(max(hi, h.min), h.max)
		}
	}
	return h.max
}

// merge adds o's values to h.
func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// since is what was recorded into h after it held the values of prev (an
// earlier copy of h). Its minimum and maximum are those of its buckets.
func (h *histogram) since(prev *histogram) *histogram {
	d := &histogram{n: h.n - prev.n, sum: h.sum - prev.sum}
	first := true
	for i := range h.counts {
		c := h.counts[i] - prev.counts[i]
		if c == 0 {
			continue
		}
		d.counts[i] = c
		lo, hi := bucketRange(i)
		if first {
			d.min, first = max(lo, h.min), false
		}
		d.max = min(hi, h.max)
	}
	return d
}

package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The message browser reads a topic with Fetch requests through the
// console's Kafka client and kgo.ProcessFetchPartition: it holds one fetch
// response at a time (at most fetchMaxBytes), never a whole topic, and
// stops at the first of its limits: enough matches, the end of what it
// was asked to read, its byte budget or its time budget.

const (
	fetchMaxBytes    = 8 << 20
	partitionMinMax  = 1 << 20
	defaultBudgetMiB = 256
	maxBudgetMiB     = 4096
	defaultSeconds   = 5
	maxSeconds       = 30
	defaultLimit     = 50
	maxLimit         = 500
	// maxScans bounds the scans running at once, so that their fetch
	// buffers bound the console's memory whatever the number of tabs.
	maxScans = 4
)

// prange is a partition's part of a scan: offsets [next, end).
type prange struct {
	next, end int64
	err       error // why it stopped early
}

// scanTarget is a topic's identity and partition leaders for a scan.
type scanTarget struct {
	topic   string
	id      [16]byte
	leaders map[int32]int32
}

// filter is the browser's substring filters; empty ones match anything.
type filter struct {
	key, value, header []byte
}

func (f filter) empty() bool { return len(f.key) == 0 && len(f.value) == 0 && len(f.header) == 0 }

func (f filter) match(r *kgo.Record) bool {
	if len(f.key) > 0 && !bytes.Contains(r.Key, f.key) {
		return false
	}
	if len(f.value) > 0 && !bytes.Contains(r.Value, f.value) {
		return false
	}
	if len(f.header) > 0 {
		for _, h := range r.Headers {
			// "name=value" matches a header named name whose value
			// contains value; anything else, any header's name or
			// value that contains it.
			if headerMatch(h, f.header) {
				return true
			}
		}
		return false
	}
	return true
}

func headerMatch(h kgo.RecordHeader, q []byte) bool {
	if i := bytes.IndexByte(q, '='); i > 0 {
		return h.Key == string(q[:i]) && bytes.Contains(h.Value, q[i+1:])
	}
	return strings.Contains(h.Key, string(q)) || bytes.Contains(h.Value, q)
}

// scanStats says what a scan did and why it stopped.
type scanStats struct {
	Scanned  int64 // record batch bytes read
	Records  int64 // records looked at
	Matched  int64
	Took     time.Duration
	Stopped  string // why, for the user
	Complete bool   // every range read to its end
}

// MBps is the scan's speed.
func (s scanStats) MBps() string {
	if s.Took <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(s.Scanned)/1e6/s.Took.Seconds())
}

// budget bounds a scan.
type budget struct {
	bytes    int64
	deadline time.Time
	maxWait  time.Duration // the fetch's long poll: 0 for a scan, >0 for a live tail
}

// scan reads the ranges of t forward from the broker, calling emit for
// each record that f matches until emit returns false. It returns when
// emit refuses, every range is read, the budget is spent, or ctx ends,
// with ranges advanced to where it stopped.
func (c *Console) scan(ctx context.Context, cl *kgo.Client, t scanTarget, ranges map[int32]*prange, f filter, b budget,
	emit func(*kgo.Record) bool) (stats scanStats, err error) {
	start := time.Now()
	defer func() { stats.Took = time.Since(start) }()
	select {
	case c.scans <- struct{}{}:
		defer func() { <-c.scans }()
	case <-ctx.Done():
		return stats, ctx.Err()
	}
	ctx, cancel := context.WithDeadline(ctx, b.deadline)
	defer cancel()
	decompress := kgo.DefaultDecompressor()
	stuck := map[int32]int{}
	for {
		// Partitions still to read, by leader.
		byLeader := map[int32][]int32{}
		for p, r := range ranges {
			if r.next < r.end && r.err == nil {
				byLeader[t.leaders[p]] = append(byLeader[t.leaders[p]], p)
			}
		}
		if len(byLeader) == 0 {
			stats.Complete = true
			stats.Stopped = "read to the end"
			return stats, nil
		}
		if stats.Scanned >= b.bytes {
			stats.Stopped = fmt.Sprintf("byte budget spent (%s)", humanBytes(b.bytes))
			return stats, nil
		}
		if time.Now().After(b.deadline) {
			stats.Stopped = "time budget spent"
			return stats, nil
		}
		for leader, parts := range byLeader {
			slices.Sort(parts)
			req := kmsg.NewPtrFetchRequest()
			req.ReplicaID = -1
			req.MaxWaitMillis = int32(b.maxWait / time.Millisecond)
			req.MinBytes = 1
			req.MaxBytes = fetchMaxBytes
			req.SessionEpoch = -1
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = t.topic, t.id
			per := int32(max(partitionMinMax, fetchMaxBytes/len(parts)))
			for _, p := range parts {
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition = p
				rp.FetchOffset = ranges[p].next
				rp.PartitionMaxBytes = per << min(stuck[p], 6)
				rp.CurrentLeaderEpoch = -1
				rp.LogStartOffset = -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
			kresp, err := cl.Broker(int(leader)).Request(ctx, req)
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) && time.Now().After(b.deadline) {
					stats.Stopped = "time budget spent"
					return stats, nil
				}
				return stats, err
			}
			resp := kresp.(*kmsg.FetchResponse)
			if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
				return stats, err
			}
			for i := range resp.Topics {
				rt := &resp.Topics[i]
				for j := range rt.Partitions {
					rp := &rt.Partitions[j]
					r := ranges[rp.Partition]
					if r == nil {
						continue
					}
					if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
						switch {
						case errors.Is(err, kerr.OffsetOutOfRange) && rp.LogStartOffset > r.next:
							r.next = rp.LogStartOffset // deleted by retention meanwhile
						case errors.Is(err, kerr.OffsetOutOfRange):
							r.end = r.next // past the end: nothing to read
						case errors.Is(err, kerr.TopicAuthorizationFailed):
							return stats, err
						default:
							r.err = err
						}
						continue
					}
					if r.end == math.MaxInt64 { // a live tail reads to the high watermark
						r.end = rp.HighWatermark
					}
					stats.Scanned += int64(len(rp.RecordBatches))
					fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{
						Offset: r.next, Topic: t.topic, Partition: rp.Partition,
					}, rp, decompress, nil)
					for _, rec := range fp.Records {
						if rec.Offset >= r.end {
							break
						}
						stats.Records++
						if !f.match(rec) {
							continue
						}
						stats.Matched++
						if !emit(rec) {
							r.next = rec.Offset + 1
							stats.Stopped = "enough messages"
							return stats, nil
						}
					}
					if next <= r.next {
						if len(rp.RecordBatches) > 0 || rp.HighWatermark > r.next {
							// A batch bigger than what was asked
							// for: ask for more next time.
							stuck[rp.Partition]++
							if stuck[rp.Partition] > 6 {
								r.err = fmt.Errorf("no progress at offset %d", r.next)
							}
						} else if rp.HighWatermark <= r.next {
							r.end = r.next
						}
						continue
					}
					stuck[rp.Partition] = 0
					r.next = min(next, max(r.end, r.next))
				}
			}
			if b.maxWait > 0 { // a live tail: one fetch per request
				stats.Stopped = "tail"
				return stats, nil
			}
		}
	}
}

// parseCursor reads "partition:offset,..." positions.
func parseCursor(s string) (map[int32]int64, error) {
	out := map[int32]int64{}
	if s == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		ps, os, ok := strings.Cut(part, ":")
		p, err1 := strconv.ParseInt(ps, 10, 32)
		o, err2 := strconv.ParseInt(os, 10, 64)
		if !ok || err1 != nil || err2 != nil || p < 0 || o < 0 {
			return nil, badRequest("cursor: %q is not partition:offset", part)
		}
		out[int32(p)] = o
	}
	return out, nil
}

// formatCursor writes positions as parseCursor reads them.
func formatCursor(pos map[int32]int64) string {
	parts := make([]int32, 0, len(pos))
	for p := range pos {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(p)))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(pos[p], 10))
	}
	return b.String()
}

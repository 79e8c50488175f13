package broker

import "github.com/streamhouse/streamhouse/batch"

// metricsSource lets the metrics collector read the broker at scrape time.
type metricsSource struct{ s *Server }

func (m metricsSource) EachPartition(fn func(topic string, partition int32, size, start, end int64)) {
	for _, t := range m.s.topics.all() {
		for _, p := range t.parts {
			if l, err := p.opened(); err == nil {
				fn(t.Name, p.index, l.Size(), l.LogStartOffset(), l.HighWatermark())
			}
		}
	}
}

func (m metricsSource) EachCommit(fn func(group, topic string, partition int32, offset int64)) {
	m.s.groups.EachCommit(fn)
}

// countRecords returns how many records the batches in b hold, from their
// headers.
func countRecords(b []byte) int {
	n := 0
	for len(b) >= batch.HeaderSize {
		h, err := batch.ReadHeader(b)
		if err != nil || h.Size() > len(b) {
			break
		}
		n += int(h.LastOffsetDelta) + 1
		b = b[h.Size():]
	}
	return n
}

package broker

import (
	"context"
	"errors"
	"time"

	"github.com/streamhouse/streamhouse/storage"
)

// keyIndexEntryBytes is what one key costs the cleaner's key index at most
// (a 64-bit hash and an offset at a 75% load factor, rounded up): how
// log.cleaner.dedupe.buffer.size becomes a number of keys.
const keyIndexEntryBytes = 24

// cleanerLoop is Kafka's log cleaner: it compacts the partitions of topics
// whose cleanup.policy includes compact, one pass at a time, going straight
// on while passes find work and sleeping log.cleaner.backoff.ms when none
// did, until Shutdown (which cancels a pass under way). In the cluster mode
// a broker cleans the partitions it leads, in the bucket (storage/wal's
// Log.Compact).
func (s *Server) cleanerLoop() {
	defer s.bg.Done()
	ctx := s.base // a pass under way stops at Shutdown
	for {
		worked := s.cleanLogs(ctx)
		backoff := time.Duration(s.settings().LogCleanerBackoffMs()) * time.Millisecond
		if worked {
			backoff = 0
		}
		select {
		case <-s.shutdown:
			return
		case <-time.After(backoff):
		}
	}
}

// cleanLogs runs one pass over every compacted partition that is due one,
// and reports whether any was.
func (s *Server) cleanLogs(ctx context.Context) bool {
	worked := false
	maxKeys := int(min(s.settings().LogCleanerDedupeBufferSize()/keyIndexEntryBytes, 1<<40))
	for _, t := range s.topics.all() {
		if !t.cfg.CleanupCompact {
			continue
		}
		p := storage.CompactPolicy{
			Now:               s.now(),
			DeleteRetentionMs: t.cfg.DeleteRetentionMs,
			MinCleanableRatio: t.cfg.MinCleanableDirtyRatio,
			MinLagMs:          t.cfg.MinCompactionLagMs,
			MaxLagMs:          t.cfg.MaxCompactionLagMs,
			MaxKeys:           maxKeys,
			MaxBatchBytes:     int(s.settings().SocketRequestMaxBytes()),
			Codecs:            &s.codecs,
		}
		for _, part := range t.parts {
			l, err := part.get(ctx)
			if err != nil {
				continue // offline, or failing to open: its requests say so
			}
			if ctx.Err() != nil {
				return false
			}
			began := time.Now()
			res, err := l.Compact(ctx, p)
			switch {
			case err != nil && !errors.Is(err, storage.ErrClosed) && !errors.Is(err, context.Canceled) && !errors.Is(err, storage.ErrNotLeader):
				// (ErrNotLeader: no longer the partition's leader, in
				// the cluster mode; its new leader cleans it.)
				s.log.Warn("log cleaning failed", "topic", t.Name, "partition", part.index, "err", err)
			case res.Segments > 0:
				worked = true
				s.cfg.Metrics.Cleaned(res.BytesBefore, res.BytesAfter, time.Since(began))
			}
		}
	}
	return worked
}

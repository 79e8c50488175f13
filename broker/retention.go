package broker

import (
	"context"
	"errors"
	"time"

	"github.com/streamhouse/streamhouse/storage"
)

// retentionLoop applies each topic's retention.ms and retention.bytes to
// its partitions every log.retention.check.interval.ms, as Kafka's log
// manager does, until Shutdown, and the tiered topics' local.retention.ms
// and local.retention.bytes to their local copies (storage/tiered). Topics
// whose cleanup.policy does not include delete keep everything.
func (s *Server) retentionLoop() {
	defer s.bg.Done()
	every := time.Duration(s.settings().LogRetentionCheckIntervalMs()) * time.Millisecond
	if every <= 0 {
		every = 5 * time.Minute
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-s.shutdown:
			return
		case <-tick.C:
			s.applyRetention(s.base)
		}
	}
}

func (s *Server) applyRetention(ctx context.Context) {
	now := s.now()
	for _, t := range s.topics.all() {
		// A tiered topic keeping everything still has local copies
		// that local.retention.* removes once uploaded.
		if !t.cfg.CleanupDelete || t.cfg.RetentionMs < 0 && t.cfg.RetentionBytes < 0 && !t.cfg.RemoteStorageEnable {
			continue
		}
		p := storage.RetentionPolicy{Now: now, Ms: t.cfg.RetentionMs, Bytes: t.cfg.RetentionBytes}
		for _, part := range t.parts {
			select {
			case <-s.shutdown:
				return
			default:
			}
			l, err := part.get(ctx)
			if err != nil {
				continue // offline, or failing to open: its requests say so
			}
			// The log reports what it deleted.
			if _, err := l.Retain(ctx, p); err != nil && !errors.Is(err, storage.ErrClosed) {
				s.log.Warn("retention failed", "topic", t.Name, "partition", part.index, "err", err)
			}
		}
	}
}

// producerExpiryLoop forgets idempotent producers idle for
// producer.id.expiration.ms, every producer.id.expiration.check.interval.ms,
// until Shutdown.
func (s *Server) producerExpiryLoop() {
	defer s.bg.Done()
	tick := time.NewTicker(time.Duration(s.settings().ProducerIDExpirationCheckIntervalMs()) * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.shutdown:
			return
		case <-tick.C:
			s.expireProducers()
		}
	}
}

func (s *Server) expireProducers() {
	now, maxAge := s.now().UnixMilli(), int64(s.settings().ProducerIDExpirationMs())
	n := 0
	for _, t := range s.topics.all() {
		for _, part := range t.parts {
			// A log not opened yet has its producers expired once it is.
			if l, err := part.opened(); err == nil {
				n += l.ExpireProducers(now, maxAge)
			}
		}
	}
	if n > 0 {
		s.log.Info("expired idle producer ids", "producers", n, "producer_id_expiration_ms", maxAge)
	}
}

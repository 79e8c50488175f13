package broker

// Following the catalog. Several brokers may share one catalog (meta/
// postgres), and any of them may create or delete a topic, change its
// configs or partitions, or change broker configs and client quotas. Each
// broker follows the catalog's change feed (meta.Changes): a change names
// the row it touched, and the broker reads that row again and brings its
// cache in line. A broker sees its own changes in the feed too; the row's
// version tells it there is nothing to do.
//
// A change made through one broker so reaches the others within the
// feed's wake-up (PostgreSQL's NOTIFY, at most a second of polling
// otherwise). Admin requests that race (two brokers changing one topic)
// are settled by the catalog's conditional writes: the loser reads the
// topic again (syncLocked) and computes its change over the winner's.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

// followBatch is how many changes one read of the feed takes.
const followBatch = 1000

// followLoop follows the catalog's change feed from seq, the last change
// before the broker read the catalog, until Shutdown.
func (s *Server) followLoop(seq int64) {
	defer s.bg.Done()
	ctx, cancel := s.untilShutdown(context.Background())
	defer cancel()
	failing := false
	for ctx.Err() == nil {
		next, err := s.follow(ctx, seq)
		seq = next
		switch {
		case err == nil:
			if failing {
				s.log.Info("following the catalog's changes again", "seq", seq)
				failing = false
			}
			s.cfg.Catalog.WaitChange(ctx, seq)
			continue
		case ctx.Err() != nil:
			return
		case !failing:
			// The catalog's own outage is logged where it is
			// tracked; this says what it costs here.
			s.log.Warn("following the catalog's changes failed; changes made through other brokers are not applied here until it works again", "err", err)
			failing = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// follow applies the changes after seq and returns the seq it got to.
func (s *Server) follow(ctx context.Context, seq int64) (int64, error) {
	for {
		changes, err := s.cfg.Catalog.Changes(ctx, seq, followBatch)
		if errors.Is(err, meta.ErrChangesPruned) {
			return s.resync(ctx, seq)
		}
		if err != nil {
			return seq, err
		}
		for _, ch := range changes {
			if err := s.apply(ctx, ch); err != nil {
				return seq, fmt.Errorf("apply change %d (%s %s): %w", ch.Seq, ch.Kind, ch.Key, err)
			}
			seq = ch.Seq
		}
		if len(changes) < followBatch {
			return seq, nil
		}
	}
}

// apply brings the cache in line with the row one change names.
func (s *Server) apply(ctx context.Context, ch meta.Change) error {
	switch ch.Kind {
	case meta.ChangeTopic:
		id, err := parseTopicID(ch.Key)
		if err != nil {
			s.log.Error("a topic change names no topic id; ignored", "key", ch.Key, "err", err)
			return nil
		}
		return s.topics.sync(ctx, id)
	case meta.ChangeBrokerConfigs:
		return s.loadDynamicConfigs(ctx)
	case meta.ChangeClientQuota:
		s.quotas.alterMu.Lock()
		defer s.quotas.alterMu.Unlock()
		return s.loadQuotas(ctx)
	case meta.ChangeACLs:
		return s.reloadACLs(ctx)
	case meta.ChangeDelegationTokens:
		// Tokens are read from the catalog at each use; only the
		// credentials derived for a changed one are dropped.
		s.tokenCreds.forget(ch.Key)
		return nil
	case meta.ChangeTxnMarkers:
		s.txnMarkersChanged(ch.Key)
		return nil
	case meta.ChangeGroupConfigs:
		return s.groups.ReloadGroupConfigs(ctx, ch.Key)
	}
	// A kind this binary does not know (a newer broker's): nothing of
	// it is cached here.
	return nil
}

// resync reads everything the broker caches from the catalog again, after
// the feed lost changes it had not applied, and returns the seq to follow
// from.
func (s *Server) resync(ctx context.Context, from int64) (int64, error) {
	seq, err := s.cfg.Catalog.LastChange(ctx)
	if err != nil {
		return from, err
	}
	s.log.Warn("the catalog's change feed no longer holds every change since this broker last read it; reading the whole catalog again", "from", from, "to", seq)
	if err := s.loadDynamicConfigs(ctx); err != nil {
		return from, err
	}
	s.quotas.alterMu.Lock()
	err = s.loadQuotas(ctx)
	s.quotas.alterMu.Unlock()
	if err != nil {
		return from, err
	}
	if err := s.reloadACLs(ctx); err != nil {
		return from, err
	}
	if err := s.groups.ReloadGroupConfigs(ctx); err != nil {
		return from, err
	}
	if err := s.topics.syncAll(ctx); err != nil {
		return from, err
	}
	return seq, nil
}

// sync brings the cached topic with ID id in line with the catalog.
func (ts *topics) sync(ctx context.Context, id meta.TopicID) error {
	ts.adminMu.Lock()
	defer ts.adminMu.Unlock()
	return ts.syncLocked(ctx, id)
}

// syncAll brings every cached topic in line with the catalog: the topics it
// no longer has are removed, new ones and newer versions taken.
func (ts *topics) syncAll(ctx context.Context) error {
	all, err := ts.s.cfg.Catalog.Topics(ctx)
	if err != nil {
		return err
	}
	ts.adminMu.Lock()
	defer ts.adminMu.Unlock()
	stored := make(map[meta.TopicID]bool, len(all))
	for _, mt := range all {
		stored[mt.ID] = true
		ts.takeLocked(ctx, mt)
	}
	for _, t := range ts.all() {
		if !stored[t.ID] {
			ts.removeLocked(ctx, t, "deleted through another broker")
		}
	}
	return nil
}

// syncLocked is sync for a caller that holds adminMu.
func (ts *topics) syncLocked(ctx context.Context, id meta.TopicID) error {
	mt, err := ts.s.cfg.Catalog.TopicByID(ctx, id)
	if errors.Is(err, meta.ErrTopicNotFound) {
		if t := ts.getID(id); t != nil {
			ts.removeLocked(ctx, t, "deleted through another broker")
		}
		return nil
	}
	if err != nil {
		return err
	}
	ts.takeLocked(ctx, mt)
	return nil
}

// syncNameLocked takes the catalog's topic of that name, if it has one and
// the cache does not: one created through another broker that a create
// here found taken. Failures are left to the feed.
func (ts *topics) syncNameLocked(ctx context.Context, name string) {
	mt, err := ts.s.cfg.Catalog.Topic(ctx, name)
	if err != nil {
		return
	}
	ts.takeLocked(ctx, mt)
}

// takeLocked makes mt, the catalog's record of a topic, the cached one
// unless the cache holds that version or a newer one. Caller holds adminMu.
func (ts *topics) takeLocked(ctx context.Context, mt meta.Topic) {
	cur := ts.getID(mt.ID)
	if cur != nil && cur.Version >= mt.Version {
		return
	}
	if old := ts.get(mt.Name); old != nil && old.ID != mt.ID {
		// Deleted and created again under its name elsewhere.
		ts.removeLocked(ctx, old, "deleted through another broker")
	}
	if cur == nil {
		// Created elsewhere: anything on disk under its name belongs
		// to a topic before it. Logs open when first needed.
		if err := ts.clearLeftovers(ctx, mt.Name, 0, mt.Partitions); err != nil {
			ts.s.log.Error("a topic created through another broker has leftover data here that could not be removed; it is not served until it is", "topic", mt.Name, "err", err)
			return
		}
		t, err := ts.newTopic(mt)
		if err != nil {
			ts.s.log.Error("a topic created through another broker cannot be served here", "topic", mt.Name, "err", err)
			return
		}
		ts.publish(t)
		ts.s.log.Info("topic created through another broker", "topic", mt.Name, "partitions", mt.Partitions, "id", uuidString(mt.ID))
		return
	}
	cfg, err := ts.s.settings().ResolveTopic(mt.Configs)
	if err != nil {
		ts.s.log.Error("a topic's configs changed through another broker cannot be applied here; it keeps its values", "topic", mt.Name, "err", err)
		cfg = cur.cfg
	}
	t := cur
	if have := int32(len(cur.parts)); mt.Partitions > have {
		if err := ts.clearLeftovers(ctx, mt.Name, have, mt.Partitions); err != nil {
			ts.s.log.Error("partitions added through another broker have leftover data here that could not be removed", "topic", mt.Name, "err", err)
			return
		}
		t = &topic{Topic: cur.Topic, cfg: cur.cfg, src: cur.src, parts: append(cur.parts[:have:have], make([]*partition, 0, mt.Partitions-have)...)}
		for i := have; i < mt.Partitions; i++ {
			t.parts = append(t.parts, &partition{index: i, src: cur.src})
		}
		ts.s.log.Info("partitions added through another broker", "topic", mt.Name, "partitions", mt.Partitions, "was", have)
	} else if mt.Partitions < have {
		ts.s.log.Error("the catalog says a topic has fewer partitions than it had; partitions are never removed, so it keeps them", "topic", mt.Name, "catalog", mt.Partitions, "here", have)
	}
	ts.republish(t, mt, cfg)
}

// parseTopicID reads a topic ID in the form meta.TopicID.String gives.
func parseTopicID(s string) (meta.TopicID, error) {
	var id meta.TopicID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("topic id %q: want %d hex digits", s, 2*len(id))
	}
	copy(id[:], b)
	return id, nil
}

package group

// Coordinator shards (the cluster mode): several brokers share one catalog,
// and each coordinates the groups of the shards it holds the lease of
// (Kafka's __consumer_offsets partitions). Config.Owns says which groups
// this coordinator holds when it starts; Adopt loads from the catalog the
// groups of a shard it takes, Abandon stores what it has not stored yet of
// a shard it gives up and forgets its groups, so that their timers can
// never change what the new coordinator stores.

import (
	"context"
	"fmt"

	"github.com/streamhouse/streamhouse/meta"
)

// owns reports whether this coordinator coordinates group name.
func (c *Coordinator) owns(name string) bool { return c.cfg.Owns == nil || c.cfg.Owns(name) }

// Adopt loads the groups for which owns is true from the catalog (their
// offsets and membership), replacing what this coordinator held of them:
// it takes their shard over from another broker, whose state the catalog
// holds.
func (c *Coordinator) Adopt(ctx context.Context, owns func(group string) bool) error {
	names, err := c.cfg.Store.OffsetGroups(ctx)
	if err != nil {
		return fmt.Errorf("group: adopt: %w", err)
	}
	type row struct {
		tp     tp
		offset offset
	}
	offsets := map[string][]row{}
	for _, name := range names {
		if !owns(name) {
			continue
		}
		offs, err := c.cfg.Store.GroupOffsets(ctx, name)
		if err != nil {
			return fmt.Errorf("group: adopt %s: %w", name, err)
		}
		for _, o := range offs {
			offsets[name] = append(offsets[name], row{tp{o.Topic, o.Partition}, offset{o.Offset, o.LeaderEpoch, o.Metadata, o.CommitTime}})
		}
	}
	var stored []meta.GroupMetadata
	if c.cfg.Groups != nil {
		all, err := c.cfg.Groups.Groups(ctx)
		if err != nil {
			return fmt.Errorf("group: adopt membership: %w", err)
		}
		for _, md := range all {
			if owns(md.Group) {
				stored = append(stored, md)
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	for name, g := range c.groups {
		if owns(name) {
			c.forgetLocked(g)
		}
	}
	for name, rows := range offsets {
		g := c.newGroupLocked(name)
		for _, r := range rows {
			g.offsets[r.tp] = r.offset
		}
	}
	for _, md := range stored {
		c.loadLocked(md)
	}
	return nil
}

// Abandon gives up the groups for which owns is true: joins and syncs
// waiting in them are answered NOT_COORDINATOR (their members look for the
// new coordinator), their timers stop, what is not stored yet of them is
// stored (ctx bounds the wait), and they are forgotten.
func (c *Coordinator) Abandon(ctx context.Context, owns func(group string) bool) {
	c.mu.Lock()
	var gone []*group
	for name, g := range c.groups {
		if owns(name) {
			c.stopGroupLocked(g, errNotCoordinator)
			gone = append(gone, g)
		}
	}
	c.mu.Unlock()
	for _, g := range gone {
		c.mu.Lock()
		c.durableLocked(ctx, g)
		c.forgetLocked(g)
		c.mu.Unlock()
	}
}

// forgetLocked drops g: its timers stopped, nothing more of it stored.
// Caller holds c.mu.
func (c *Coordinator) forgetLocked(g *group) {
	c.stopGroupLocked(g, errNotCoordinator)
	g.gone = true
	delete(c.p.dirty, g)
	if c.groups[g.name] == g {
		delete(c.groups, g.name)
	}
}

package group

// Groups' configs (Kafka's GROUP config resource: share.auto.offset.reset,
// share.record.lock.duration.ms, ...): stored in the catalog
// (meta.GroupConfigs) whether the group exists or not, kept here with a
// share group's configs resolved, for the share fetches that read them at
// each request.

import (
	"context"
	"maps"
)

type groupConf struct {
	explicit map[string]string
	version  int64
	share    ShareConfig
}

// shareConfig returns a share group's effective configs.
func (c *Coordinator) shareConfig(group string) ShareConfig {
	c.confMu.Lock()
	gc, ok := c.confs[group]
	c.confMu.Unlock()
	if ok {
		return gc.share
	}
	return c.cfg.ResolveShare(nil)
}

// GroupConfig returns a group's explicit configs (a map of the caller's
// own) and their version (0: never set).
func (c *Coordinator) GroupConfig(group string) (map[string]string, int64) {
	c.confMu.Lock()
	defer c.confMu.Unlock()
	gc := c.confs[group]
	return maps.Clone(gc.explicit), gc.version
}

// SetGroupConfig stores a group's explicit configs, which the caller
// validated, if they are still at version; meta.ErrConflict otherwise, or
// the catalog's error.
func (c *Coordinator) SetGroupConfig(ctx context.Context, group string, version int64, configs map[string]string) error {
	if c.cfg.GroupConfigs != nil {
		if err := c.cfg.GroupConfigs.SetGroupConfigs(ctx, group, version, configs); err != nil {
			return err
		}
	}
	c.confMu.Lock()
	defer c.confMu.Unlock()
	c.confs[group] = groupConf{explicit: maps.Clone(configs), version: version + 1, share: c.cfg.ResolveShare(configs)}
	return nil
}

// ReloadGroupConfigs reads the configs of groups (all when none are named)
// from the catalog again: another broker sharing it set them (the broker
// calls it from the catalog's change feed). A group's configs only move to
// a newer version.
func (c *Coordinator) ReloadGroupConfigs(ctx context.Context, groups ...string) error {
	if c.cfg.GroupConfigs == nil {
		return nil
	}
	all, err := c.cfg.GroupConfigs.GroupConfigs(ctx)
	if err != nil {
		return err
	}
	c.confMu.Lock()
	defer c.confMu.Unlock()
	names := groups
	if len(names) == 0 {
		for g := range all {
			names = append(names, g)
		}
	}
	for _, g := range names {
		sc, ok := all[g]
		if !ok {
			continue
		}
		if cur, have := c.confs[g]; !have || cur.version < sc.Version {
			c.confs[g] = groupConf{explicit: maps.Clone(sc.Configs), version: sc.Version, share: c.cfg.ResolveShare(sc.Configs)}
		}
	}
	return nil
}

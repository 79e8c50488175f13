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

// refreshGroupConfig reads group's configs from the catalog again (the
// cluster mode: another broker may have set them; a partition's leader
// reads them as a share session of the group opens). A failed read keeps
// what was known.
func (c *Coordinator) refreshGroupConfig(ctx context.Context, group string) {
	if c.cfg.GroupConfigs == nil {
		return
	}
	all, err := c.cfg.GroupConfigs.GroupConfigs(ctx)
	if err != nil {
		c.log.Warn("reading group configs failed", "group", group, "err", err)
		return
	}
	sc, ok := all[group]
	c.confMu.Lock()
	defer c.confMu.Unlock()
	if !ok {
		delete(c.confs, group)
		return
	}
	if cur, have := c.confs[group]; !have || cur.version < sc.Version {
		c.confs[group] = groupConf{explicit: maps.Clone(sc.Configs), version: sc.Version, share: c.cfg.ResolveShare(sc.Configs)}
	}
}

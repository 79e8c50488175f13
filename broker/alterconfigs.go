package broker

// AlterConfigs v0-v2 and IncrementalAlterConfigs v0-v1.
//
// Topics: AlterConfigs replaces the topic's set configs with the request's;
// IncrementalAlterConfigs sets, deletes, appends to or subtracts from them
// (append and subtract on list configs only, INVALID_CONFIG otherwise).
// The result is validated as CreateTopics validates (unknown names and bad
// values: INVALID_CONFIG), stored in the catalog and in effect at once: the
// produce, fetch and retention paths read the topic's new values from the
// next request on, and its logs take the new segment and flush settings.
// validate_only checks and changes nothing. A name twice or a null value
// where one is needed is INVALID_REQUEST, as Kafka answers them.
//
// Brokers: the resource with the empty name holds the cluster-wide dynamic
// defaults, the one named by this broker's id its own values
// (DYNAMIC_DEFAULT_BROKER_CONFIG and DYNAMIC_BROKER_CONFIG); another id is
// INVALID_REQUEST. Only configs that are not read-only can be set ("Cannot
// update these configs dynamically", INVALID_REQUEST); the values are
// stored in the catalog and in effect at once, topics' defaults included.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/config"
	"github.com/streamhouse/streamhouse/internal/loglevel"
	"github.com/streamhouse/streamhouse/meta"
)

func (s *Server) handleAlterConfigs(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for i := range req.Resources {
		rr := &req.Resources[i]
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		err := s.alterResource(ctx, rr.ResourceType, rr.ResourceName, req.ValidateOnly, func(current map[string]string) (map[string]string, error) {
			next := map[string]string{}
			for _, c := range rr.Configs {
				if c.Value == nil {
					return nil, &config.Error{Name: c.Name, Kind: config.ErrInvalid, Msg: "Null value not supported for topic configs: " + c.Name}
				}
				if _, dup := next[c.Name]; dup {
					return nil, &config.Error{Name: c.Name, Kind: config.ErrRequest, Msg: "Error due to duplicate config keys"}
				}
				next[c.Name] = *c.Value
			}
			return next, nil
		})
		if err != nil {
			sr.ErrorCode, sr.ErrorMessage = errorCode(err), errMessage(err)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

func (s *Server) handleIncrementalAlterConfigs(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for i := range req.Resources {
		rr := &req.Resources[i]
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		if rr.ResourceType == kmsg.ConfigResourceTypeBrokerLogger {
			if err := s.alterLoggers(rr, req.ValidateOnly); err != nil {
				sr.ErrorCode, sr.ErrorMessage = errorCode(err), errMessage(err)
			}
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		ops := make([]config.Alteration, len(rr.Configs))
		for j, c := range rr.Configs {
			ops[j] = config.Alteration{Name: c.Name, Op: config.AlterOp(c.Op), Value: c.Value}
		}
		defs := config.TopicDefs()
		if rr.ResourceType == kmsg.ConfigResourceTypeBroker {
			defs = config.BrokerDefs()
		}
		err := s.alterResource(ctx, rr.ResourceType, rr.ResourceName, req.ValidateOnly, func(current map[string]string) (map[string]string, error) {
			return config.ApplyIncremental(defs, current, ops)
		})
		if err != nil {
			sr.ErrorCode, sr.ErrorMessage = errorCode(err), errMessage(err)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// alterResource changes one resource's configs to what change makes of
// the current ones.
func (s *Server) alterResource(ctx context.Context, typ kmsg.ConfigResourceType, name string, validateOnly bool, change func(map[string]string) (map[string]string, error)) error {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if err := validTopicName(name); err != nil {
			return err
		}
		return s.topics.reconfigure(ctx, name, validateOnly, change)
	case kmsg.ConfigResourceTypeBroker:
		if err := s.checkBrokerResource(name); err != nil {
			return err
		}
		return s.alterBroker(ctx, name, validateOnly, change)
	case kmsg.ConfigResourceTypeGroupConfig:
		return s.alterGroupConfigs(ctx, name, validateOnly, change)
	}
	if typ == kmsg.ConfigResourceTypeBrokerLogger {
		// As Kafka: loggers change only incrementally.
		return kafkaError(kerr.InvalidRequest, "AlterConfigs is not supported for %s; use IncrementalAlterConfigs", typ)
	}
	return kafkaError(kerr.InvalidRequest, "altering %s configs is not supported by StreamHouse yet", typ)
}

// alterLoggers applies IncrementalAlterConfigs to the BROKER_LOGGER
// resource, as Kafka does: SET gives a logger a level, DELETE makes it
// follow the root logger again (not the root itself); APPEND and SUBTRACT
// are INVALID_REQUEST; an unknown logger or level is INVALID_CONFIG. Every
// operation is checked before any is applied. Levels are not stored: a
// restart starts from --log-level.
func (s *Server) alterLoggers(rr *kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) error {
	if err := s.checkLoggerResource(rr.ResourceName); err != nil {
		return err
	}
	lv := s.cfg.LogLevels
	seen := map[string]bool{}
	for _, c := range rr.Configs {
		if seen[c.Name] {
			return kafkaError(kerr.InvalidRequest, "Error due to duplicate config keys")
		}
		seen[c.Name] = true
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if c.Value == nil {
				return kafkaError(kerr.InvalidConfig, "Null value not supported for logger %s", c.Name)
			}
			if err := lv.Check(c.Name, *c.Value); err != nil {
				return kafkaError(kerr.InvalidConfig, "%s", strings.TrimPrefix(err.Error(), "loglevel: "))
			}
		case kmsg.IncrementalAlterConfigOpDelete:
			if c.Name == loglevel.Root {
				return kafkaError(kerr.InvalidConfig, "Removing the log level of the root logger is not allowed")
			}
			if _, ok := lv.Level(c.Name); !ok {
				return kafkaError(kerr.InvalidConfig, "Logger %s does not exist!", c.Name)
			}
		default:
			return kafkaError(kerr.InvalidRequest, "%s operation is not allowed for the %s resource", c.Op, rr.ResourceType)
		}
	}
	if validateOnly {
		return nil
	}
	for _, c := range rr.Configs {
		var err error
		if c.Op == kmsg.IncrementalAlterConfigOpSet {
			err = lv.Set(c.Name, *c.Value)
		} else {
			err = lv.Reset(c.Name)
		}
		if err != nil {
			return kafkaError(kerr.InvalidConfig, "%v", err)
		}
		level, _ := lv.Level(c.Name)
		s.log.Info("logger level changed", "logger", c.Name, "level", level)
	}
	return nil
}

// alterBroker changes the dynamic broker configs of scope ("" for the
// cluster-wide defaults, else this broker's id): validated over the
// startup configs, stored, then in effect, with every topic's defaults
// resolved again.
func (s *Server) alterBroker(ctx context.Context, scope string, validateOnly bool, change func(map[string]string) (map[string]string, error)) error {
	s.dynMu.Lock()
	defer s.dynMu.Unlock()
	for try := 1; ; try++ {
		def, node := s.settings().Dynamic()
		cur := node
		if scope == "" {
			cur = def
		}
		next, err := change(cur)
		if err != nil {
			return err
		}
		if scope == "" {
			def = next
		} else {
			node = next
		}
		b, err := s.cfg.Settings.WithDynamic(def, node)
		if err != nil {
			return err
		}
		if validateOnly {
			return nil
		}
		err = s.cfg.Catalog.SetBrokerConfigs(ctx, scope, s.dynVersions[scope], next)
		if errors.Is(err, meta.ErrConflict) && try < maxConflicts {
			// Changed through another broker: apply theirs, then
			// compute this change again over it.
			if err := s.loadDynamicLocked(ctx); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("broker: store broker configs: %w", err)
		}
		s.dynVersions[scope]++
		s.dyn.Store(b)
		s.topics.refresh()
		s.log.Info("broker configs altered", "scope", scope, "configs", next)
		return nil
	}
}

// refresh resolves every topic's configs again (the broker's changed) and
// applies them.
func (ts *topics) refresh() {
	ts.adminMu.Lock()
	defer ts.adminMu.Unlock()
	for _, t := range ts.all() {
		cfg, err := ts.s.settings().ResolveTopic(t.Configs)
		if err != nil {
			ts.s.log.Error("resolving a topic's configs after a broker config change failed; it keeps its values", "topic", t.Name, "err", err)
			continue
		}
		ts.republish(t, t.Topic, cfg)
	}
}

// republish publishes mt, a newer catalog record of t's topic with the
// same partitions, with cfg its effective configs, and applies those to
// its logs. Caller holds adminMu.
func (ts *topics) republish(t *topic, mt meta.Topic, cfg config.Topic) {
	nt := &topic{Topic: mt, cfg: cfg, src: t.src, parts: t.parts}
	nt.Partitions = int32(len(t.parts))
	lc := logConfig(cfg)
	t.src.lc.Store(&lc)
	for _, p := range t.parts {
		p.reconfigure(lc)
	}
	ts.publish(nt)
}

// reconfigure changes a topic's set configs: validated, stored in the
// catalog, then published with the topic and applied to its logs.
func (ts *topics) reconfigure(ctx context.Context, name string, validateOnly bool, change func(map[string]string) (map[string]string, error)) error {
	ts.adminMu.Lock()
	defer ts.adminMu.Unlock()
	for try := 1; ; try++ {
		t := ts.get(name)
		if t == nil {
			return kafkaError(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", name)
		}
		next, err := change(t.Configs)
		if err != nil {
			return err
		}
		if err := ts.s.settings().ValidateTopic(next); err != nil {
			return err
		}
		if err := ts.s.settings().ValidateTopicChange(t.Configs, next); err != nil {
			return err
		}
		cfg, err := ts.s.settings().ResolveTopic(next)
		if err != nil {
			return err
		}
		if validateOnly {
			return nil
		}
		err = ts.s.cfg.Catalog.SetTopicConfigs(ctx, t.ID, t.Version, next)
		switch {
		case errors.Is(err, meta.ErrConflict) && try < maxConflicts:
			if err := ts.syncLocked(ctx, t.ID); err != nil {
				return err
			}
			continue
		case errors.Is(err, meta.ErrTopicNotFound):
			ts.removeLocked(ctx, t, "deleted through another broker")
			return kafkaError(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", name)
		case err != nil:
			return fmt.Errorf("broker: store configs of %s: %w", name, err)
		}
		mt := t.Topic
		mt.Configs = next
		mt.Version++
		ts.republish(t, mt, cfg)
		ts.s.log.Info("topic configs altered", "topic", name, "configs", next)
		return nil
	}
}

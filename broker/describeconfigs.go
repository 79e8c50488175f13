package broker

// DescribeConfigs: v0-v4 (v0 reports is_default where later versions give
// the source).
//
// Topics: every Kafka topic config with its effective value and source
// (DYNAMIC_TOPIC_CONFIG when the topic sets it, STATIC_BROKER_CONFIG when a
// broker synonym was set at startup, DEFAULT_CONFIG otherwise); unknown
// topics get UNKNOWN_TOPIC_OR_PARTITION, invalid names
// INVALID_TOPIC_EXCEPTION.
//
// Broker: the resource name must be this broker's node id, answered with
// every broker config StreamHouse has and its source (DYNAMIC_BROKER_CONFIG,
// DYNAMIC_DEFAULT_BROKER_CONFIG, STATIC_BROKER_CONFIG or DEFAULT_CONFIG), or
// empty, answered with the cluster-wide dynamic defaults that are set.
// Another id is INVALID_REQUEST, as Kafka answers it.
//
// config_names filters (names that do not exist are left out, as Kafka
// does); synonyms (v1+) and documentation (v3+) are included when asked for.
// Broker loggers (the resource named by this broker's id): every named
// logger with its effective level (log4j's names: TRACE, DEBUG, INFO, WARN,
// ERROR, ...), source DYNAMIC_BROKER_LOGGER_CONFIG, as Kafka lists its
// log4j loggers. Client metrics and group configs are not implemented:
// INVALID_REQUEST with a message saying so.

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/config"
)

func (s *Server) handleDescribeConfigs(_ context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	resp.Resources = make([]kmsg.DescribeConfigsResponseResource, len(req.Resources))
	for i := range req.Resources {
		rr := &req.Resources[i]
		sr := &resp.Resources[i]
		sr.Default()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		entries, err := s.describeResource(rr)
		if err != nil {
			sr.ErrorCode = errorCode(err)
			sr.ErrorMessage = errMessage(err)
			continue
		}
		var want map[string]bool
		if rr.ConfigNames != nil {
			want = make(map[string]bool, len(rr.ConfigNames))
			for _, n := range rr.ConfigNames {
				want[n] = true
			}
		}
		for _, e := range entries {
			if want != nil && !want[e.Name] {
				continue
			}
			sr.Configs = append(sr.Configs, describeEntry(req, e))
		}
	}
	return resp, nil
}

func (s *Server) describeResource(rr *kmsg.DescribeConfigsRequestResource) ([]config.Entry, error) {
	switch rr.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		if err := validTopicName(rr.ResourceName); err != nil {
			return nil, err
		}
		t := s.topics.get(rr.ResourceName)
		if t == nil {
			return nil, kerr.UnknownTopicOrPartition
		}
		return s.settings().DescribeTopic(t.Configs)
	case kmsg.ConfigResourceTypeBroker:
		if rr.ResourceName == "" {
			return s.settings().DescribeBrokerDefault(), nil
		}
		if err := s.checkBrokerResource(rr.ResourceName); err != nil {
			return nil, err
		}
		return s.settings().DescribeBroker(), nil
	case kmsg.ConfigResourceTypeGroupConfig:
		return s.describeGroupConfigs(rr.ResourceName)
	case kmsg.ConfigResourceTypeBrokerLogger:
		if err := s.checkLoggerResource(rr.ResourceName); err != nil {
			return nil, err
		}
		var out []config.Entry
		for _, name := range s.cfg.LogLevels.Names() {
			lv, _ := s.cfg.LogLevels.Level(name)
			out = append(out, config.Entry{Name: name, Value: &lv, Source: config.SourceDynamicBrokerLogger})
		}
		return out, nil
	}
	return nil, kafkaError(kerr.InvalidRequest, "resource type %s is not supported by StreamHouse yet", rr.ResourceType)
}

func describeEntry(req *kmsg.DescribeConfigsRequest, e config.Entry) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name = e.Name
	c.Value = e.Value
	c.ReadOnly = e.ReadOnly
	c.IsDefault = e.Source == config.SourceDefault
	c.Source = kmsg.ConfigSource(e.Source)
	c.IsSensitive = e.Sensitive
	if req.IncludeSynonyms {
		for _, syn := range e.Synonyms {
			cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
			cs.Name, cs.Value, cs.Source = syn.Name, syn.Value, kmsg.ConfigSource(syn.Source)
			c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
		}
	}
	c.ConfigType = kmsg.ConfigType(e.Type)
	if req.IncludeDocumentation && e.Doc != "" {
		doc := e.Doc
		c.Documentation = &doc
	}
	return c
}

// checkBrokerResource checks a BROKER resource name: this broker's id or
// empty (the cluster-wide defaults), as Kafka checks it.
func (s *Server) checkBrokerResource(name string) error {
	if name == "" {
		return nil
	}
	if id, err := strconv.ParseInt(name, 10, 32); err != nil || int32(id) != s.nodeID {
		return kafkaError(kerr.InvalidRequest, "unexpected broker id, expected %d or empty string, but received %s", s.nodeID, name)
	}
	return nil
}

// checkLoggerResource checks a BROKER_LOGGER resource name: this broker's
// id, never empty, as Kafka checks it.
func (s *Server) checkLoggerResource(name string) error {
	if s.cfg.LogLevels == nil {
		return kafkaError(kerr.InvalidRequest, "this broker has no named loggers")
	}
	if name == "" {
		return kafkaError(kerr.InvalidRequest, "Broker id must not be empty")
	}
	if id, err := strconv.ParseInt(name, 10, 32); err != nil || int32(id) != s.nodeID {
		return kafkaError(kerr.InvalidRequest, "Unexpected broker id, expected %d but received %s", s.nodeID, name)
	}
	return nil
}

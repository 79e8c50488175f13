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
// Broker loggers, client metrics and group configs are not implemented:
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
		id, err := strconv.ParseInt(rr.ResourceName, 10, 32)
		if err != nil || int32(id) != s.nodeID {
			return nil, kafkaError(kerr.InvalidRequest, "unexpected broker id, expected %d or empty string, but received %s", s.nodeID, rr.ResourceName)
		}
		return s.settings().DescribeBroker(), nil
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

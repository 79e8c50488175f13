package main

// cluster info: the cluster id, controller, brokers and topic count, from
// one Metadata request, and the catalog the broker runs on (its
// streamhouse.metadata configs; absent from a Kafka broker).

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
)

type clusterInfo struct {
	ClusterID  string       `json:"cluster_id"`
	Controller int32        `json:"controller"`
	Brokers    []brokerInfo `json:"brokers"`
	Topics     int          `json:"topics"`
	Catalog    *catalogInfo `json:"catalog,omitempty"`
}

// catalogInfo is where a StreamHouse broker keeps its catalog.
type catalogInfo struct {
	Store    string `json:"store"`    // sqlite or postgres
	Location string `json:"location"` // file, or host:port/database schema
}

type brokerInfo struct {
	ID      int32   `json:"id"`
	Address string  `json:"address"` // host:port
	Rack    *string `json:"rack"`
}

func clusterInfoCmd(fs *flag.FlagSet) runFunc {
	return func(ctx context.Context, a *app, _ []string) error {
		adm, err := a.admin()
		if err != nil {
			return err
		}
		defer adm.Close()
		m, err := adm.Metadata(ctx)
		if err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
		out := clusterInfo{ClusterID: m.Cluster, Controller: m.Controller, Brokers: []brokerInfo{}, Topics: countTopics(m.Topics)}
		for _, b := range m.Brokers {
			out.Brokers = append(out.Brokers, brokerInfo{ID: b.NodeID, Address: net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), Rack: b.Rack})
		}
		if len(m.Brokers) > 0 {
			out.Catalog = brokerCatalog(ctx, adm, m.Brokers[0].NodeID)
		}
		return a.emit(out, func(w io.Writer) {
			tw := newTable(w)
			row(tw, "CLUSTER-ID", "CONTROLLER", "TOPICS", "CATALOG")
			catalog := "-"
			if out.Catalog != nil {
				catalog = out.Catalog.Store + " " + out.Catalog.Location
			}
			row(tw, out.ClusterID, out.Controller, out.Topics, catalog)
			tw.Flush()
			fmt.Fprintln(w)
			tw = newTable(w)
			row(tw, "BROKER", "ADDRESS", "RACK")
			for _, b := range out.Brokers {
				rack := "-"
				if b.Rack != nil {
					rack = *b.Rack
				}
				row(tw, b.ID, b.Address, rack)
			}
			tw.Flush()
		})
	}
}

// countTopics counts the topics users see (not Kafka's internal ones).
func countTopics(tds kadm.TopicDetails) int {
	n := 0
	for _, td := range tds {
		if !td.IsInternal {
			n++
		}
	}
	return n
}

// brokerCatalog reads where broker id keeps its catalog from its configs;
// nil when it does not say (a Kafka broker, or an error: the rest of the
// answer stands without it).
func brokerCatalog(ctx context.Context, adm *kadm.Client, id int32) *catalogInfo {
	rcs, err := adm.DescribeBrokerConfigs(ctx, id)
	if err != nil || len(rcs) == 0 || rcs[0].Err != nil {
		return nil
	}
	var c catalogInfo
	for _, cfg := range rcs[0].Configs {
		switch cfg.Key {
		case "streamhouse.metadata":
			c.Store = cfg.MaybeValue()
		case "streamhouse.metadata.location":
			c.Location = cfg.MaybeValue()
		}
	}
	if c.Store == "" {
		return nil
	}
	return &c
}

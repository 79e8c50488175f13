package main

// cluster info: the cluster id, controller, brokers and topic count, from
// one Metadata request.

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
		return a.emit(out, func(w io.Writer) {
			tw := newTable(w)
			row(tw, "CLUSTER-ID", "CONTROLLER", "TOPICS")
			row(tw, out.ClusterID, out.Controller, out.Topics)
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

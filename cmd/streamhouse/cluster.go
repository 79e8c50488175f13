package main

// The cluster mode: --metadata=postgres with --storage=s3. Every broker
// started so shares the catalog and the bucket: it registers (cluster.Join,
// its node id, advertised listeners and broker.rack), takes the leases of
// the partitions rendezvous hashing gives it among the live brokers
// (cluster.Leadership), and serves those only. Its storage is
// storage/fs as a cache whose commit rounds are storage/wal's (one object
// in the bucket and one catalog transaction per round, every
// --s3-flush-interval or --s3-flush-bytes), under tiered storage for the
// segments consolidated from them.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/streamhouse/streamhouse/broker"
	"github.com/streamhouse/streamhouse/cluster"
	"github.com/streamhouse/streamhouse/config"
	"github.com/streamhouse/streamhouse/internal/loglevel"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/metrics"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs"
	"github.com/streamhouse/streamhouse/storage/objstore/s3"
	"github.com/streamhouse/streamhouse/storage/tiered"
	"github.com/streamhouse/streamhouse/storage/wal"
)

// clustered reports whether the settings make this broker one of a
// cluster: PostgreSQL and S3.
func (o *options) clustered() bool { return o.metadata == metadataPostgres && o.storage == storageS3 }

// walLeases is the leadership as the WAL asks it: by partition.
type walLeases struct{ l *cluster.Leadership }

func (w walLeases) NodeID() int32 { return w.l.NodeID() }

func (w walLeases) Live(node int32) bool {
	for _, b := range w.l.Brokers() {
		if b.NodeID == node {
			return true
		}
	}
	return false
}

func (w walLeases) Lease(p storage.Partition) (int64, int32, bool) {
	return w.l.Lease(meta.LeaseKey{Kind: meta.LeasePartition, TopicID: p.TopicID, Partition: p.Partition})
}

// clusterStore is the cluster mode's storage: fs (a cache, committed by
// the WAL) under tiered storage under the WAL. Close closes them all.
type clusterStore struct {
	fs     *fs.Store
	tiered *tiered.Store
	wal    *wal.Store
}

// openClusterStore builds the cluster mode's storage stack.
func openClusterStore(o *options, settings *config.Broker, cat meta.Catalog, lead *cluster.Leadership, bucket *s3.Store, fsOpts fs.Options, m *metrics.Broker, levels *loglevel.Levels) (*clusterStore, error) {
	var w *wal.Store
	fsOpts.NoSync = false // rounds are the WAL's commits, never fsyncs
	fsOpts.Commit = func(ctx context.Context, as []fs.Appended) []error { return w.Commit(ctx, as) }
	fsOpts.CommitInterval = o.s3FlushInterval
	fsOpts.CommitBytes = o.s3FlushBytes
	local, err := fs.New(filepath.Join(o.dataDir, "storage"), fsOpts)
	if err != nil {
		return nil, err
	}
	ts, err := newTiered(o, local, bucket, cat, m, levels.Logger("streamhouse.tiered"), &storage.RemoteConfig{Enable: true, LocalRetentionMs: -1, LocalRetentionBytes: -1})
	if err != nil {
		local.Close()
		return nil, err
	}
	w, err = wal.New(wal.Options{Local: ts, Bucket: bucket, Catalog: cat, Leader: walLeases{lead}, Grace: o.s3DeleteGrace, Logger: levels.Logger("streamhouse.wal")})
	if err != nil {
		ts.Close()
		return nil, err
	}
	levels.Logger(loglevel.Root).Info("cluster mode: appends are committed to the bucket and the catalog",
		"flush_interval", o.s3FlushInterval, "flush_bytes", o.s3FlushBytes,
		"session_timeout_ms", settings.BrokerSessionTimeoutMs(), "heartbeat_ms", settings.BrokerHeartbeatIntervalMs())
	return &clusterStore{fs: local, tiered: ts, wal: w}, nil
}

// newLeadership is this broker's leadership, not started: Start joins once
// the listeners are bound (they are what it registers).
func newLeadership(settings *config.Broker, cat meta.Catalog, log *slog.Logger) *cluster.Leadership {
	return cluster.NewLeadership(cluster.LeadershipOptions{
		Member: cluster.Options{
			Catalog:        cat,
			SessionTimeout: time.Duration(settings.BrokerSessionTimeoutMs()) * time.Millisecond,
			Heartbeat:      time.Duration(settings.BrokerHeartbeatIntervalMs()) * time.Millisecond,
			Logger:         log,
		},
	})
}

// registration is this broker as it registers: node id, rack, and each
// listener's advertised address (its bound one when none is advertised,
// with this machine's name for an unspecified address).
func registration(settings *config.Broker, listeners []broker.Listener, bound []net.Listener) (meta.BrokerRegistration, error) {
	self := meta.BrokerRegistration{NodeID: settings.NodeID(), Rack: settings.BrokerRack()}
	for i, li := range listeners {
		addr := li.Advertised
		if addr == "" {
			addr = bound[i].Addr().String()
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return self, fmt.Errorf("listener %s: %w", li.Name, err)
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			if host, err = os.Hostname(); err != nil {
				return self, fmt.Errorf("listener %s: advertise it (advertised.listeners): %w", li.Name, err)
			}
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return self, fmt.Errorf("listener %s: port %q", li.Name, port)
		}
		self.Listeners = append(self.Listeners, meta.BrokerListener{Name: li.Name, Host: host, Port: int32(p), SecurityProtocol: li.Protocol})
	}
	return self, nil
}

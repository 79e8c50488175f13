package broker_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/brokertest"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// gateStore holds the opening of one partition until its gate is closed,
// and remembers the log config each log of that topic ends up with (at
// Open, or by a later Reconfigure).
type gateStore struct {
	storage.Store
	held storage.Partition // Topic and Partition are compared
	gate chan struct{}

	mu   sync.Mutex
	cfgs map[int32]storage.LogConfig // by partition of held.Topic
}

func (s *gateStore) Open(ctx context.Context, p storage.Partition, cfg storage.LogConfig) (storage.Log, error) {
	if p.Topic == s.held.Topic && p.Partition == s.held.Partition {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l, err := s.Store.Open(ctx, p, cfg)
	if err != nil {
		return nil, err
	}
	if p.Topic == s.held.Topic {
		s.setCfg(p.Partition, cfg)
	}
	return cfgLog{l, s, p}, nil
}

func (s *gateStore) setCfg(p int32, cfg storage.LogConfig) {
	s.mu.Lock()
	s.cfgs[p] = cfg
	s.mu.Unlock()
}

func (s *gateStore) cfg(p int32) (storage.LogConfig, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cfgs[p]
	return c, ok
}

type cfgLog struct {
	storage.Log
	s *gateStore
	p storage.Partition
}

func (l cfgLog) Reconfigure(cfg storage.LogConfig) {
	l.Log.Reconfigure(cfg)
	if l.p.Topic == l.s.held.Topic {
		l.s.setCfg(l.p.Partition, cfg)
	}
}

// After a restart the logs open lazily: a partition whose log is slow to
// open (held here) holds up nothing but requests for it; a config change
// made before it opened reaches it; and a topic deleted while one of its
// logs is opening is gone with it.
func TestLogsOpenLazily(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := brokertest.New(t, brokertest.Options{Dir: dir})
	c := dialRaw(t, b.Addr())
	createTopic(t, c, "lazy", 3, nil)
	createTopic(t, c, "gone", 2, nil)
	now := time.Now().UnixMilli()
	for p := range int32(3) {
		if r := produce(t, c, "lazy", p, -1, storagetest.MakeBatch(2, 10, now)); r.ErrorCode != 0 {
			t.Fatalf("produce to lazy-%d: %v", p, kerr.ErrorForCode(r.ErrorCode))
		}
	}
	b.Stop()

	st := &gateStore{held: storage.Partition{Topic: "lazy", Partition: 1}, gate: make(chan struct{}), cfgs: map[int32]storage.LogConfig{}}
	addr, _ := serveStore(t, dir, func(fst storage.Store) storage.Store {
		st.Store = fst
		return st
	})
	c = dialRaw(t, addr)

	// lazy-1 cannot open; its neighbours serve.
	if r := produce(t, c, "lazy", 0, -1, storagetest.MakeBatch(1, 10, now)); r.ErrorCode != 0 || r.BaseOffset != 2 {
		t.Fatalf("produce to lazy-0 while lazy-1 opens: %v at %d, want offset 2", kerr.ErrorForCode(r.ErrorCode), r.BaseOffset)
	}
	f := c.do(fetchReq(12, "lazy", [16]byte{}, 2, 0)).(*kmsg.FetchResponse)
	if sp := f.Topics[0].Partitions[0]; sp.ErrorCode != 0 || sp.HighWatermark != 2 || len(sp.RecordBatches) == 0 {
		t.Fatalf("fetch lazy-2 while lazy-1 opens: %v, high watermark %d, %d bytes", kerr.ErrorForCode(sp.ErrorCode), sp.HighWatermark, len(sp.RecordBatches))
	}
	if _, ok := st.cfg(1); ok {
		t.Fatal("lazy-1 opened through its gate")
	}

	// A config change while lazy-1 is still opening: it waits for that
	// log, which ends up with the new config.
	altered := make(chan *kmsg.IncrementalAlterConfigsResponse, 1)
	ac := dialRaw(t, addr)
	go func() {
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		rr := kmsg.NewIncrementalAlterConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "lazy"
		cfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		cfg.Name, cfg.Value = "segment.bytes", kmsg.StringPtr("1048576")
		rr.Configs = append(rr.Configs, cfg)
		req.Resources = append(req.Resources, rr)
		altered <- ac.do(req).(*kmsg.IncrementalAlterConfigsResponse)
	}()
	time.Sleep(50 * time.Millisecond) // let it reach lazy-1 (it passes either way)
	close(st.gate)
	if r := <-altered; r.Resources[0].ErrorCode != 0 {
		t.Fatalf("alter configs: %v", kerr.ErrorForCode(r.Resources[0].ErrorCode))
	}
	for p := range int32(3) {
		if r := produce(t, c, "lazy", p, -1, storagetest.MakeBatch(1, 10, now)); r.ErrorCode != 0 {
			t.Fatalf("produce to lazy-%d: %v", p, kerr.ErrorForCode(r.ErrorCode))
		}
		if cfg, ok := st.cfg(p); !ok || cfg.SegmentBytes != 1048576 {
			t.Errorf("lazy-%d: segment.bytes %d (opened %v), want 1048576", p, cfg.SegmentBytes, ok)
		}
	}

	// Metadata answers for every partition, opening what is not yet.
	md := c.do(at(kmsg.NewPtrMetadataRequest(), 12)).(*kmsg.MetadataResponse)
	parts := 0
	for _, mt := range md.Topics {
		for _, mp := range mt.Partitions {
			parts++
			if mp.ErrorCode != 0 || mp.Leader != 1 {
				t.Errorf("metadata %s-%d: %v, leader %d", *mt.Topic, mp.Partition, kerr.ErrorForCode(mp.ErrorCode), mp.Leader)
			}
		}
	}
	if parts != 5 {
		t.Errorf("metadata lists %d partitions, want 5", parts)
	}

	// Deleted, a topic's partitions refuse requests and their files go.
	del := at(kmsg.NewPtrDeleteTopicsRequest(), 4)
	del.TopicNames = []string{"gone"}
	if r := c.do(del).(*kmsg.DeleteTopicsResponse); r.Topics[0].ErrorCode != 0 {
		t.Fatalf("delete: %v", kerr.ErrorForCode(r.Topics[0].ErrorCode))
	}
	if r := produce(t, c, "gone", 0, -1, storagetest.MakeBatch(1, 10, now)); r.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("produce to a deleted topic: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

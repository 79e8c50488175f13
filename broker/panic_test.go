package broker_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker"
	"github.com/streamhouse/streamhouse/broker/brokertest"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// panicStore opens logs whose Append panics for the topic "boom": a bug in
// a handler's path, as far as the connection can tell.
type panicStore struct{ storage.Store }

func (s panicStore) Open(ctx context.Context, p storage.Partition, cfg storage.LogConfig) (storage.Log, error) {
	l, err := s.Store.Open(ctx, p, cfg)
	if err != nil || p.Topic != "boom" {
		return l, err
	}
	return panicLog{l}, nil
}

type panicLog struct{ storage.Log }

func (panicLog) Append(context.Context, []byte) (int64, error) { panic("injected append panic") }

// serveStore runs a broker over the data directory dir (catalog and
// storage as the binary keeps them) with its store wrapped by wrap, on
// 127.0.0.1, until the test ends, and returns its address and server.
func serveStore(t *testing.T, dir string, wrap func(storage.Store) storage.Store) (string, *broker.Server) {
	t.Helper()
	ctx := context.Background()
	cat := brokertest.OpenCatalog(t, dir)
	st, err := fs.New(filepath.Join(dir, "storage"), fs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := broker.New(ctx, broker.Config{Store: wrap(st), Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Error(err)
		}
	})
	return l.Addr().String(), srv
}

// A panic in a handler closes that connection, is counted, and the broker
// keeps serving.
func TestHandlerPanicClosesOnlyThatConnection(t *testing.T) {
	t.Parallel()
	addr, srv := serveStore(t, t.TempDir(), func(st storage.Store) storage.Store { return panicStore{st} })

	admin := dialRaw(t, addr)
	createTopic(t, admin, "boom", 1, nil)
	createTopic(t, admin, "fine", 1, nil)

	victim := dialRaw(t, addr)
	req := at(kmsg.NewPtrProduceRequest(), 9)
	req.Acks = 1
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = storagetest.MakeBatch(1, 10, time.Now().UnixMilli())
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.Partitions = "boom", []kmsg.ProduceRequestTopicPartition{rp}
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	victim.send(req)
	if !victim.closed() {
		t.Fatal("connection survived a handler panic")
	}
	if n := srv.Stats().Panics.Load(); n != 1 {
		t.Fatalf("panics counted: %d", n)
	}
	if p := produce(t, admin, "fine", 0, 1, storagetest.MakeBatch(1, 10, time.Now().UnixMilli())); p.ErrorCode != 0 {
		t.Fatalf("after the panic: %v", kerr.ErrorForCode(p.ErrorCode))
	}
}

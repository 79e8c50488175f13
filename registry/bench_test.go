package registry_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/broker/brokertest"
	"github.com/streamhouse/streamhouse/registry"
)

// The speed targets, measured (never asserted):
//
//	go test -run '^$' -bench . -benchtime 1x ./registry/
//
// GetSchemaByID: p99 of GET /schemas/ids/{id} over loopback HTTP
// (target <= 1 ms); Register: p99 of registering a new version, durable
// in _schemas (fsync on; target <= 20 ms); Start: loading 10,000 subjects
// of 10 versions (target <= 1 s and <= 50 MB of memory).

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func reportLatencies(b *testing.B, d []time.Duration) {
	b.ReportMetric(float64(percentile(d, 0.50))/1e6, "p50-ms")
	b.ReportMetric(float64(percentile(d, 0.99))/1e6, "p99-ms")
}

func BenchmarkGetSchemaByID(b *testing.B) {
	e := newEnv(b)
	const schemas = 1000
	for i := range schemas {
		e.want("POST", fmt.Sprintf("/subjects/s%d/versions", i), body(fmt.Sprintf(`{"type":"record","name":"R%d","fields":[{"name":"a","type":"string"}]}`, i)), 200, "")
	}
	cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	lat := make([]time.Duration, 0, max(b.N, 10000))
	n := max(b.N, 10000)
	b.ResetTimer()
	for i := range n {
		start := time.Now()
		resp, err := cl.Get(fmt.Sprintf("%s/schemas/ids/%d", e.srv.URL, 1+i%schemas))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportLatencies(b, lat)
}

func BenchmarkRegister(b *testing.B) {
	// fsync on: a registration is answered once its record is durable.
	br := brokertest.New(b)
	reg, err := registry.New(registry.Config{Brokers: []string{br.Addr()}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(reg.Close)
	if err := reg.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	e := &env{t: b, b: br, reg: reg}
	e.srv = newServer(b, reg)
	n := max(b.N, 300)
	lat := make([]time.Duration, 0, n)
	b.ResetTimer()
	for i := range n {
		// Each a new version of one subject (FULL_TRANSITIVE would
		// check them all; the default BACKWARD checks the latest).
		field := fmt.Sprintf(`{"name":"f%d","type":"int","default":0}`, i)
		start := time.Now()
		status, out := e.do("POST", "/subjects/s/versions", body(`{"type":"record","name":"R","fields":[`+field+`]}`))
		if status != 200 {
			b.Fatalf("%d %s", status, out)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportLatencies(b, lat)
}

// BenchmarkStart loads 10,000 subjects of 10 versions each (100,000
// distinct schemas written straight to _schemas) into a new registry, and
// reports how long Start took and the heap the registry holds.
func BenchmarkStart(b *testing.B) {
	br := brokertest.New(b, brokertest.Options{NoSync: true})
	first, err := registry.New(registry.Config{Brokers: []string{br.Addr()}})
	if err != nil {
		b.Fatal(err)
	}
	if err := first.Start(context.Background()); err != nil { // creates _schemas
		b.Fatal(err)
	}
	first.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.DefaultProduceTopic(registry.DefaultTopic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	const subjects, versions = 10000, 10
	id := 0
	for s := range subjects {
		for v := 1; v <= versions; v++ {
			id++
			sub := fmt.Sprintf("topic-%05d-value", s)
			key := fmt.Sprintf(`{"keytype":"SCHEMA","subject":%q,"version":%d,"magic":1}`, sub, v)
			schema := fmt.Sprintf(`{"type":"record","name":"Event%d","namespace":"com.example.events","fields":[{"name":"id","type":"string"},{"name":"at","type":"long"},{"name":"v%d","type":"int","default":0}]}`, s, v)
			val := fmt.Sprintf(`{"subject":%q,"version":%d,"id":%d,"schema":%q,"deleted":false}`, sub, v, id, schema)
			cl.Produce(context.Background(), &kgo.Record{Key: []byte(key), Value: []byte(val)}, func(_ *kgo.Record, err error) {
				if err != nil {
					b.Error(err)
				}
			})
		}
	}
	if err := cl.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	var took time.Duration
	var heap uint64
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		reg, err := registry.New(registry.Config{Brokers: []string{br.Addr()}})
		if err != nil {
			b.Fatal(err)
		}
		if err := reg.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		took = time.Since(start)
		b.StopTimer()
		e := &env{t: b, b: br, reg: reg, srv: newServer(b, reg)}
		e.want("GET", "/subjects/topic-09999-value/versions", "", 200, `[1,2,3,4,5,6,7,8,9,10]`)
		e.want("GET", fmt.Sprintf("/schemas/ids/%d/versions", subjects*versions), "", 200, `[{"subject":"topic-09999-value","version":10}]`)
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap = after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(reg)
		e.srv.Close()
		reg.Close()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(took.Seconds(), "start-s")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MB")
}

package compattests

// Issue 18's speed targets, measured side by side in one run:
//
//	go test ./compat-tests -run '^$' -bench 'BenchmarkSecurityProduce' -benchtime 300000x -count 5
//	go test ./compat-tests -run '^$' -bench 'BenchmarkSecurityConsume' -benchtime 300000x -count 5
//	go test ./compat-tests -run '^$' -bench 'BenchmarkIdleTLSConnections' -benchtime 1x -count 3
//	go test ./broker -run '^$' -bench 'BenchmarkSCRAMAuthentication' -count 5
//	go test ./auth -run '^$' -bench 'BenchmarkAuthorize' -count 5
//
// Each -count round runs every mode once, in order, so the modes alternate.

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

// secBenchBroker starts an in-process broker for a mode and returns the
// address and client options of its producer: plaintext; tls (an SSL
// listener); acls (plaintext, the standard authorizer with 10,000 ACLs,
// literal and prefixed, for 20 principals, the producer's among them).
func secBenchBroker(b *testing.B, mode string) (string, []kgo.Opt) {
	b.Helper()
	noSync := strings.HasSuffix(mode, "-nofsync")
	mode = strings.TrimSuffix(mode, "-nofsync")
	switch mode {
	case "plaintext":
		br := brokertest.New(b, brokertest.Options{NoSync: noSync})
		benchTopic(b, br.Addr(), "bench", 6)
		return br.Addr(), nil
	case "tls":
		pki := newSecPKI(b)
		br := brokertest.New(b, brokertest.Options{NoSync: noSync, Settings: map[string]string{
			"listeners":             "SSL://127.0.0.1:0",
			"ssl.keystore.location": pki.Broker,
		}})
		opts := []kgo.Opt{kgo.DialTLSConfig(pki.tlsConfig(b, "", ""))}
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(br.Addr())}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 6, 1, nil, "bench"); err != nil {
			b.Fatal(err)
		}
		return br.Addr(), opts
	case "acls":
		br := brokertest.New(b, brokertest.Options{
			NoSync: noSync,
			Settings: map[string]string{
				"listeners":               "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
				"sasl.enabled.mechanisms": "SCRAM-SHA-512",
				"authorizer.class.name":   "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
				"super.users":             "User:admin",
			},
			ScramUsers: map[string]string{"admin": "admin-secret"},
		})
		admin, err := kgo.NewClient(kgo.SeedBrokers(br.ListenerAddr("SASL_PLAINTEXT")),
			kgo.SASL(scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha512Mechanism()))
		if err != nil {
			b.Fatal(err)
		}
		defer admin.Close()
		ctx := context.Background()
		if _, err := kadm.NewClient(admin).CreateTopic(ctx, 6, 1, nil, "bench"); err != nil {
			b.Fatal(err)
		}
		// 10,000 ACLs in requests of 1,000, the producer's (User:ANONYMOUS
		// on the plaintext listener) one prefixed ACL among them.
		for chunk := range 10 {
			req := kmsg.NewPtrCreateACLsRequest()
			for i := chunk * 1000; i < (chunk+1)*1000; i++ {
				c := kmsg.NewCreateACLsRequestCreation()
				c.Principal, c.Host, c.PermissionType = fmt.Sprintf("User:app%d", i%20), "*", kmsg.ACLPermissionTypeAllow
				c.ResourceType, c.Operation = kmsg.ACLResourceTypeTopic, kmsg.ACLOperationWrite
				if i%4 == 0 {
					c.ResourceName, c.ResourcePatternType = fmt.Sprintf("team%d-svc%d-", i%50, i), kmsg.ACLResourcePatternTypePrefixed
				} else {
					c.ResourceName, c.ResourcePatternType = fmt.Sprintf("team%d-orders-%d", i%50, i), kmsg.ACLResourcePatternTypeLiteral
				}
				if i == 0 {
					c.Principal, c.ResourceName, c.ResourcePatternType = "User:ANONYMOUS", "ben", kmsg.ACLResourcePatternTypePrefixed
				}
				req.Creations = append(req.Creations, c)
			}
			resp, err := req.RequestWith(ctx, admin)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range resp.Results {
				if r.ErrorCode != 0 {
					b.Fatalf("create acl: code %d", r.ErrorCode)
				}
			}
		}
		return br.ListenerAddr("PLAINTEXT"), nil
	}
	b.Fatalf("mode %s", mode)
	return "", nil
}

// BenchmarkSecurityProduce: franz-go, 1 KiB records, acks=all, 6
// partitions: plaintext, TLS, and plaintext with 10,000 ACLs, with fsync
// and (to see the authorizer's cost without the disk's noise) without.
func BenchmarkSecurityProduce(b *testing.B) {
	for _, mode := range []string{"plaintext", "tls", "acls", "plaintext-nofsync", "acls-nofsync"} {
		b.Run(mode, func(b *testing.B) {
			addr, opts := secBenchBroker(b, mode)
			benchProduce(b, addr, "bench", 1024, kgo.AllISRAcks(), false, opts...)
		})
	}
}

// BenchmarkSecurityConsume: what BenchmarkSecurityProduce wrote, consumed
// from the start by franz-go, plaintext and over TLS.
func BenchmarkSecurityConsume(b *testing.B) {
	for _, mode := range []string{"plaintext", "tls"} {
		b.Run(mode, func(b *testing.B) {
			addr, opts := secBenchBroker(b, mode)
			benchProduce(b, addr, "bench", 1024, kgo.AllISRAcks(), false, opts...)
			total := b.N + 1 // benchProduce's warm-up record too
			cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics("bench"),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			b.ResetTimer()
			start := time.Now()
			for n := 0; n < total; {
				fs := cl.PollFetches(ctx)
				if err := ctx.Err(); err != nil {
					b.Fatalf("consumed %d of %d: %v", n, total, err)
				}
				for _, e := range fs.Errors() {
					b.Fatalf("fetch: %v", e.Err)
				}
				n += fs.NumRecords()
			}
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(total)*1024/1e6/el.Seconds(), "consume-MB/s")
		})
	}
}

// BenchmarkIdleTLSConnections: 1,000 connections to the binary's SSL
// listener, each after its handshake and an ApiVersions exchange, idle;
// reports the broker's RSS (VmRSS) growth per connection. Issue 18 asks
// for at most 64 KiB each.
func BenchmarkIdleTLSConnections(b *testing.B) {
	const n = 1000
	for range b.N {
		pki := newSecPKI(b)
		br := startSecure(b, [][2]string{{"SSL", "SSL"}}, "--ssl.keystore.location="+pki.Broker, "--fsync=false")
		addr := br.addrs["SSL"]
		pid := br.cmd.Process.Pid
		cfg := pki.tlsConfig(b, "", "")
		// One connection first, so the TLS code paths are resident
		// before the baseline.
		warm := tlsIdle(b, addr, cfg, 1)
		time.Sleep(300 * time.Millisecond)
		rss0 := mustStatus(b, pid, "VmRSS")
		conns := tlsIdle(b, addr, cfg, n)
		time.Sleep(500 * time.Millisecond)
		rss1 := mustStatus(b, pid, "VmRSS")
		b.ReportMetric(float64(rss1-rss0)/n/1024, "KiB-RSS/conn")
		for _, c := range append(conns, warm...) {
			c.Close()
		}
	}
}

// tlsIdle opens n TLS connections that each complete an ApiVersions
// exchange.
func tlsIdle(b *testing.B, addr string, cfg *tls.Config, n int) []net.Conn {
	b.Helper()
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, 50)
	for i := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
			if err == nil {
				req := kmsg.NewPtrApiVersionsRequest()
				req.Version = 3
				req.ClientSoftwareName, req.ClientSoftwareVersion = "idle", "1"
				if err = rawRoundTrip(c, req); err != nil {
					c.Close()
				}
			}
			if err != nil {
				if failed.Add(1) == 1 {
					firstErr.Store(err)
				}
				return
			}
			c.SetDeadline(time.Time{})
			conns[i] = c
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d TLS connections failed, first: %v", f, n, firstErr.Load())
	}
	return conns
}

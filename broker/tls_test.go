package broker_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

// selfSigned writes a key and self-signed certificate for 127.0.0.1 (made
// at run time) in one PEM file and returns its path and a client config
// that trusts it.
func selfSigned(t *testing.T) (string, *tls.Config) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	path := filepath.Join(t.TempDir(), "broker.pem")
	os.WriteFile(path, append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return path, &tls.Config{RootCAs: pool}
}

// TestTLSLargeFetches: fetch answers of several MiB over TLS (written
// through corkConn, a few system calls each) arrive whole and in order,
// while produces go the other way on other connections.
func TestTLSLargeFetches(t *testing.T) {
	t.Parallel()
	ks, cfg := selfSigned(t)
	b := brokertest.New(t, brokertest.Options{NoSync: true, Settings: map[string]string{
		"listeners": "SSL://127.0.0.1:0", "ssl.keystore.location": ks}})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DialTLSConfig(cfg), kgo.DefaultProduceTopic("big"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "big"); err != nil {
		t.Fatal(err)
	}
	const n = 6000
	value := func(i int) []byte { return bytes.Repeat(fmt.Appendf(nil, "%08d", i), 128) } // 1 KiB
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Value: value(i), Partition: int32(i % 2)}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DialTLSConfig(cfg), kgo.ConsumeTopics("big"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(8<<20), kgo.FetchMaxPartitionBytes(4<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seen := 0
	for seen < n {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d", seen, n)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			var i int
			fmt.Sscanf(string(r.Value[:8]), "%08d", &i)
			if !bytes.Equal(r.Value, value(i)) {
				t.Fatalf("record %d damaged", i)
			}
			seen++
		})
	}
}

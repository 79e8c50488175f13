package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/streamhouse/streamhouse/internal/s3test"
	"github.com/streamhouse/streamhouse/storage/objstore"
	"github.com/streamhouse/streamhouse/storage/objstore/objtest"
	"github.com/streamhouse/streamhouse/storage/objstore/s3"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.Bucket(t)
	var n atomic.Int64 // the conformance cases run in parallel
	objtest.Run(t, func(t *testing.T) objstore.Store {
		st, err := s3.New(s3.Options{Endpoint: srv.Endpoint(), Bucket: bucket, Prefix: "t" + strings.Repeat("x", int(n.Add(1))), Credentials: s3test.Credentials()})
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

// TestCheck: a missing bucket, wrong credentials and an unreachable
// endpoint each fail the start-up check with the error that says so.
func TestCheck(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.Bucket(t)
	ok, err := s3.New(s3.Options{Endpoint: srv.Endpoint(), Bucket: bucket, Credentials: s3test.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	if err := ok.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	missing, _ := s3.New(s3.Options{Endpoint: srv.Endpoint(), Bucket: "no-such-bucket", Credentials: s3test.Credentials()})
	if err := missing.Check(t.Context()); !errors.Is(err, objstore.ErrNotFound) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Check of a missing bucket: %v", err)
	}
	bad, _ := s3.New(s3.Options{Endpoint: srv.Endpoint(), Bucket: bucket, Credentials: s3Creds("wrong", "wrong")})
	if err := bad.Check(t.Context()); !errors.Is(err, objstore.ErrDenied) {
		t.Errorf("Check with wrong credentials: %v, want ErrDenied", err)
	}
	down, _ := s3.New(s3.Options{Endpoint: "http://127.0.0.1:1", Bucket: bucket, Credentials: s3test.Credentials()})
	if err := down.Check(t.Context()); !errors.Is(err, objstore.ErrUnavailable) {
		t.Errorf("Check of an unreachable endpoint: %v, want ErrUnavailable", err)
	}
}

// TestPutToAServerThatStopsReading: an upload to a server that takes the
// request and then reads nothing of its body (a hung server; the kernel's
// buffers fill and the window closes) fails once a write moves nothing for
// WriteStall, instead of waiting as long as the connection lives.
func TestPutToAServerThatStopsReading(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var conns []net.Conn
	var mu sync.Mutex
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held, never read
			mu.Unlock()
		}
	}()
	st, err := s3.New(s3.Options{Endpoint: "http://" + l.Addr().String(), Bucket: "bucket", Credentials: s3test.Credentials(), WriteStall: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 64<<20) // far more than the kernel buffers hold
	done := make(chan error, 1)
	go func() { done <- st.Put(context.Background(), "k", bytes.NewReader(data), int64(len(data))) }()
	select {
	case err := <-done:
		t.Logf("Put to a server that stopped reading: %v", err)
		if !errors.Is(err, objstore.ErrUnavailable) {
			t.Fatalf("Put to a server that stopped reading: %v, want ErrUnavailable", err)
		}
	case <-time.After(30 * time.Second): // not a speed claim: without the bound it never returns
		t.Fatal("Put to a server that stopped reading still waits")
	}
}

// proxied starts a versitygw with a bucket, and an HTTP server in front of
// it that answers each request with serve, which may pass it on to rp (the
// Host header goes as it came: SigV4 signs it). It returns the front
// server's URL and the bucket.
func proxied(t *testing.T, serve func(w http.ResponseWriter, r *http.Request, rp http.Handler)) (string, string) {
	t.Helper()
	srv := s3test.Start(t)
	bucket := srv.Bucket(t)
	target, err := url.Parse(srv.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serve(w, r, rp) }))
	t.Cleanup(proxy.Close)
	return proxy.URL, bucket
}

func s3Creds(access, secret string) *credentials.Credentials {
	return credentials.NewStaticV4(access, secret, "")
}

// TestCheckFallsBackToSignedUploads: against a server that refuses
// uploads with a trailing checksum (older S3-compatible servers), Check
// switches to signed streaming uploads, and they work.
func TestCheckFallsBackToSignedUploads(t *testing.T) {
	t.Parallel()
	var refused atomic.Int64
	proxy, bucket := proxied(t, func(w http.ResponseWriter, r *http.Request, rp http.Handler) {
		if r.Header.Get("X-Amz-Trailer") != "" {
			refused.Add(1)
			w.WriteHeader(http.StatusNotImplemented)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code><Message>trailing checksums are not supported</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	})
	st, err := s3.New(s3.Options{Endpoint: proxy, Bucket: bucket, Credentials: s3test.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Check(t.Context()); err != nil {
		t.Fatalf("Check through a server without trailing checksums: %v", err)
	}
	if refused.Load() == 0 {
		t.Fatal("no upload with a trailing checksum was tried")
	}
	data := bytes.Repeat([]byte("segment "), 1<<17)
	if err := st.Put(t.Context(), "k", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put after the fallback: %v", err)
	}
	rc, err := st.Get(t.Context(), "k", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get = %d bytes, %v; want the %d put", len(got), err, len(data))
	}
}

// TestGetIsOneRequest: a ranged read is one GET (no HEAD for the object's
// size first), and a server that ignores the Range header (answering the
// whole object, 200) still yields the bytes asked for.
func TestGetIsOneRequest(t *testing.T) {
	t.Parallel()
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 31)
	}
	var mu sync.Mutex
	methods := map[string]int{}
	var ignoreRange atomic.Bool
	proxy, bucket := proxied(t, func(w http.ResponseWriter, r *http.Request, rp http.Handler) {
		mu.Lock()
		methods[r.Method]++
		mu.Unlock()
		if ignoreRange.Load() && r.Method == http.MethodGet {
			// A server without ranged reads: the whole object.
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
			w.Header().Set("ETag", `"x"`)
			w.WriteHeader(http.StatusOK)
			w.Write(data)
			return
		}
		rp.ServeHTTP(w, r)
	})
	st, err := s3.New(s3.Options{Endpoint: proxy, Bucket: bucket, Credentials: s3test.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(t.Context(), "k", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	get := func(off, n int64) []byte {
		t.Helper()
		rc, err := st.Get(t.Context(), "k", off, n)
		if err != nil {
			t.Fatalf("Get(%d, %d): %v", off, n, err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatalf("Get(%d, %d): %v", off, n, err)
		}
		return b
	}
	mu.Lock()
	clear(methods)
	mu.Unlock()
	for _, c := range []struct{ off, n int64 }{{0, 100}, {4096, 65536}, {1<<20 - 10, 100}, {1000, -1}} {
		want := data[c.off:]
		if c.n >= 0 {
			want = want[:min(int64(len(want)), c.n)]
		}
		if got := get(c.off, c.n); !bytes.Equal(got, want) {
			t.Fatalf("Get(%d, %d) = %d bytes, want %d", c.off, c.n, len(got), len(want))
		}
	}
	mu.Lock()
	if methods[http.MethodGet] != 4 || len(methods) != 1 {
		t.Errorf("4 ranged reads made requests %v, want 4 GETs and nothing else", methods)
	}
	mu.Unlock()
	if got := get(2<<20, 10); len(got) != 0 {
		t.Errorf("Get past the end = %d bytes, want none", len(got))
	}

	ignoreRange.Store(true)
	if got := get(4096, 100); !bytes.Equal(got, data[4096:4196]) {
		t.Errorf("Get(4096, 100) from a server ignoring Range = %d bytes, not the ones asked for", len(got))
	}
	if got := get(1<<20-10, -1); !bytes.Equal(got, data[1<<20-10:]) {
		t.Errorf("Get(%d, -1) from a server ignoring Range = %d bytes, want 10", 1<<20-10, len(got))
	}
}

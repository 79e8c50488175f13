// Package s3test runs a real S3-compatible server for tests: versitygw
// (github.com/versity/versitygw, its posix backend over a temporary
// directory) on a loopback port, one process per call, stopped when the
// test ends, so that a test may stop (kill) and restart its server; and an
// HTTP proxy in front of it that answers a share of the requests with S3's
// errors under strain (503 SlowDown, 500), resets their connections or
// holds them unanswered (NewProxy). It imports minio-go (to create and look into buckets), internal/testport and the
// standard library.
//
// The binary is versitygw in PATH or in $GOPATH/bin (.ci/run installs it
// with go install github.com/versity/versitygw/cmd/versitygw@v1.8.0). When
// it is missing the test is skipped, and fails under
// STREAMHOUSE_COMPAT_REQUIRE=1. STREAMHOUSE_S3_SERVER=minio runs MinIO
// (minio in PATH or $GOPATH/bin; go install github.com/minio/minio@latest)
// instead, in its single-drive mode over the same kind of directory. MinIO
// lists incomplete multipart uploads only under a whole object key, not
// under a prefix (storage/objstore/s3's conformance cases of
// ListMultipart fail there): the tiered store's sweep does not find stale
// uploads on it, which MinIO expires by itself after a day.
package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/streamhouse/streamhouse/internal/testport"
)

// The test server's credentials.
const (
	AccessKey = "streamhouse-test"
	SecretKey = "streamhouse-test-secret"
)

// Server is a running versitygw, or MinIO under STREAMHOUSE_S3_SERVER=minio.
type Server struct {
	t     testing.TB
	bin   string
	minio bool
	dir   string
	addr  string

	mu   sync.Mutex // guards cmd, done
	cmd  *exec.Cmd
	done chan struct{}
	out  bytes.Buffer
}

// Binary returns the versitygw binary, skipping (or, under
// STREAMHOUSE_COMPAT_REQUIRE=1, failing) t when there is none.
func Binary(t testing.TB) string {
	t.Helper()
	return binary(t, "versitygw", "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0")
}

// useMinIO says whether tests run MinIO instead of versitygw
// (STREAMHOUSE_S3_SERVER=minio; go install github.com/minio/minio@latest
// builds it): the server the product's documentation names, whose
// CompleteMultipartUpload keeps the parts where they are instead of
// copying them into one file, for measurements that want to tell the
// broker's upload path from versitygw's.
func useMinIO() bool { return os.Getenv("STREAMHOUSE_S3_SERVER") == "minio" }

func binary(t testing.TB, name, install string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	if p := filepath.Join(gopath, "bin", name); gopath != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := name + " not installed (" + install + ")"
	if os.Getenv("STREAMHOUSE_COMPAT_REQUIRE") != "" {
		t.Fatal(msg + " and STREAMHOUSE_COMPAT_REQUIRE is set")
	}
	t.Skip(msg)
	return ""
}

// Start runs a server over a new temporary directory, stopped when the
// test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, dir: t.TempDir(), minio: useMinIO()}
	if s.minio {
		s.bin = binary(t, "minio", "go install github.com/minio/minio@latest")
	} else {
		s.bin = Binary(t)
	}
	s.addr = testport.Free(t)
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Endpoint is the server's URL.
func (s *Server) Endpoint() string { return "http://" + s.addr }

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Env is what a broker process needs to reach the server: the AWS
// variables of its credentials.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + AccessKey, "AWS_SECRET_ACCESS_KEY=" + SecretKey, "AWS_REGION=us-east-1"}
}

// Credentials are the server's, for objstore/s3.Options.
func Credentials() *credentials.Credentials {
	return credentials.NewStaticV4(AccessKey, SecretKey, "")
}

// Restart starts the server (again, after Stop or Kill) on the same port
// and directory, and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(s.bin, "--access", AccessKey, "--secret", SecretKey, "--port", s.addr, "posix", s.dir)
	if s.minio {
		cmd = exec.Command(s.bin, "server", s.dir, "--address", s.addr, "--quiet")
		cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+AccessKey, "MINIO_ROOT_PASSWORD="+SecretKey, "MINIO_BROWSER=off")
	}
	cmd.Stdout, cmd.Stderr = &s.out, &s.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("s3test: start %s: %v", s.bin, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	deadline := time.Now().Add(20 * time.Second)
	for {
		if s.ready() {
			return
		}
		select {
		case <-done:
			s.t.Fatalf("s3test: %s exited:\n%s", s.bin, s.out.String())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("s3test: %s did not answer on %s within 20 s:\n%s", s.bin, s.addr, s.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ready says whether the server answers: it listens (versitygw), or its
// readiness probe says so (MinIO listens before it serves).
func (s *Server) ready() bool {
	c, err := net.DialTimeout("tcp", s.addr, 100*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	if !s.minio {
		return true
	}
	cl := http.Client{Timeout: time.Second}
	resp, err := cl.Get("http://" + s.addr + "/minio/health/ready")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Stop kills the server with SIGKILL, as a crash or an outage would (its
// data stays for Restart).
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Client is a minio-go client of the server, for a test that looks into
// its buckets directly rather than through the code under test.
func (s *Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	cl, err := minio.New(s.addr, &minio.Options{Creds: Credentials(), BucketLookup: minio.BucketLookupPath, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// Bucket creates a new bucket and returns its name.
func (s *Server) Bucket(t testing.TB) string {
	t.Helper()
	cl := s.Client(t)
	name := strings.ToLower(fmt.Sprintf("b-%d", time.Now().UnixNano()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatalf("s3test: create bucket %s: %v", name, err)
	}
	return name
}

package s3_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"

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

func s3Creds(access, secret string) *credentials.Credentials {
	return credentials.NewStaticV4(access, secret, "")
}

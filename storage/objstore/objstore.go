// Package objstore is the narrow object-store interface StreamHouse owns:
// put, ranged get, list and delete of immutable objects, with sentinel
// errors for what callers decide on. Implementations: an S3 client
// (objstore/s3, for AWS and S3-compatible servers such as MinIO and
// versitygw) and an in-memory one with fault injection for tests (Memory).
// storage/tiered uploads segments through it; nothing else in the broker
// talks to a bucket.
//
// It imports the standard library only; objstore/s3 adds its SDK.
//
// Keys are slash-separated paths under the store's prefix. Objects are
// written once and never modified: an upload that must be retried writes
// the same bytes again under the same key, or a new key.
package objstore

import (
	"context"
	"errors"
	"io"
	"time"
)

// Sentinel errors; implementations wrap them.
var (
	// ErrNotFound: no object at that key (or no bucket).
	ErrNotFound = errors.New("objstore: not found")
	// ErrUnavailable: the store did not answer, or answered that it
	// cannot now (HTTP 5xx, SlowDown, a reset or timed-out connection).
	// Retriable.
	ErrUnavailable = errors.New("objstore: unavailable")
	// ErrDenied: the credentials were refused or lack the permission.
	// Not retriable.
	ErrDenied = errors.New("objstore: access denied")
)

// Object describes one stored object.
type Object struct {
	Key      string
	Size     int64
	Modified time.Time
}

// Store is an object store.
type Store interface {
	// Put stores size bytes read from r at key, replacing any object
	// there. It returns once the object is durable in the store.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get returns n bytes of the object at key from off (n < 0: to the
	// end). Reading past the end returns what there is.
	Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)
	// Stat returns the object at key.
	Stat(ctx context.Context, key string) (Object, error)
	// List calls fn for every object whose key starts with prefix, in
	// key order, until fn returns an error (which List returns).
	List(ctx context.Context, prefix string, fn func(Object) error) error
	// Delete removes the object at key; a missing one is no error.
	Delete(ctx context.Context, key string) error
	// Check verifies that the store is reachable and the bucket exists
	// and may be written: the broker's check at start.
	Check(ctx context.Context) error
}

// ReadAll reads the whole of an object (tests, small objects).
func ReadAll(ctx context.Context, s Store, key string) ([]byte, error) {
	r, err := s.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// MinPartSize is S3's smallest part of a multipart upload, the last one
// excepted.
const MinPartSize = 5 << 20

// Upload is an incomplete multipart upload.
type Upload struct {
	Key       string
	ID        string
	Initiated time.Time
}

// Part is an uploaded part of a multipart upload: what completing the
// upload names it by.
type Part struct {
	Number   int
	ETag     string
	Checksum string // the part's CRC32C, base64, when the store keeps one
}

// Multipart is a Store that builds an object from parts uploaded one by one
// (S3's multipart upload): none of it is visible until Complete, which
// makes the object appear at once. Every part but the last must be at
// least MinPartSize.
type Multipart interface {
	// CreateMultipart starts an upload of an object at key and returns
	// its ID.
	CreateMultipart(ctx context.Context, key string) (string, error)
	// PutPart uploads part n (1-based) of upload id: size bytes of r.
	PutPart(ctx context.Context, key, id string, n int, r io.Reader, size int64) (Part, error)
	// CompleteMultipart makes the object of parts, in that order (each
	// one returned by PutPart), and ends the upload.
	CompleteMultipart(ctx context.Context, key, id string, parts []Part) error
	// AbortMultipart ends an upload and drops its parts; an upload that
	// no longer exists (completed, or aborted) is ErrNotFound.
	AbortMultipart(ctx context.Context, key, id string) error
	// ListMultipart calls fn for every incomplete upload whose key
	// starts with prefix, until fn returns an error (which it returns).
	ListMultipart(ctx context.Context, prefix string, fn func(Upload) error) error
}

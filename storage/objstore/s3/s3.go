// Package s3 is objstore.Store over S3 and S3-compatible servers (MinIO,
// versitygw, Ceph, R2...), through github.com/minio/minio-go/v7. It may
// import objstore and its SDK; nothing else of the repository.
//
// Credentials come from the AWS default chain: AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), the shared credentials
// file and AWS_PROFILE, then the instance or task role. A non-AWS endpoint
// is addressed path-style (http://host:port/bucket/key), as S3-compatible
// servers expect.
package s3

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/streamhouse/streamhouse/storage/objstore"
)

var (
	_ objstore.Store     = (*Store)(nil)
	_ objstore.Multipart = (*Store)(nil)
)

// Options configures a Store.
type Options struct {
	// Endpoint is the server's URL (http://127.0.0.1:9000); empty: AWS
	// S3 in Region.
	Endpoint string
	// Bucket is the bucket; it must exist.
	Bucket string
	// Prefix goes before every key (no leading or trailing slash
	// needed).
	Prefix string
	// Region is the bucket's region; empty: us-east-1.
	Region string
	// Credentials overrides the default chain (tests).
	Credentials *credentials.Credentials
	// PartSize is the size of a multipart upload's parts; zero: 16 MiB.
	// An upload holds one part in memory.
	PartSize uint64
	// WriteStall bounds each write of a request to the server's
	// connection (a few KiB at most): one that moves nothing for this
	// long fails the request. Zero: 30 s.
	WriteStall time.Duration
}

// Store is an objstore.Store in one bucket under a prefix.
type Store struct {
	cl     *minio.Client
	bucket string
	prefix string
	part   uint64
	where  string
	// signed is set by Check when the server refuses uploads whose body
	// is checksummed in a trailer (CRC32C, unsigned): they then go
	// signed chunk by chunk (SigV4 streaming), which costs a SHA-256 of
	// every byte on both sides.
	signed atomic.Bool
}

// New returns a store for opts; it does not contact the server (Check
// does).
func New(opts Options) (*Store, error) {
	if opts.Bucket == "" {
		return nil, errors.New("s3: no bucket (S3_BUCKET)")
	}
	host, secure := "s3.amazonaws.com", true
	lookup := minio.BucketLookupAuto
	if opts.Endpoint != "" {
		u, err := url.Parse(opts.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("s3: endpoint %q: want http://host:port or https://host", opts.Endpoint)
		}
		host, secure = u.Host, u.Scheme == "https"
		lookup = minio.BucketLookupPath
	}
	creds := opts.Credentials
	if creds == nil {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.FileAWSCredentials{},
			&credentials.IAM{Client: &http.Client{Transport: http.DefaultTransport}},
		})
	}
	region := opts.Region
	if region == "" {
		region = "us-east-1"
	}
	stall := opts.WriteStall
	if stall <= 0 {
		stall = 30 * time.Second
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	cl, err := minio.New(host, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Region:       region,
		BucketLookup: lookup,
		// Uploads carry their CRC32C in a trailer (aws-chunked), as
		// AWS's own SDKs send them: the server checks it, and no
		// SHA-256 of the body is computed to sign it.
		TrailingHeaders: true,
		Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := dialer.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &stallConn{Conn: c, stall: stall}, nil
			},
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		// The callers retry with their own policy (backoff, the
		// upload backlog); the SDK's own retries would hide a stall
		// behind minutes of attempts.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	part := opts.PartSize
	if part == 0 {
		part = 16 << 20
	}
	where := "s3://" + opts.Bucket
	if opts.Prefix != "" {
		where += "/" + strings.Trim(opts.Prefix, "/")
	}
	if opts.Endpoint != "" {
		where += " at " + opts.Endpoint
	}
	return &Store{cl: cl, bucket: opts.Bucket, prefix: strings.Trim(opts.Prefix, "/"), part: part, where: where}, nil
}

// stallConn fails a write that moves nothing for stall: a server that
// stopped reading a request's body (hung, or a network dropping packets)
// would otherwise hold an upload until TCP gives up, which a peer that
// still acknowledges with a zero window never makes it do; the transport's
// timeouts only start once a request is written.
type stallConn struct {
	net.Conn
	stall time.Duration
}

func (c *stallConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.stall)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// Where names the bucket, prefix and endpoint, for logs.
func (s *Store) Where() string { return s.where }

func (s *Store) key(k string) string {
	if s.prefix == "" {
		return k
	}
	return path.Join(s.prefix, k)
}

// classify wraps err with the objstore sentinel that says what a caller
// may do about it.
func classify(op, key string, err error) error {
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == "AccessDenied" || resp.Code == "InvalidAccessKeyId" || resp.Code == "SignatureDoesNotMatch" ||
		resp.Code == "XAdminUserNotFound" || // versitygw's answer for an unknown access key
		resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%s %s: %w: %w", op, key, objstore.ErrDenied, err)
	case resp.Code == "NoSuchKey" || resp.Code == "NoSuchBucket" || resp.Code == "NoSuchUpload" || resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s %s: %w: %w", op, key, objstore.ErrNotFound, err)
	}
	return fmt.Errorf("%s %s: %w: %w", op, key, objstore.ErrUnavailable, err)
}

// Put uploads size bytes of r in one request (up to 5 GiB, S3's limit for
// one; larger objects go in parts of PartSize, one in memory at a time),
// streamed: nothing is held in memory. The body's CRC32C travels in a
// trailer and the server checks it (unsigned payload); against a server
// that does not take that (Check finds out), the body is signed chunk by
// chunk instead.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	opts := minio.PutObjectOptions{
		ContentType:      "application/octet-stream",
		PartSize:         s.part,
		NumThreads:       1,
		DisableMultipart: size <= maxSinglePut,
	}
	if !s.signed.Load() {
		opts.DisableContentSha256 = true
		opts.Checksum = minio.ChecksumCRC32C
	}
	_, err := s.cl.PutObject(ctx, s.bucket, s.key(key), r, size, opts)
	return classify("put", key, err)
}

// maxSinglePut is the largest object S3 takes in one PUT.
const maxSinglePut = 5 << 30

// Get returns a ranged read of the object.
func (s *Store) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if n == 0 {
		if _, err := s.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	opts := minio.GetObjectOptions{}
	switch {
	case n > 0:
		if err := opts.SetRange(off, off+n-1); err != nil {
			return nil, classify("get", key, err)
		}
	case off > 0:
		if err := opts.SetRange(off, 0); err != nil {
			return nil, classify("get", key, err)
		}
	}
	// One request: Core's GetObject sends the GET at once and returns
	// its body (the Client's lazy object would first HEAD the object for
	// its size, a round trip more for every ranged read).
	body, _, hdr, err := minio.Core{Client: s.cl}.GetObject(ctx, s.bucket, s.key(key), opts)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "InvalidRange" {
			// Past the end: nothing there, as the contract says.
			return io.NopCloser(bytes.NewReader(nil)), nil
		}
		return nil, classify("get", key, err)
	}
	r := &reader{body: body, key: key}
	if opts.Header().Get("Range") != "" && hdr.Get("Content-Range") == "" {
		// A server that ignored the range sent the whole object:
		// skip to off, stop after n.
		if off > 0 {
			if _, err := io.CopyN(io.Discard, r, off); err != nil {
				body.Close()
				if errors.Is(err, io.EOF) {
					return io.NopCloser(bytes.NewReader(nil)), nil
				}
				return nil, classify("get", key, err)
			}
		}
		if n > 0 {
			return struct {
				io.Reader
				io.Closer
			}{io.LimitReader(r, n), body}, nil
		}
	}
	return r, nil
}

// reader classifies a ranged read's errors.
type reader struct {
	body io.ReadCloser
	key  string
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = classify("get", r.key, err)
	}
	return n, err
}

func (r *reader) Close() error { return r.body.Close() }

// Stat returns the object's size and modification time.
func (s *Store) Stat(ctx context.Context, key string) (objstore.Object, error) {
	info, err := s.cl.StatObject(ctx, s.bucket, s.key(key), minio.StatObjectOptions{})
	if err != nil {
		return objstore.Object{}, classify("stat", key, err)
	}
	return objstore.Object{Key: key, Size: info.Size, Modified: info.LastModified}, nil
}

// List calls fn for each object under prefix, in key order.
func (s *Store) List(ctx context.Context, prefix string, fn func(objstore.Object) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine when fn stops early
	full := s.key(prefix)
	if strings.HasSuffix(prefix, "/") && !strings.HasSuffix(full, "/") {
		full += "/"
	}
	strip := ""
	if s.prefix != "" {
		strip = s.prefix + "/"
	}
	for info := range s.cl.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: full, Recursive: true}) {
		if info.Err != nil {
			return classify("list", prefix, info.Err)
		}
		if err := fn(objstore.Object{Key: strings.TrimPrefix(info.Key, strip), Size: info.Size, Modified: info.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Delete removes the object; a missing one is no error.
func (s *Store) Delete(ctx context.Context, key string) error {
	err := s.cl.RemoveObject(ctx, s.bucket, s.key(key), minio.RemoveObjectOptions{})
	if err != nil && errors.Is(classify("delete", key, err), objstore.ErrNotFound) && minio.ToErrorResponse(err).Code != "NoSuchBucket" {
		return nil
	}
	return classify("delete", key, err)
}

// Check verifies that the bucket exists and that an object can be written
// and removed under the prefix, with the credentials given.
func (s *Store) Check(ctx context.Context) error {
	probe := fmt.Sprintf(".streamhouse-check-%d", time.Now().UnixNano())
	err := s.Put(ctx, probe, strings.NewReader("ok"), 2)
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && !s.signed.Load() && (resp.StatusCode >= 400 && resp.StatusCode < 500 || resp.StatusCode == http.StatusNotImplemented) &&
		resp.Code != "NoSuchBucket" && !errors.Is(err, objstore.ErrDenied) {
		// Refused, but not for the bucket or the credentials: most
		// likely a server that does not take trailing checksums.
		s.signed.Store(true)
		if err2 := s.Put(ctx, probe, strings.NewReader("ok"), 2); err2 == nil {
			err = nil
		} else {
			s.signed.Store(false)
		}
	}
	if err != nil {
		var resp minio.ErrorResponse
		if errors.As(err, &resp) && resp.Code == "NoSuchBucket" {
			return fmt.Errorf("%s: bucket %q does not exist (create it first): %w", s.where, s.bucket, objstore.ErrNotFound)
		}
		return fmt.Errorf("%s: write a probe object: %w", s.where, err)
	}
	if err := s.Delete(ctx, probe); err != nil {
		return fmt.Errorf("%s: remove the probe object: %w", s.where, err)
	}
	return nil
}

// CreateMultipart starts a multipart upload. Its parts carry their CRC32C
// in a trailer, as Put's body does (unless Check found the server refuses
// those: then they are signed chunk by chunk).
func (s *Store) CreateMultipart(ctx context.Context, key string) (string, error) {
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	if !s.signed.Load() {
		// Declared at the start, the parts' checksums are kept and
		// checked again at the completion.
		opts.UserMetadata = map[string]string{"X-Amz-Checksum-Algorithm": minio.ChecksumCRC32C.String()}
	}
	id, err := s.core().NewMultipartUpload(ctx, s.bucket, s.key(key), opts)
	return id, classify("create multipart", key, err)
}

// PutPart uploads part n of upload id, streamed.
func (s *Store) PutPart(ctx context.Context, key, id string, n int, r io.Reader, size int64) (objstore.Part, error) {
	var opts minio.PutObjectPartOptions
	if !s.signed.Load() {
		opts.DisableContentSha256 = true
		opts.Trailer = http.Header{}
		h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
		opts.Trailer.Set(minio.ChecksumCRC32C.Key(), base64.StdEncoding.EncodeToString(h.Sum(nil)))
		r = &crcReader{r: r, h: h, left: size, done: func(sum []byte) {
			opts.Trailer.Set(minio.ChecksumCRC32C.Key(), base64.StdEncoding.EncodeToString(sum))
		}}
	}
	p, err := s.core().PutObjectPart(ctx, s.bucket, s.key(key), id, n, r, size, opts)
	if err != nil {
		return objstore.Part{}, classify("put part", key, err)
	}
	return objstore.Part{Number: n, ETag: p.ETag, Checksum: p.ChecksumCRC32C}, nil
}

// crcReader hashes what is read through it and hands the sum over once
// the last of its bytes was read: the trailer is sent after the body.
type crcReader struct {
	r    io.Reader
	h    hash.Hash32
	left int64
	done func([]byte)
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.left -= int64(n)
	if c.done != nil && (c.left <= 0 || errors.Is(err, io.EOF)) {
		c.done(c.h.Sum(nil))
		c.done = nil
	}
	return n, err
}

// CompleteMultipart makes the object of parts.
func (s *Store) CompleteMultipart(ctx context.Context, key, id string, parts []objstore.Part) error {
	cp := make([]minio.CompletePart, len(parts))
	for i, p := range parts {
		cp[i] = minio.CompletePart{PartNumber: p.Number, ETag: p.ETag, ChecksumCRC32C: p.Checksum}
	}
	var opts minio.PutObjectOptions
	if !s.signed.Load() {
		opts.AutoChecksum = minio.ChecksumCRC32C
	}
	_, err := s.core().CompleteMultipartUpload(ctx, s.bucket, s.key(key), id, cp, opts)
	return classify("complete multipart", key, err)
}

// AbortMultipart ends an upload; one that no longer exists is ErrNotFound
// (S3's NoSuchUpload).
func (s *Store) AbortMultipart(ctx context.Context, key, id string) error {
	return classify("abort multipart", key, s.core().AbortMultipartUpload(ctx, s.bucket, s.key(key), id))
}

// ListMultipart lists the incomplete uploads under prefix, a page of up to
// 1000 at a time.
func (s *Store) ListMultipart(ctx context.Context, prefix string, fn func(objstore.Upload) error) error {
	full := s.key(prefix)
	if prefix == "" && s.prefix != "" {
		full = s.prefix + "/"
	}
	if strings.HasSuffix(prefix, "/") && !strings.HasSuffix(full, "/") {
		full += "/"
	}
	strip := ""
	if s.prefix != "" {
		strip = s.prefix + "/"
	}
	keyMarker, idMarker := "", ""
	for {
		res, err := s.core().ListMultipartUploads(ctx, s.bucket, full, keyMarker, idMarker, "", 1000)
		if err != nil {
			return classify("list multipart", prefix, err)
		}
		for _, u := range res.Uploads {
			if !strings.HasPrefix(u.Key, full) {
				continue // a server that ignored the prefix
			}
			if err := fn(objstore.Upload{Key: strings.TrimPrefix(u.Key, strip), ID: u.UploadID, Initiated: u.Initiated}); err != nil {
				return err
			}
		}
		if !res.IsTruncated || (res.NextKeyMarker == keyMarker && res.NextUploadIDMarker == idMarker) {
			return ctx.Err()
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
}

func (s *Store) core() minio.Core { return minio.Core{Client: s.cl} }

package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/metrics"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/objstore"
	"github.com/streamhouse/streamhouse/storage/objstore/s3"
	"github.com/streamhouse/streamhouse/storage/tiered"
)

// The storage --storage chooses between.
const (
	storageLocal = "local"
	storageS3    = "s3"
)

// openTiered wraps the local store in tiered storage over the bucket
// --s3-* name (openBucket).
func openTiered(ctx context.Context, o *options, local storage.Store, cat meta.Catalog, m *metrics.Broker, log *slog.Logger) (*tiered.Store, error) {
	bucket, err := openBucket(ctx, o)
	if err != nil {
		return nil, err
	}
	return newTiered(o, local, bucket, cat, m, log, nil)
}

// openBucket opens the bucket --s3-* name, after checking that it is
// there and may be written (a missing bucket or refused credentials stop
// the broker at start).
func openBucket(ctx context.Context, o *options) (*s3.Store, error) {
	bucket, err := s3.New(s3.Options{Endpoint: o.s3Endpoint, Bucket: o.s3Bucket, Prefix: o.s3Prefix, Region: o.s3Region})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.where("storage"), err)
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := bucket.Check(cctx); err != nil {
		return nil, fmt.Errorf("object storage: %w", err)
	}
	return bucket, nil
}

// newTiered is tiered storage over local and bucket; force, when set, is
// the tiered config of every log whose topic does not enable it (the
// cluster mode tiers everything).
func newTiered(o *options, local storage.Store, bucket *s3.Store, cat meta.Catalog, m *metrics.Broker, log *slog.Logger, force *storage.RemoteConfig) (*tiered.Store, error) {
	part := o.s3PartBytes
	switch {
	case force != nil && !o.set("s3-part-bytes"):
		// The cluster mode: a segment's batches are durable in WAL
		// objects already, and its upload only consolidates them, so
		// nothing waits for it; parts sent while it fills cost the
		// brokers' produce latency (p99 60-104 ms against 34-50 with
		// whole uploads, 6 partitions at 10,000 records/s, 10 ms flush).
		part = -1
	case part == 0:
		part = -1 // whole uploads
	case part < objstore.MinPartSize:
		return nil, fmt.Errorf("%s: %d bytes: S3 takes no part below %d bytes (5 MiB); 0 uploads segments whole", o.where("s3-part-bytes"), part, objstore.MinPartSize)
	}
	tm := m.Tiered()
	st, err := tiered.New(tiered.Options{
		Local:                local,
		Bucket:               bucket,
		Catalog:              cat,
		CacheDir:             filepath.Join(o.dataDir, "remote-cache"),
		CacheBytes:           o.s3CacheBytes,
		UploadBytesPerSecond: o.s3UploadRate,
		PartSize:             part,
		Grace:                o.s3DeleteGrace,
		Logger:               log,
		Observe:              tm.Observe,
		ForceRemote:          force,
	})
	if err != nil {
		return nil, err
	}
	tm.Watch(st)
	log.Info("tiered storage on", "bucket", bucket.Where(), "cache_bytes", o.s3CacheBytes)
	return st, nil
}

// checkNoRemoteData refuses to start on local storage a catalog that
// records partition data in object storage: the broker would serve those
// partitions without it, as if it were gone.
func checkNoRemoteData(ctx context.Context, cat meta.Catalog) error {
	parts, err := cat.RemotePartitions(ctx)
	if err != nil {
		return fmt.Errorf("catalog: remote segments: %w", err)
	}
	n := 0
	for _, p := range parts {
		segs, err := cat.RemoteSegments(ctx, p.TopicID, p.Partition)
		if err != nil {
			return fmt.Errorf("catalog: remote segments: %w", err)
		}
		start, _, err := cat.RemoteLogStart(ctx, p.TopicID, p.Partition)
		if err != nil {
			return fmt.Errorf("catalog: remote log start: %w", err)
		}
		for _, s := range segs {
			if !s.Deleting && s.EndOffset > start {
				n++
				break
			}
		}
	}
	if n > 0 {
		return fmt.Errorf("the catalog records data of %d partitions in object storage: start with --storage=s3 and the same bucket "+
			"(or first turn tiered storage off on their topics with remote.storage.enable=false and remote.log.delete.on.disable=true, which gives that data up)", n)
	}
	return nil
}

// Package storage defines the partition log: what the broker needs from a
// storage engine, and nothing about how an engine keeps its bytes.
//
// A Log is an append-only sequence of Kafka RecordBatch v2 batches, stored
// byte for byte as producers sent them except for the base offset, which the
// log writes in. Each batch takes the offsets [base, base+lastOffsetDelta],
// and appends leave no gaps; compaction (Log.Compact) removes records and
// whole batches, and so leaves gaps below the offset it cleaned to, as in
// Kafka. Reads return whole raw batches, never decoded
// records, so that a fetch serves bytes without touching them.
//
// Three offsets describe a log:
//
//	LogStartOffset  the first offset still readable
//	HighWatermark   the offset after the last batch a reader may see:
//	                only batches that are durable (fsynced), unless the
//	                engine was told not to fsync
//	NextOffset      the offset the next append gets (log end offset)
//
// Engines: storage/fs keeps segments on the local file system; an
// object-storage engine will sit beside it. Every engine passes the
// conformance suite in storage/storagetest.
package storage

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Engines wrap them with the operation; callers test with
// errors.Is.
var (
	// ErrOffsetOutOfRange: a read below LogStartOffset or above
	// HighWatermark.
	ErrOffsetOutOfRange = errors.New("storage: offset out of range")
	// ErrClosed: the log or store was closed.
	ErrClosed = errors.New("storage: closed")
	// ErrNotFound: no log exists for the partition.
	ErrNotFound = errors.New("storage: log not found")
	// ErrCorrupt: stored data failed its checks below the point where it
	// was known to be durable. The partition must go offline
	// (KAFKA_STORAGE_ERROR); it is never silently truncated.
	ErrCorrupt = errors.New("storage: corrupt data")
	// ErrIO: a write or fsync failed. The log refuses appends until it
	// has been reopened from what is on disk: after a failed fsync the
	// kernel may have dropped the data, so what was not durable before
	// is not trusted, and the partition is offline (KAFKA_STORAGE_ERROR)
	// meanwhile. An engine may reopen the log by itself (storage/fs
	// does).
	ErrIO = errors.New("storage: I/O error")
	// ErrNoSpace: the log's volume is full, or below the free space the
	// engine keeps (storage.min.free.bytes). The append was refused or
	// failed without changing the log, which stays online and serves
	// reads; retry once space is back (KAFKA_STORAGE_ERROR, which
	// producers retry).
	ErrNoSpace = errors.New("storage: no space left on the volume")
	// ErrUnavailable: data held in remote (object) storage could not be
	// read now (the bucket unreachable or failing). Retriable; the log
	// stays online.
	ErrUnavailable = errors.New("storage: remote storage unavailable")
	// ErrInvalidBatch: Append was given bytes that are not one whole,
	// valid batch. Callers validate with package batch first; this guards
	// the log against programming errors.
	ErrInvalidBatch = errors.New("storage: invalid batch")
	// ErrNotLeader: this broker does not lead the partition (the cluster
	// mode: another broker holds its lease), or no longer does. Nothing
	// was stored; the client is sent to the leader
	// (NOT_LEADER_OR_FOLLOWER).
	ErrNotLeader = errors.New("storage: not the partition's leader")
)

// Partition names one partition's log. Engines may lay logs out by name
// (storage/fs: <topic>/<partition>); TopicID tells a recreated topic from
// the one it replaced.
type Partition struct {
	Topic     string
	TopicID   [16]byte
	Partition int32
}

// LogConfig is the part of a topic's configuration that a log acts on.
// Zero values mean "use the default" (the Default* constants).
type LogConfig struct {
	// SegmentBytes rolls the active segment once it holds this many bytes
	// (segment.bytes).
	SegmentBytes int64
	// SegmentMs rolls the active segment once its first batch is this old
	// (segment.ms), checked on append.
	SegmentMs int64
	// SegmentJitterMs is segment.jitter.ms: each segment rolls by age a
	// random time up to this much (and below SegmentMs) early, so that
	// segments opened together do not all roll together.
	SegmentJitterMs int64
	// IndexIntervalBytes is the number of bytes between sparse index entries
	// (index.interval.bytes).
	IndexIntervalBytes int32
	// FlushMessages makes the append that brings the records not yet
	// fsynced to this many wait for an fsync (flush.messages). Zero or
	// math.MaxInt64: never.
	FlushMessages int64
	// FlushMs fsyncs what was appended at most this long ago (flush.ms),
	// for engines that do not fsync every append anyway. Zero or
	// math.MaxInt64: never.
	FlushMs int64
	// InitialOffset is where a log created empty starts (tiered storage:
	// after what is in object storage, when the local data is gone). A
	// log that exists keeps its offsets.
	InitialOffset int64
	// InitialProducers is the producer state at InitialOffset
	// (ProducerState.AppendSnapshot's encoding) for a log created empty
	// there: its idempotent producers and open transactions, which began
	// below it (tiered storage keeps one with each uploaded segment).
	InitialProducers []byte
	// Remote configures tiered storage for the log; engines without it
	// ignore it.
	Remote RemoteConfig
	// StaggerFirstRoll rolls the log's first segment (the one it was
	// created with) early, at a size between 1/16 of SegmentBytes and
	// all of it that the partition's topic ID and number choose, spread
	// evenly over a topic's partitions. Partitions filled at one rate
	// (a producer spreading records evenly) otherwise close their
	// segments all at once, every time: tiered storage then has that
	// many segments to upload at once, and its backlog peaks at one
	// segment per partition instead of staying near one.
	StaggerFirstRoll bool
}

// RemoteConfig is a topic's tiered-storage configs (KIP-405).
type RemoteConfig struct {
	// Enable is remote.storage.enable.
	Enable bool
	// LocalRetentionMs and LocalRetentionBytes are local.retention.ms
	// and local.retention.bytes, resolved (-2, the whole retention, is
	// replaced by retention.ms and retention.bytes); negative: no limit.
	LocalRetentionMs, LocalRetentionBytes int64
	// CopyDisable is remote.log.copy.disable: nothing more is uploaded.
	CopyDisable bool
	// DeleteOnDisable is remote.log.delete.on.disable.
	DeleteOnDisable bool
}

// Kafka's defaults for LogConfig.
const (
	DefaultSegmentBytes       = 1 << 30
	DefaultSegmentMs          = int64(7 * 24 * time.Hour / time.Millisecond)
	DefaultIndexIntervalBytes = 4096
)

// WithDefaults returns c with every zero field replaced by its default.
func (c LogConfig) WithDefaults() LogConfig {
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.SegmentMs <= 0 {
		c.SegmentMs = DefaultSegmentMs
	}
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	return c
}

// RetentionPolicy is a topic's delete policy at one moment.
type RetentionPolicy struct {
	Now time.Time
	// Ms is retention.ms: data whose largest timestamp is older than
	// Now minus Ms goes. Negative: no limit.
	Ms int64
	// Bytes is retention.bytes: the most the log keeps. Negative: no
	// limit.
	Bytes int64
}

// CompactPolicy is a compacted topic's cleaner settings at one moment
// (cleanup.policy includes compact).
type CompactPolicy struct {
	Now time.Time
	// DeleteRetentionMs is delete.retention.ms: a tombstone (a record
	// with a null value) is removed once its batch's max timestamp is
	// older than Now minus this.
	DeleteRetentionMs int64
	// MinCleanableRatio is min.cleanable.dirty.ratio: a log is cleaned
	// when the bytes not cleaned yet are at least this share of the
	// cleanable bytes.
	MinCleanableRatio float64
	// MinLagMs and MaxLagMs are min.compaction.lag.ms (a record stays
	// uncleaned at least this long, by its segment's max timestamp) and
	// max.compaction.lag.ms (a log whose oldest uncleaned record is older
	// than this is cleaned whatever its dirty ratio).
	MinLagMs, MaxLagMs int64
	// MaxKeys bounds the cleaner's key index (Kafka's
	// log.cleaner.dedupe.buffer.size): a pass cleans as much of the dirty
	// part of the log as that many keys cover.
	MaxKeys int
	// MaxBatchBytes bounds a decompressed batch.
	MaxBatchBytes int
	// Codecs decompresses and compresses record sections.
	Codecs Codecs
}

// Codecs compresses and decompresses the records section of a batch with
// the batch attributes' codec (codec.Codecs is one).
type Codecs interface {
	// Decompress appends src decompressed to dst, failing past limit
	// bytes.
	Decompress(c int8, dst, src []byte, limit int) ([]byte, error)
	// Compress appends src compressed to dst.
	Compress(c int8, dst, src []byte) ([]byte, error)
}

// CompactResult is what one cleaning pass did. A pass that found nothing
// to clean returns the zero value.
type CompactResult struct {
	// Segments is how many segments were read and rewritten, into
	// Groups new ones.
	Segments, Groups int
	// BytesBefore and BytesAfter are their sizes before and after.
	BytesBefore, BytesAfter int64
	// RecordsRead and RecordsKept count the records of those segments.
	RecordsRead, RecordsKept int64
	// Keys is how many distinct keys the key index held, in
	// KeyIndexBytes of memory.
	Keys          int
	KeyIndexBytes int64
	// CleanedTo is the offset below which the log is now clean: the next
	// pass indexes only the keys from there on.
	CleanedTo int64
}

// Store holds the logs of all partitions a broker serves.
type Store interface {
	// Open returns the log of p, creating an empty one when none exists,
	// and recovers it when the last stop was not clean. The broker owns one
	// Log per partition: opening a partition that is open already is a
	// programming error, and engines may refuse it.
	Open(ctx context.Context, p Partition, cfg LogConfig) (Log, error)
	// Delete removes p's log and all its data. The log must be closed.
	// Deleting a log that does not exist returns ErrNotFound.
	Delete(ctx context.Context, p Partition) error
	// Usage describes where the store keeps its data and the space there
	// (DescribeLogDirs).
	Usage() (Usage, error)
	// Close closes the store. Logs must be closed first.
	Close() error
}

// Usage is a store's place and space. Bytes unknown to the engine are -1.
type Usage struct {
	Dir         string // the data directory (or bucket) logs are in
	TotalBytes  int64
	UsableBytes int64
}

// Log is one partition's log. All methods are safe for concurrent use:
// appends are serialised by the log, reads run beside them.
type Log interface {
	// Append writes one batch (b, already checked with batch.Check) at the
	// end of the log: it writes the next offset into b's base offset field
	// in place, stores b, and returns that base offset. A batch with a
	// producer id is first checked against the log's ProducerState: a
	// retry returns the base offset it got and ErrDuplicateBatch, and is
	// not stored again. After Append
	// returns, the batch is in the file system (it survives a crash of the
	// process, not of the machine). The high watermark moves over it once
	// it is durable, which the engine does by itself soon after (group
	// commit) without waiting for a Sync; watchers are signalled then.
	Append(ctx context.Context, b []byte) (base int64, err error)

	// Sync returns once every batch appended before the call is durable
	// (fsynced, with the directory entries of new files) and below the
	// high watermark. Concurrent calls, on any logs of a store, may share
	// one fsync round.
	Sync(ctx context.Context) error
	// SyncTo is Sync for the batches below offset next only (next is at
	// most NextOffset): an answer to a produce waits for its own batches,
	// not for those appended after them. When an I/O failure made the
	// engine drop batches below next that were not yet durable, SyncTo
	// fails with ErrIO, however long after; it never reports them
	// durable.
	SyncTo(ctx context.Context, next int64) error

	// Read appends to dst whole batches starting with the one that holds
	// offset, up to maxBytes in total, and returns the extended slice. When
	// the first batch alone is larger than maxBytes it is returned whole if
	// minOne is set, and nothing is returned otherwise. Reading at
	// HighWatermark returns no bytes and no error; reading below
	// LogStartOffset or above HighWatermark returns ErrOffsetOutOfRange.
	// The first batch returned may begin before offset (a batch is never
	// split): clients skip the records they did not ask for, as with Kafka.
	// A read may return less than maxBytes allows although more batches
	// follow (storage/fs stops at the end of a segment), but never nothing
	// below HighWatermark when minOne is set: a caller that wants more reads
	// again from the offset after the last batch returned.
	Read(ctx context.Context, offset int64, maxBytes int, minOne bool, dst []byte) ([]byte, error)

	// FindTimestamp appends to dst the first batch whose max timestamp is
	// at or after ts (milliseconds) and returns the extended slice, or dst
	// unchanged when there is none. The caller finds the exact record.
	FindTimestamp(ctx context.Context, ts int64, dst []byte) ([]byte, error)

	// MaxTimestamp appends to dst the batch that holds the largest
	// timestamp in the log (the first such batch on ties) and returns the
	// extended slice, or dst unchanged when the log is empty.
	MaxTimestamp(ctx context.Context, dst []byte) ([]byte, error)

	// DeleteRecords moves the log start offset up to offset (Kafka's
	// DeleteRecords) and removes data wholly below it. offset must be in
	// [0, HighWatermark], else ErrOffsetOutOfRange; one at or below the
	// current start changes nothing. It returns the log start offset,
	// which is durable when it returns.
	DeleteRecords(ctx context.Context, offset int64) (int64, error)

	// Retain applies retention to the oldest data: it removes the oldest
	// whole segments (never the one being appended to, nor anything at or
	// above HighWatermark) while they are wholly below the log start
	// offset, older than p.Ms by their largest timestamp, or leave at
	// least p.Bytes behind. The log start offset moves to the first offset
	// kept, durably. It returns how many segments went.
	Retain(ctx context.Context, p RetentionPolicy) (int, error)

	// Compact runs one pass of log compaction (cleanup.policy=compact) if
	// the log is due one by p: it keeps the latest record of each key
	// in the closed, durable segments below the first unstable offset,
	// drops tombstones older than p.DeleteRetentionMs and the records
	// of aborted transactions, keeps every batch's offsets (a removed
	// batch leaves a gap) and each active producer's last batch (empty
	// if need be), and replaces the segments so that a crash leaves
	// either the old ones or the new ones.
	Compact(ctx context.Context, p CompactPolicy) (CompactResult, error)

	// Reconfigure applies a topic's changed configs to the log: later
	// appends roll and flush by cfg (zero fields mean defaults, as in
	// Store.Open).
	Reconfigure(cfg LogConfig)

	// ExpireProducers forgets the idempotent producers whose last batch's
	// max timestamp is maxAgeMs or more before nowMs
	// (producer.id.expiration.ms) and returns how many. Their next batch
	// must start a sequence again (ErrUnknownProducerID otherwise).
	ExpireProducers(nowMs, maxAgeMs int64) int

	// ActiveProducers lists the idempotent and transactional producers the
	// log holds state for, by id (DescribeProducers).
	ActiveProducers() []ActiveProducer

	// LastStableOffset is the offset below which no transaction is open
	// (read_committed consumers read up to it): the high watermark, or the
	// first offset of the oldest open transaction when that is lower.
	LastStableOffset() int64
	// AbortedTransactions returns the aborted transactions whose range
	// ends at or after from (their abort marker) and begins before to,
	// by marker offset: what a read_committed Fetch of [from, to) lists.
	AbortedTransactions(from, to int64) []AbortedTxn

	// Offline returns why the log cannot be served (a read found corrupt
	// data below what was durable, a write or an fsync failed: errors
	// wrapping ErrCorrupt or ErrIO), or nil; appends fail with it.
	// Corruption stays until the broker restarts; an I/O failure lasts
	// until the engine has reopened the log from what is on disk, which
	// storage/fs does by itself, retrying while the failure lasts.
	Offline() error

	// LogStartOffset is the first readable offset.
	LogStartOffset() int64
	// HighWatermark is the offset after the last readable batch.
	HighWatermark() int64
	// NextOffset is the offset the next append will get.
	NextOffset() int64
	// Size is the number of bytes the log's segments hold.
	Size() int64

	// Watch registers ch to receive a value (sent without blocking, so a
	// buffer of one is enough) each time the high watermark moves, until
	// Unwatch. Long-polling fetches wait on it.
	Watch(ch chan<- struct{})
	// Unwatch removes ch.
	Unwatch(ch chan<- struct{})

	// Close flushes what it must and releases the log's files, and
	// signals every watcher once. Further calls return ErrClosed.
	Close() error
}

type holdCommitKey struct{}

// HoldCommit returns a context under which appends do not start making
// themselves durable: the caller is about to append to several logs and
// then wait (SyncTo) for all of them, and one group-commit round that
// covers every append is quicker than a first round started by the first
// append, holding it alone, and a second for the rest. What was appended
// is made durable at the caller's SyncTo, or at the next round anything
// else starts, whichever comes first; a caller that will not call SyncTo
// must not hold. Engines without group commit ignore it.
func HoldCommit(ctx context.Context) context.Context {
	return context.WithValue(ctx, holdCommitKey{}, true)
}

type restoringKey struct{}

// Restoring returns a context under which appends put back batches that a
// log accepted once already (the cluster mode rebuilding a partition's log
// from the bucket): the idempotent-producer checks are skipped, since the
// producers' earlier batches may be in segments not replayed, and the
// producer state is updated from them as from any append.
func Restoring(ctx context.Context) context.Context {
	return context.WithValue(ctx, restoringKey{}, true)
}

// IsRestoring reports whether ctx came from Restoring.
func IsRestoring(ctx context.Context) bool {
	r, _ := ctx.Value(restoringKey{}).(bool)
	return r
}

// CommitHeld reports whether ctx came from HoldCommit.
func CommitHeld(ctx context.Context) bool {
	held, _ := ctx.Value(holdCommitKey{}).(bool)
	return held
}

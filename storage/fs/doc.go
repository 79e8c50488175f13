// Package fs is the local file-system storage engine: each partition's log
// is a directory of segment files holding Kafka RecordBatch v2 batches back
// to back, with Kafka's sparse offset and time indexes beside them.
//
// # Layout
//
//	<dir>/<topic>/<partition>/<base>.log        the segment
//	<dir>/<topic>/<partition>/<base>.index      sparse offset -> position
//	<dir>/<topic>/<partition>/<base>.timeindex  sparse timestamp -> offset
//
// <base> is the base offset of the segment's first batch as 20 decimal
// digits, zero-padded, as Kafka names its files: 00000000000000000042.log.
// The segment with the highest base is the active one, the only one that
// is appended to. Files ending in .tmp or .cleaned are leftovers of an
// interrupted write and are removed when the log is opened; a
// <first>.log.<last>.swap file is a cleaned segment that a crash left
// half swapped in, and opening the log finishes the swap (compact.go).
//
// # Segment (.log)
//
// Batches exactly as package batch describes them, back to back, with no
// framing of this package's own: a batch's own batchLength says where the
// next one starts. The log writes only the base offset (bytes 0-7, not
// covered by the CRC) before storing a batch.
//
//	position 0                           position p
//	+----------------------------------+----------------------------------+--
//	| baseOffset  int64  = base        | baseOffset  int64  = next offset |
//	| batchLength int32  = n - 12      | batchLength int32                |
//	| ... n bytes in all, CRC-32C'd    | ...                              |
//	+----------------------------------+----------------------------------+--
//
// A batch holds [baseOffset, baseOffset+lastOffsetDelta] and an append
// starts the next batch at the offset after. Compaction removes records
// and whole batches but keeps each remaining batch's offsets, so below the
// checkpoint's cleaned offset a batch may start after a gap (as in Kafka);
// a segment still ends where the next begins. No batch spans two
// segments. A segment is rolled (a new one started) before an append that
// would take it past segment.bytes, or when its first append is older than
// segment.ms; a batch larger than segment.bytes gets a segment to itself.
//
// # Offset index (.index)
//
// A sequence of 8-byte entries, big-endian, like Kafka's:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 relative offset (uint32)                      |  byte 0
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 position in .log (uint32)                     |  byte 4
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// An entry says that the batch starting at position has base offset
// <base>+relative offset. Entries are strictly increasing in both fields.
// One is added at the first batch that starts index.interval.bytes or more
// after the previous entry; the segment's first batch has none (it is the
// implicit entry (0, 0)). A reader looks up the greatest entry at or below
// the offset it wants and scans batch headers from that position, which
// is less than index.interval.bytes away from the batch it wants.
//
// # Time index (.timeindex)
//
// A sequence of 12-byte entries, big-endian:
//
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 timestamp (int64, milliseconds)               |  byte 0
//	+                                                               +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 relative offset (uint32)                      |  byte 8
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// An entry (T, O) says that T was the largest max timestamp of any batch in
// the segment when the entry was made, and that the first batch holding it
// has base offset <base>+O. Timestamps are strictly increasing: an entry is
// added, at the same moments as offset entries, only when the maximum has
// grown, plus once more when the segment stops taking appends (roll or
// close), so that a closed segment's last time entry is its maximum. Every
// batch up to O is older than any ts > T, so a search for ts starts at the
// last entry with T < ts.
//
// # Durability and recovery
//
// Append writes a batch with one pwrite and no fsync. The store's committer
// (sync.go) runs group-commit rounds: each takes every log written since
// the previous round began, fsyncs their new data (segments rolled since,
// the active segment, directories that gained entries; up to 32 files at
// once) and only then moves each log's high watermark, so readers see only
// durable batches. Sync waits until the log's durable offset covers what
// was appended before it. With Options.NoSync the high watermark moves at
// the append and fsyncs happen only for flush.messages, flush.ms and Close.
//
// <partition>/checkpoint records the recovery point (a batch boundary
// below which everything was fsynced), the log start offset and the
// idempotent producers' state at the recovery point (producers.go;
// recovery replays the batch headers after it). It is
// replaced whole (temporary file, fsync, rename, directory fsync) every
// Options.CheckpointInterval, after 64 MiB more became durable, at Close,
// and before the log start offset moves (DeleteRecords, retention, which
// remove segments only after). The active segment's index files, cut at the
// recovery point, are written with it. <dir>/.clean-shutdown is written by
// Store.Close after every log closed cleanly and removed by New.
//
// A partition Open creates starts in the nursery (nursery.go): its first
// batches are made durable in the shared journal <dir>/+nursery, and its
// directory and segment file follow in the background, before anything
// else is written there; New replays what the journal holds for
// partitions that had not settled.
//
// Index files are otherwise written (to a .tmp file renamed into place, not
// fsynced) when a segment is rolled and at Close; they are hints that
// recovery checks before it trusts them and rebuilds from the segment
// otherwise.
//
// Open removes segments wholly below the checkpoint's log start offset and
// checks each segment with batch.Parse from its last index entry to its end
// (from the start when its indexes are missing or inconsistent). The first
// batch that is torn or fails its CRC ends the log when it lies at or above
// the recovery point: the file is truncated there, later segments are
// removed, and a warning says how many bytes went. Below the recovery point
// it is media corruption: Open fails with storage.ErrCorrupt and nothing is
// cut. Batches that check but leave a gap in the offsets are corruption
// too, except below the cleaned offset, where compaction made them (or
// anywhere when the checkpoint is missing). After an unclean stop, what
// recovery kept is fsynced before the log is served. Reads check the CRC of every batch not checked since the log
// opened (appends and recovery's scan were) and take the log offline
// (storage.ErrCorrupt) on a mismatch, so no client is served damaged data.
//
// # Write and fsync failures
//
// heal.go has the details. A write that meets a full file system (ENOSPC)
// is cut off and fails with storage.ErrNoSpace; the log stays online. Any
// other write failure, and a failed fsync, take the log offline
// (storage.ErrIO) until it reopens itself from what is on disk: the tail
// past the durable point is cut off (after a failed fsync it is not
// trusted), an empty batch is written over the offsets it had taken, so
// that a late SyncTo for them fails instead of finding other batches
// there, and the producers' state is reloaded. A read that fails fails
// that read only. Every call goes through vfs.FS (Options.FS), which
// tests replace with vfs/errorfs to inject these failures.
//
// # Compaction
//
// Log.Compact is Kafka's log cleaner for one partition: a key index (64-bit
// key hashes to offsets, keyindex.go) over the segments not yet cleaned,
// then every cleanable segment rewritten, in groups of at most
// segment.bytes, keeping each key's latest record; the new segment is
// swapped in so that a crash leaves the old segments or the new one.
// compact.go has the steps.
package fs

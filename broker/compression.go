package broker

// Compressed batches and topic-level compression.type (the configs issue).
//
// Kafka's rule: a batch is held to max.message.bytes as it was sent,
// compressed; what its records expand to is not limited. Its LogValidator
// then walks every record (INVALID_RECORD when one is malformed or they
// disagree with the header, inner offsets out of sequence in a compressed
// batch, a record without a key on a compacted topic, a timestamp out of
// bounds), skipping keys and values rather than materialising them when it
// need not re-encode. StreamHouse does the same: a compressed batch's
// records stream through its decompressor into a batch.Scanner, which keeps
// only the first bytes of each key and value (for schema validation and the
// null checks), so a batch whose records expand to a gigabyte costs a few
// MiB of memory (codec.NewReader's bounds) and the CPU time to stream it.
// That time is bounded by the broker-wide
// streamhouse.batch.decompressed.max.bytes (MESSAGE_TOO_LARGE past it): a
// 32 KiB zstd frame can claim tens of gigabytes. A batch that does not
// decompress is CORRUPT_MESSAGE.
//
// A topic whose compression.type names a codec stores every batch in it:
// a batch that arrives in another codec (or uncompressed) is re-encoded
// with github.com/klauspost/compress or pierrec/lz4, its header kept
// (offsets, timestamps, producer id and sequence) and its CRC recomputed.
// "producer" keeps what the producer sent. Kafka materialises the records
// to re-encode them and then holds the new batch to max.message.bytes
// (MESSAGE_TOO_LARGE); StreamHouse streams the decompressed bytes through
// the target codec's writer into a buffer of at most max.message.bytes, so
// the new batch is the only thing that grows, and no further than what
// Kafka would refuse anyway.
//
// A compacted topic (cleanup.policy with compact) refuses records without a
// key, as Kafka does (INVALID_RECORD); and since the log cleaner rewrites a
// batch's records in memory, a compressed batch of a compacted topic may
// not expand past what the cleaner holds (cleanerBatchBytes:
// socket.request.max.bytes) either.

import (
	"errors"
	"io"
	"math"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/codec"
)

// topicCodec is the codec compression.type asks for, ok false for
// "producer".
func topicCodec(compressionType string) (batch.Codec, bool) {
	switch compressionType {
	case "uncompressed":
		return batch.CodecNone, true
	case "gzip":
		return batch.CodecGzip, true
	case "snappy":
		return batch.CodecSnappy, true
	case "lz4":
		return batch.CodecLZ4, true
	case "zstd":
		return batch.CodecZstd, true
	}
	return 0, false
}

// scanBuffer is the size of the buffer a compressed batch's records stream
// through.
const scanBuffer = 32 << 10

// scanners are the batch.Scanners of the produce path, reused.
var scanners = sync.Pool{New: func() any { return batch.NewScanner(scanBuffer) }}

// cleanerBatchBytes is the most a batch's records may expand to for the log
// cleaner, which rewrites them in memory.
func (s *Server) cleanerBatchBytes() int { return int(s.settings().SocketRequestMaxBytes()) }

// recordWalk is what checking a batch's records found, record by record.
type recordWalk struct {
	sc         *schemaCheck
	compressed bool
	base       int64 // the batch's base timestamp

	n         int32 // records seen
	keyless   bool
	schemaErr error
	badOffset int32 // index of the first record whose offset delta is not its index; -1: none
	oldest    int64 // smallest timestamp
}

// record takes one record: key and value are the whole key and value, or
// their first bytes (batch.PrefixSize), nil when null.
func (w *recordWalk) record(tsDelta int64, offsetDelta int32, key, value []byte) {
	if w.sc != nil && w.schemaErr == nil && !w.sc.cached(key, value) {
		w.schemaErr = w.sc.record(int(w.n), key, value)
	}
	if w.compressed && offsetDelta != w.n && w.badOffset < 0 {
		w.badOffset = w.n
	}
	w.n++
	w.keyless = w.keyless || key == nil
	w.oldest = min(w.oldest, w.base+tsDelta)
}

// checkCompressed decodes every record of a batch (streaming a compressed
// one through its decompressor) and re-encodes the batch when the topic
// stores another codec. It returns the batch to store (records itself when
// nothing changes) and the oldest timestamp of its records.
func (s *Server) checkCompressed(t *topic, records []byte, h *batch.Header) ([]byte, int64, error) {
	src := h.Codec()
	target, fixed := topicCodec(t.cfg.CompressionType)
	if !fixed {
		target = src
	}
	sc, err := s.newSchemaCheck(t)
	if err != nil {
		return nil, 0, err
	}
	w := recordWalk{sc: sc, compressed: src != batch.CodecNone, base: h.BaseTimestamp, badOffset: -1, oldest: math.MaxInt64}
	section := batch.RecordsSection(records, h)
	var out *cappedBuffer
	if src == batch.CodecNone {
		// batch.Check only counted an uncompressed batch's length
		// prefixes: a record malformed inside its length would be stored
		// and break every consumer.
		if err := batch.Records(section, func(r batch.Record) bool {
			w.record(r.TimestampDelta, r.OffsetDelta, r.Key, r.Value)
			return true
		}); err != nil {
			return nil, 0, kafkaError(kerr.InvalidRecord, "the batch's records (%s) are malformed: %v", src, err)
		}
	} else if out, err = s.streamRecords(t, section, src, target, &w); err != nil {
		return nil, 0, err
	}
	if err := w.verdict(t, h, src); err != nil {
		return nil, 0, err
	}
	if target == src {
		return records, w.oldest, nil
	}
	if out == nil { // uncompressed, into a codec: the records are at hand
		out = &cappedBuffer{max: int(t.cfg.MaxMessageBytes) - batch.HeaderSize}
		enc, err := s.codecs.NewWriter(int8(target), out)
		if err == nil {
			_, err = enc.Write(section)
			if cerr := enc.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return nil, 0, kafkaError(kerr.UnknownServerError, "re-encoding the batch with %s: %v", target, err)
		}
	}
	if out.full {
		// Kafka's check of the batch it re-encoded (RecordTooLargeException).
		return nil, 0, kafkaError(kerr.MessageTooLarge, "the batch re-encoded with %s for the topic's compression.type is larger than max.message.bytes (%d)", target, t.cfg.MaxMessageBytes)
	}
	return batch.Reencode(records, h, target, out.b), w.oldest, nil
}

// verdict applies the checks that need every record seen, in Kafka's order.
func (w *recordWalk) verdict(t *topic, h *batch.Header, src batch.Codec) error {
	if w.n != h.RecordCount {
		return kafkaError(kerr.InvalidRecord, "the batch (%s) holds %d records, its header says %d", src, w.n, h.RecordCount)
	}
	if w.badOffset >= 0 {
		// LogValidator: a compressed batch's inner offsets must be 0, 1, 2, ...
		return kafkaError(kerr.InvalidRecord, "inner record %d of the compressed (%s) batch does not have incremental offsets", w.badOffset, src)
	}
	if w.schemaErr != nil {
		return w.schemaErr
	}
	if w.keyless && t.cfg.CleanupCompact {
		// Compaction keeps the latest record per key: Kafka refuses a
		// record without one on a compacted topic.
		return kafkaError(kerr.InvalidRecord, "Compacted topic cannot accept message without key in topic partition %s.", t.Name)
	}
	return nil
}

// streamRecords walks the records of a compressed section through a
// batch.Scanner; when target differs from src, the decompressed bytes also
// stream through target's encoder into the buffer it returns.
func (s *Server) streamRecords(t *topic, section []byte, src, target batch.Codec, w *recordWalk) (*cappedBuffer, error) {
	limit := s.settings().BatchDecompressedMaxBytes()
	limitName := "streamhouse.batch.decompressed.max.bytes"
	if t.cfg.CleanupCompact && int64(s.cleanerBatchBytes()) < limit {
		limit, limitName = int64(s.cleanerBatchBytes()), "what the log cleaner rewrites of a compacted topic's batch, socket.request.max.bytes"
	}
	rd, err := s.codecs.NewReader(int8(src), section, limit)
	if err != nil {
		return nil, kafkaError(kerr.CorruptMessage, "the %s batch does not decompress: %v", src, err)
	}
	defer rd.Close()
	var in io.Reader = rd
	var out *cappedBuffer
	var enc *codec.Writer
	var tee *teeReader
	if target != src {
		out = &cappedBuffer{max: int(t.cfg.MaxMessageBytes) - batch.HeaderSize}
		var dst io.Writer = out
		if target != batch.CodecNone {
			if enc, err = s.codecs.NewWriter(int8(target), out); err != nil {
				return nil, kafkaError(kerr.UnknownServerError, "re-encoding the batch with %s: %v", target, err)
			}
			dst = enc
		}
		tee = &teeReader{r: rd, w: dst, out: out}
		in = tee
	}
	sc := scanners.Get().(*batch.Scanner)
	err = sc.Scan(in, func(r *batch.RecordInfo) bool {
		w.record(r.TimestampDelta, r.OffsetDelta, r.Key, r.Value)
		return true
	})
	scanners.Put(sc)
	if enc != nil {
		if cerr := enc.Close(); tee.err == nil {
			tee.err = cerr
		}
	}
	switch {
	case errors.Is(err, codec.ErrTooLarge):
		return nil, kafkaError(kerr.MessageTooLarge, "the %s batch's records expand past %d bytes (%s)", src, limit, limitName)
	case errors.Is(err, batch.ErrRecord):
		return nil, kafkaError(kerr.InvalidRecord, "the batch's records (%s) are malformed: %v", src, err)
	case err != nil:
		return nil, kafkaError(kerr.CorruptMessage, "the %s batch does not decompress: %v", src, err)
	case tee != nil && tee.err != nil:
		return nil, kafkaError(kerr.UnknownServerError, "re-encoding the batch with %s: %v", target, tee.err)
	}
	return out, nil
}

// teeReader is io.TeeReader that stops writing once out is full (the
// scan goes on, to judge the records) and keeps the write error.
type teeReader struct {
	r   io.Reader
	w   io.Writer
	out *cappedBuffer
	err error
}

func (t *teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 && !t.out.full && t.err == nil {
		_, t.err = t.w.Write(p[:n])
	}
	return n, err
}

// cappedBuffer collects a re-encoded records section up to max bytes;
// past them it drops what comes and says so (full).
type cappedBuffer struct {
	b    []byte
	max  int
	full bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if c.full || len(c.b)+len(p) > c.max {
		c.full, c.b = true, nil
		return len(p), nil
	}
	c.b = append(c.b, p...)
	return len(p), nil
}

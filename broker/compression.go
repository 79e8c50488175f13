package broker

// Compressed batches and topic-level compression.type (the configs issue).
//
// Every compressed batch a producer sends is decompressed once, bounded by
// the topic's max.message.bytes: a batch whose records would expand past it
// is refused as CORRUPT_MESSAGE without being expanded further (a
// compression bomb costs at most that much memory), as is one that does not
// decompress. Every batch's records, compressed or not, are then decoded
// one by one and counted, as Kafka's LogValidator iterates them
// (INVALID_RECORD when one is malformed or they disagree with the header).
//
// A topic whose compression.type names a codec stores every batch in it:
// a batch that arrives in another codec (or uncompressed) is re-encoded
// with github.com/klauspost/compress or pierrec/lz4, its header kept
// (offsets, timestamps, producer id and sequence) and its CRC recomputed.
// "producer" keeps what the producer sent.
//
// A compacted topic (cleanup.policy with compact) refuses records without a
// key, as Kafka does (INVALID_RECORD).

import (
	"errors"

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

// checkCompressed decodes every record of a batch (decompressing a
// compressed one, bounded), and re-encodes it when the topic stores another codec. It
// returns the batch to store, records itself when nothing changes.
func (s *Server) checkCompressed(t *topic, records []byte, h *batch.Header) ([]byte, error) {
	src := h.Codec()
	target, fixed := topicCodec(t.cfg.CompressionType)
	if !fixed {
		target = src
	}
	plain := batch.RecordsSection(records, h)
	if src != batch.CodecNone {
		var err error
		plain, err = s.codecs.Decompress(int8(src), nil, plain, int(t.cfg.MaxMessageBytes))
		switch {
		case errors.Is(err, codec.ErrTooLarge):
			return nil, kafkaError(kerr.CorruptMessage, "the %s batch's records expand past max.message.bytes (%d)", src, t.cfg.MaxMessageBytes)
		case err != nil:
			return nil, kafkaError(kerr.CorruptMessage, "the %s batch does not decompress: %v", src, err)
		}
	}
	// batch.Check only counted an uncompressed batch's length prefixes: a
	// record malformed inside its length would be stored and break every
	// consumer.
	n := int32(0)
	keyless := false
	sc, err := s.newSchemaCheck(t)
	if err != nil {
		return nil, err
	}
	var schemaErr error
	if err := batch.Records(plain, func(r batch.Record) bool {
		if sc != nil && schemaErr == nil && !sc.cached(r.Key, r.Value) {
			schemaErr = sc.record(int(n), r.Key, r.Value)
		}
		n++
		keyless = keyless || r.Key == nil
		return true
	}); err != nil {
		return nil, kafkaError(kerr.InvalidRecord, "the batch's records (%s) are malformed: %v", src, err)
	}
	if n != h.RecordCount {
		return nil, kafkaError(kerr.InvalidRecord, "the batch (%s) holds %d records, its header says %d", src, n, h.RecordCount)
	}
	if schemaErr != nil {
		return nil, schemaErr
	}
	if keyless && t.cfg.CleanupCompact {
		// Compaction keeps the latest record per key: Kafka refuses a
		// record without one on a compacted topic.
		return nil, kafkaError(kerr.InvalidRecord, "Compacted topic cannot accept message without key in topic partition %s.", t.Name)
	}
	if target == src {
		return records, nil
	}
	out := plain
	if target != batch.CodecNone {
		var err error
		if out, err = s.codecs.Compress(int8(target), nil, plain); err != nil {
			return nil, kafkaError(kerr.UnknownServerError, "re-encoding the batch with %s: %v", target, err)
		}
	}
	return batch.Reencode(records, h, target, out), nil
}

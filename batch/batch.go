// Package batch reads and edits Kafka RecordBatch v2 (magic 2) as bytes.
//
// A batch is stored and served exactly as a producer sent it; this package
// only checks it and writes the few fields a broker owns (base offset,
// partition leader epoch, LogAppendTime) in place. It does no I/O and never
// decodes or copies records, so the same parser serves produce validation
// and log recovery.
//
// The layout, big-endian, as Kafka defines it:
//
//	offset  size  field
//	     0     8  baseOffset             written by the broker
//	     8     4  batchLength            bytes after this field
//	    12     4  partitionLeaderEpoch   written by the broker
//	    16     1  magic                  2
//	    17     4  crc                    CRC-32C of bytes [21, end)
//	    21     2  attributes             bits 0-2 codec, 3 timestamp type,
//	                                     4 transactional, 5 control,
//	                                     6 delete horizon
//	    23     4  lastOffsetDelta
//	    27     8  baseTimestamp
//	    35     8  maxTimestamp
//	    43     8  producerId
//	    51     2  producerEpoch
//	    53     4  baseSequence
//	    57     4  recordCount
//	    61     -  records (compressed as a whole when codec != 0)
//
// An uncompressed record is a varint length (a Kafka int32 varint: at most
// five bytes) followed by that many bytes; Check looks no further into a
// record, Records does (see record.go).
package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Sizes and offsets of the RecordBatch v2 header.
const (
	HeaderSize = 61 // bytes before the first record

	// LengthOverhead is what batchLength does not count: baseOffset and
	// batchLength itself. A batch occupies LengthOverhead+batchLength bytes.
	LengthOverhead = 12

	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57

	// Magic is the only record format this package reads.
	Magic = 2
)

// Attribute bits.
const (
	AttrCodecMask      = 0x07
	AttrLogAppendTime  = 0x08
	AttrTransactional  = 0x10
	AttrControl        = 0x20
	AttrDeleteHorizon  = 0x40
	maxKnownCodec      = 4 // zstd
	attrTimestampShift = 3
)

// Codec is the compression of a batch's records, as in its attributes.
type Codec int8

// Codecs, numbered as Kafka numbers them.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// Errors returned by Parse and Check. Each says what is wrong with the bytes;
// the broker maps them to Kafka error codes.
var (
	// ErrShort means the bytes end before the batch does: a header cut off
	// or a batchLength that claims more than is there. In a log this is a
	// torn tail.
	ErrShort = errors.New("batch: truncated")
	// ErrLength means batchLength is smaller than a header.
	ErrLength = errors.New("batch: invalid length")
	// ErrMagic means the magic byte is not 2.
	ErrMagic = errors.New("batch: unsupported magic")
	// ErrCRC means the CRC-32C does not match the bytes.
	ErrCRC = errors.New("batch: CRC mismatch")
	// ErrCodec means the attributes name a codec that does not exist.
	ErrCodec = errors.New("batch: unknown compression codec")
	// ErrCount means recordCount, lastOffsetDelta and (for uncompressed
	// batches) the records themselves do not agree.
	ErrCount = errors.New("batch: inconsistent record count")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is a decoded view of a batch header. It holds copies of the fields,
// not a reference to the bytes.
type Header struct {
	BaseOffset           int64
	Length               int32 // batchLength: the batch is Length+LengthOverhead bytes
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	RecordCount          int32
}

// Size is the number of bytes the whole batch occupies.
func (h *Header) Size() int { return int(h.Length) + LengthOverhead }

// LastOffset is the offset of the batch's last record.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset that follows the batch.
func (h *Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Codec is the compression of the records.
func (h *Header) Codec() Codec { return Codec(h.Attributes & AttrCodecMask) }

// LogAppendTime reports whether the timestamps are the broker's append time.
func (h *Header) LogAppendTime() bool { return h.Attributes&AttrLogAppendTime != 0 }

// Transactional reports whether the batch belongs to a transaction.
func (h *Header) Transactional() bool { return h.Attributes&AttrTransactional != 0 }

// Control reports whether the batch holds a control record (a transaction
// marker).
func (h *Header) Control() bool { return h.Attributes&AttrControl != 0 }

// ReadHeader decodes the header at the start of b. It checks only that the
// header is there and that batchLength is plausible: it reads no further than
// HeaderSize bytes and does not require the rest of the batch. Use it to
// learn how long a batch is before reading it whole.
func ReadHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, ErrShort
	}
	h.BaseOffset = int64(binary.BigEndian.Uint64(b[offBaseOffset:]))
	h.Length = int32(binary.BigEndian.Uint32(b[offLength:]))
	h.PartitionLeaderEpoch = int32(binary.BigEndian.Uint32(b[offLeaderEpoch:]))
	h.Magic = int8(b[offMagic])
	h.CRC = binary.BigEndian.Uint32(b[offCRC:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[offAttributes:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:]))
	h.BaseTimestamp = int64(binary.BigEndian.Uint64(b[offBaseTimestamp:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[offMaxTimestamp:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[offProducerID:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[offProducerEpoch:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[offBaseSequence:]))
	h.RecordCount = int32(binary.BigEndian.Uint32(b[offRecordCount:]))
	if h.Length < HeaderSize-LengthOverhead {
		return h, ErrLength
	}
	if h.Magic != Magic {
		return h, ErrMagic
	}
	return h, nil
}

// Parse decodes and checks the batch at the start of b: the header, that the
// whole batch is present, the CRC-32C and the codec. It returns the header;
// the batch is b[:h.Size()]. Bytes after the batch are not looked at.
//
// Parse is what log recovery runs on every batch after the last checkpoint.
func Parse(b []byte) (Header, error) {
	h, err := ReadHeader(b)
	if err != nil {
		return h, err
	}
	if int64(h.Length)+LengthOverhead > int64(len(b)) {
		return h, ErrShort
	}
	size := h.Size()
	if crc32.Checksum(b[offAttributes:size], castagnoli) != h.CRC {
		return h, ErrCRC
	}
	if h.Attributes&AttrCodecMask > maxKnownCodec {
		return h, ErrCodec
	}
	return h, nil
}

// Check is Parse plus the record-count checks a broker makes on a batch that
// a producer sent: recordCount is positive, lastOffsetDelta is
// recordCount-1, and for an uncompressed batch the records' length prefixes
// add up to exactly the batch with exactly recordCount records. It reads
// only varint length prefixes and copies nothing.
func Check(b []byte) (Header, error) {
	h, err := Parse(b)
	if err != nil {
		return h, err
	}
	if h.RecordCount <= 0 || h.LastOffsetDelta != h.RecordCount-1 {
		return h, ErrCount
	}
	if h.Codec() == CodecNone {
		n, ok := countRecords(b[HeaderSize:h.Size()], h.RecordCount)
		if !ok || n != h.RecordCount {
			return h, ErrCount
		}
	}
	return h, nil
}

// countRecords walks the varint length prefixes of uncompressed records. It
// stops after limit records; ok is false when a length is malformed or runs
// past the end, or bytes are left over. A length prefix is a Kafka int32
// varint (varint32), as Records reads it.
func countRecords(b []byte, limit int32) (n int32, ok bool) {
	for len(b) > 0 {
		if n == limit {
			return n, false // more records than the header says
		}
		l, w := varint32(b)
		if w <= 0 || l <= 0 || int(l) > len(b)-w {
			return n, false
		}
		b = b[w+int(l):]
		n++
	}
	return n, true
}

// SetBaseOffset writes the base offset into a batch. The CRC does not cover
// it, so nothing else changes.
func SetBaseOffset(b []byte, offset int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(offset))
}

// SetPartitionLeaderEpoch writes the partition leader epoch into a batch. The
// CRC does not cover it.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the batch's timestamps as the broker's append time
// ts (milliseconds): it sets the timestamp-type attribute and maxTimestamp,
// and recomputes the CRC over the batch (b may run on past it). b must start
// with a batch that Parse accepted. Kafka leaves baseTimestamp and the record
// deltas as the producer wrote them; consumers use maxTimestamp for every
// record of a LogAppendTime batch.
func SetLogAppendTime(b []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(b[offAttributes:]) | AttrLogAppendTime
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	size := int(binary.BigEndian.Uint32(b[offLength:])) + LengthOverhead
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:size], castagnoli))
}

// Size returns the total size of the batch at the start of b from its
// batchLength field, or -1 when fewer than the 12 bytes holding it are there
// or the length is negative. It does not check anything else.
func Size(b []byte) int {
	if len(b) < LengthOverhead {
		return -1
	}
	l := int32(binary.BigEndian.Uint32(b[offLength:]))
	if l < 0 {
		return -1
	}
	return int(l) + LengthOverhead
}

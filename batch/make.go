package batch

import (
	"encoding/binary"
	"hash/crc32"
)

// KeyValue is one record for Make: a nil Key or Value is null (a nil
// Value is a tombstone in a compacted topic).
type KeyValue struct {
	Key, Value []byte
}

// Make returns a batch of the records, in order, as a broker writes its
// own records (Kafka's coordinators writing __consumer_offsets):
// uncompressed, no producer (id and epoch -1, sequence -1), every
// timestamp ts (milliseconds), no headers, base offset 0 until
// SetBaseOffset writes it. It panics on an empty records: a batch holds at
// least one record.
func Make(records []KeyValue, ts int64) []byte {
	if len(records) == 0 {
		panic("batch: Make of no records")
	}
	b := make([]byte, HeaderSize, HeaderSize+len(records)*32)
	var rec []byte
	for i, r := range records {
		rec = rec[:0]
		rec = append(rec, 0)                     // attributes
		rec = binary.AppendVarint(rec, 0)        // timestampDelta
		rec = binary.AppendVarint(rec, int64(i)) // offsetDelta
		rec = appendVarBytes(rec, r.Key)         // key
		rec = appendVarBytes(rec, r.Value)       // value
		rec = binary.AppendVarint(rec, 0)        // headers
		b = binary.AppendVarint(b, int64(len(rec)))
		b = append(b, rec...)
	}
	be := binary.BigEndian
	be.PutUint32(b[offLength:], uint32(len(b)-LengthOverhead))
	be.PutUint32(b[offLeaderEpoch:], 0xffffffff)
	b[offMagic] = Magic
	be.PutUint16(b[offAttributes:], 0)
	be.PutUint32(b[offLastOffsetDelta:], uint32(len(records)-1))
	be.PutUint64(b[offBaseTimestamp:], uint64(ts))
	be.PutUint64(b[offMaxTimestamp:], uint64(ts))
	be.PutUint64(b[offProducerID:], ^uint64(0))
	be.PutUint16(b[offProducerEpoch:], 0xffff)
	be.PutUint32(b[offBaseSequence:], 0xffffffff)
	be.PutUint32(b[offRecordCount:], uint32(len(records)))
	be.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return b
}

// appendVarBytes appends v as a record's key or value: its length as a
// varint, -1 for null, then its bytes.
func appendVarBytes(dst, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(v)))
	return append(dst, v...)
}

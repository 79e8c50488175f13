package batch

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// Control record types (Kafka's ControlRecordType): the transaction
// markers a coordinator writes into each partition of a transaction.
const (
	ControlAbort  int16 = 0
	ControlCommit int16 = 1
)

// ErrControl: a control batch whose record is not a control record this
// package knows.
var ErrControl = errors.New("batch: malformed control record")

// MakeControl returns a transaction marker batch: one control record of
// type typ (ControlAbort or ControlCommit) for producer id and epoch,
// timestamp ts (milliseconds), coordinator epoch coordEpoch, base offset 0,
// as Kafka's EndTransactionMarker writes it (key: version 0, type; value:
// version 0, coordinator epoch).
func MakeControl(typ int16, producerID int64, epoch int16, coordEpoch int32, ts int64) []byte {
	var rec []byte
	rec = append(rec, 0)              // attributes
	rec = binary.AppendVarint(rec, 0) // timestampDelta
	rec = binary.AppendVarint(rec, 0) // offsetDelta
	rec = binary.AppendVarint(rec, 4) // key length
	rec = binary.BigEndian.AppendUint16(rec, 0)
	rec = binary.BigEndian.AppendUint16(rec, uint16(typ))
	rec = binary.AppendVarint(rec, 6) // value length
	rec = binary.BigEndian.AppendUint16(rec, 0)
	rec = binary.BigEndian.AppendUint32(rec, uint32(coordEpoch))
	rec = binary.AppendVarint(rec, 0) // headers

	b := make([]byte, HeaderSize, HeaderSize+len(rec)+binary.MaxVarintLen32)
	b = binary.AppendVarint(b, int64(len(rec)))
	b = append(b, rec...)
	be := binary.BigEndian
	be.PutUint32(b[offLength:], uint32(len(b)-LengthOverhead))
	be.PutUint32(b[offLeaderEpoch:], 0xffffffff)
	b[offMagic] = Magic
	be.PutUint16(b[offAttributes:], AttrTransactional|AttrControl)
	be.PutUint32(b[offLastOffsetDelta:], 0)
	be.PutUint64(b[offBaseTimestamp:], uint64(ts))
	be.PutUint64(b[offMaxTimestamp:], uint64(ts))
	be.PutUint64(b[offProducerID:], uint64(producerID))
	be.PutUint16(b[offProducerEpoch:], uint16(epoch))
	be.PutUint32(b[offBaseSequence:], 0xffffffff)
	be.PutUint32(b[offRecordCount:], 1)
	be.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return b
}

// ControlType returns the type of the control record that starts the
// records of control batch b (b holds at least the header and the first
// record's key; the rest is not looked at).
func ControlType(b []byte) (int16, error) {
	if len(b) < HeaderSize {
		return 0, ErrControl
	}
	r := b[HeaderSize:]
	// length, attributes, timestampDelta, offsetDelta, key length
	_, w := varint32(r)
	if w <= 0 || len(r) < w+1 {
		return 0, ErrControl
	}
	r = r[w+1:]
	if _, w = binary.Varint(r); w <= 0 { // timestampDelta (varlong)
		return 0, ErrControl
	}
	r = r[w:]
	if _, w = varint32(r); w <= 0 { // offsetDelta
		return 0, ErrControl
	}
	r = r[w:]
	klen, w := varint32(r)
	if w <= 0 || klen < 4 || len(r) < w+4 {
		return 0, ErrControl
	}
	r = r[w:]
	if version := int16(binary.BigEndian.Uint16(r)); version != 0 {
		return 0, ErrControl
	}
	typ := int16(binary.BigEndian.Uint16(r[2:]))
	if typ != ControlAbort && typ != ControlCommit {
		return 0, ErrControl
	}
	return typ, nil
}

// Reencode returns a new batch with b's header (h, from Parse) and records,
// the records section given as section, compressed with codec c (the
// section must already be in that codec): the attributes' codec bits, the
// length and the CRC follow. b is not changed.
func Reencode(b []byte, h *Header, c Codec, section []byte) []byte {
	return AppendRebuilt(make([]byte, 0, HeaderSize+len(section)), b, h.RecordCount, c, section)
}

// AppendRebuilt appends to dst a batch with the header of b (a batch, or at
// least its HeaderSize bytes) but count records, given as section in codec
// c: the record count, the attributes' codec bits, the length and the CRC
// are set; everything else (base offset, lastOffsetDelta, timestamps,
// producer fields) is b's. The log cleaner uses it to write a batch with
// some records removed, as Kafka keeps a cleaned batch's offsets and
// producer fields.
func AppendRebuilt(dst, b []byte, count int32, c Codec, section []byte) []byte {
	at := len(dst)
	dst = append(dst, b[:HeaderSize]...)
	dst = append(dst, section...)
	out := dst[at:]
	attrs := binary.BigEndian.Uint16(out[offAttributes:])&^uint16(AttrCodecMask) | uint16(c)&AttrCodecMask
	binary.BigEndian.PutUint16(out[offAttributes:], attrs)
	binary.BigEndian.PutUint32(out[offRecordCount:], uint32(count))
	binary.BigEndian.PutUint32(out[offLength:], uint32(len(out)-LengthOverhead))
	binary.BigEndian.PutUint32(out[offCRC:], crc32.Checksum(out[offAttributes:], castagnoli))
	return dst
}

// MakeEmpty returns a batch that holds no record but takes the offsets
// [0, lastOffsetDelta] (from its base offset, once SetBaseOffset wrote
// it), as the batches that log compaction empties do: no producer, no
// timestamp (-1), uncompressed, a valid CRC. storage/fs writes one over
// the offsets of appends that an I/O failure dropped before they were
// durable, so that those offsets never name other records.
func MakeEmpty(lastOffsetDelta int32) []byte {
	b := make([]byte, HeaderSize)
	be := binary.BigEndian
	be.PutUint32(b[offLength:], uint32(HeaderSize-LengthOverhead))
	be.PutUint32(b[offLeaderEpoch:], 0xffffffff)
	b[offMagic] = Magic
	be.PutUint32(b[offLastOffsetDelta:], uint32(lastOffsetDelta))
	be.PutUint64(b[offBaseTimestamp:], ^uint64(0))
	be.PutUint64(b[offMaxTimestamp:], ^uint64(0))
	be.PutUint64(b[offProducerID:], ^uint64(0))
	be.PutUint16(b[offProducerEpoch:], 0xffff)
	be.PutUint32(b[offBaseSequence:], 0xffffffff)
	be.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return b
}

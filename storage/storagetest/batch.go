package storagetest

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/streamhouse/streamhouse/batch"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MakeBatch returns a valid, uncompressed RecordBatch v2 that passes
// batch.Check: records records with null keys, values of valueSize bytes
// and no headers, every timestamp ts (so baseTimestamp = maxTimestamp =
// ts), base offset 0, no producer id. Values are a pattern derived from ts
// and the record's index, so that batches made with different timestamps
// differ. It panics when records < 1 or valueSize < 0.
func MakeBatch(records int, valueSize int, ts int64) []byte {
	if records < 1 || valueSize < 0 {
		panic(fmt.Sprintf("storagetest: MakeBatch(%d, %d): need records >= 1 and valueSize >= 0", records, valueSize))
	}
	b := make([]byte, batch.HeaderSize, batch.HeaderSize+records*(valueSize+16))
	var rec []byte
	for i := range records {
		rec = rec[:0]
		rec = append(rec, 0)                             // attributes
		rec = binary.AppendVarint(rec, 0)                // timestampDelta
		rec = binary.AppendVarint(rec, int64(i))         // offsetDelta
		rec = binary.AppendVarint(rec, -1)               // key: null
		rec = binary.AppendVarint(rec, int64(valueSize)) // value length
		for j := range valueSize {
			rec = append(rec, byte(ts)+byte(i)*31+byte(j))
		}
		rec = binary.AppendVarint(rec, 0) // header count
		b = binary.AppendVarint(b, int64(len(rec)))
		b = append(b, rec...)
	}
	return finishBatch(b, records, ts)
}

// KV is one record of MakeKeyedBatch: a nil Key or Value is a null one (a
// nil Value with a key is a tombstone).
type KV struct{ Key, Value []byte }

// MakeKeyedBatch is a batch of the records kvs, as MakeBatch makes them
// but with keys.
func MakeKeyedBatch(ts int64, kvs ...KV) []byte {
	if len(kvs) == 0 {
		panic("storagetest: MakeKeyedBatch needs a record")
	}
	b := make([]byte, batch.HeaderSize)
	var rec []byte
	appendBytes := func(v []byte) {
		if v == nil {
			rec = binary.AppendVarint(rec, -1)
			return
		}
		rec = binary.AppendVarint(rec, int64(len(v)))
		rec = append(rec, v...)
	}
	for i, kv := range kvs {
		rec = rec[:0]
		rec = append(rec, 0)                     // attributes
		rec = binary.AppendVarint(rec, 0)        // timestampDelta
		rec = binary.AppendVarint(rec, int64(i)) // offsetDelta
		appendBytes(kv.Key)
		appendBytes(kv.Value)
		rec = binary.AppendVarint(rec, 0) // header count
		b = binary.AppendVarint(b, int64(len(rec)))
		b = append(b, rec...)
	}
	return finishBatch(b, len(kvs), ts)
}

// finishBatch writes the header of a batch of records, every timestamp ts.
func finishBatch(b []byte, records int, ts int64) []byte {
	be := binary.BigEndian
	be.PutUint64(b[0:], 0)                                   // baseOffset
	be.PutUint32(b[8:], uint32(len(b)-batch.LengthOverhead)) // batchLength
	be.PutUint32(b[12:], 0xffffffff)                         // partitionLeaderEpoch -1
	b[16] = batch.Magic                                      // magic
	be.PutUint16(b[21:], 0)                                  // attributes
	be.PutUint32(b[23:], uint32(records-1))                  // lastOffsetDelta
	be.PutUint64(b[27:], uint64(ts))                         // baseTimestamp
	be.PutUint64(b[35:], uint64(ts))                         // maxTimestamp
	be.PutUint64(b[43:], 0xffffffffffffffff)                 // producerId -1
	be.PutUint16(b[51:], 0xffff)                             // producerEpoch -1
	be.PutUint32(b[53:], 0xffffffff)                         // baseSequence -1
	be.PutUint32(b[57:], uint32(records))                    // recordCount
	be.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli)) // crc
	return b
}

// MakeIdempotentBatch is MakeBatch from producer id pid at epoch, its
// first record at sequence seq.
func MakeIdempotentBatch(records, valueSize int, ts, pid int64, epoch int16, seq int32) []byte {
	b := MakeBatch(records, valueSize, ts)
	be := binary.BigEndian
	be.PutUint64(b[43:], uint64(pid))
	be.PutUint16(b[51:], uint16(epoch))
	be.PutUint32(b[53:], uint32(seq))
	be.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

// MakeTxnBatch is MakeIdempotentBatch marked transactional.
func MakeTxnBatch(records, valueSize int, ts, pid int64, epoch int16, seq int32) []byte {
	b := MakeIdempotentBatch(records, valueSize, ts, pid, epoch, seq)
	binary.BigEndian.PutUint16(b[21:], batch.AttrTransactional)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

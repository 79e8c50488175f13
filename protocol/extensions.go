package protocol

import "encoding/binary"

// StreamHouse's extensions of Kafka responses ride in tagged fields
// (KIP-482), which every client that does not know a tag skips: tags far
// above any Kafka allocates (Kafka numbers a struct's tags from 0).

// TagRemoteLogSize is a DescribeLogDirs (v2+) partition's tag carrying the
// bytes of the partition held in object storage (tiered storage), an int64
// big-endian; Size is then what the log directory holds. Absent: nothing
// is tiered.
const TagRemoteLogSize = 10000

// AppendInt64 encodes a tag's int64 value.
func AppendInt64(dst []byte, v int64) []byte { return binary.BigEndian.AppendUint64(dst, uint64(v)) }

// ReadInt64 decodes a tag's int64 value; ok is false when it is not 8 bytes.
func ReadInt64(b []byte) (v int64, ok bool) {
	if len(b) != 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(b)), true
}

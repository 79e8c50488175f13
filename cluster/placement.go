package cluster

import (
	"encoding/binary"
	"hash/fnv"

	"github.com/streamhouse/streamhouse/meta"
)

// Owner is the broker that should hold key among the live node ids:
// rendezvous (highest random weight) hashing, so that every broker computes
// the same answer from the same membership, a broker that joins takes about
// 1/n of the leases from each of the others, and one that leaves gives its
// leases to the others evenly, nobody else's moving. -1 when nodes is empty.
func Owner(key meta.LeaseKey, nodes []int32) int32 {
	owner, best := int32(-1), uint64(0)
	for _, n := range nodes {
		if w := weight(key, n); owner < 0 || w > best || (w == best && n < owner) {
			owner, best = n, w
		}
	}
	return owner
}

// weight is the hash of a lease key and a node id.
func weight(key meta.LeaseKey, node int32) uint64 {
	var b [2 + 16 + 4 + 4]byte
	binary.BigEndian.PutUint16(b[0:], uint16(key.Kind))
	copy(b[2:], key.TopicID[:])
	binary.BigEndian.PutUint32(b[18:], uint32(key.Partition))
	binary.BigEndian.PutUint32(b[22:], uint32(node))
	h := fnv.New64a()
	h.Write(b[:])
	// FNV's low bits mix poorly for inputs differing in their last
	// bytes: finish with a 64-bit mixer (splitmix64's).
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

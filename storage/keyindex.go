package storage

import "hash/maphash"

// KeyIndex is the cleaner's map from a record key to the offset of its
// latest record, Kafka's SkimpyOffsetMap: keys are kept as 64-bit hashes,
// not bytes, in an open-addressing table of two parallel arrays, so that an
// entry costs 16 bytes at most (hash and offset) over the table's load
// factor. Two keys whose hashes collide count as one, and the older of the
// two is removed: with 64-bit hashes that takes billions of keys to become
// likely, the same trade Kafka makes with its 16-byte MD5s.
type KeyIndex struct {
	seed    maphash.Seed
	hashes  []uint64 // 0: empty slot
	offsets []int64
	n       int
	max     int // most keys: put fails past it
}

const keyIndexMinSlots = 1 << 10

// NewKeyIndex returns an empty index that holds at most maxKeys keys.
func NewKeyIndex(maxKeys int) *KeyIndex {
	return &KeyIndex{
		seed:    maphash.MakeSeed(),
		hashes:  make([]uint64, keyIndexMinSlots),
		offsets: make([]int64, keyIndexMinSlots),
		max:     max(maxKeys, 1),
	}
}

func (x *KeyIndex) hash(key []byte) uint64 {
	h := maphash.Bytes(x.seed, key)
	if h == 0 {
		h = 1
	}
	return h
}

// Put records offset as key's latest; false when the index is full and key
// is not in it.
func (x *KeyIndex) Put(key []byte, offset int64) bool {
	h := x.hash(key)
	if i, found := x.slot(h); found {
		x.offsets[i] = offset
		return true
	}
	if x.n >= x.max {
		return false
	}
	if (x.n+1)*4 > len(x.hashes)*3 {
		x.grow()
	}
	i, _ := x.slot(h)
	x.hashes[i], x.offsets[i] = h, offset
	x.n++
	return true
}

// Get returns the offset of key's latest record.
func (x *KeyIndex) Get(key []byte) (int64, bool) {
	i, found := x.slot(x.hash(key))
	if !found {
		return 0, false
	}
	return x.offsets[i], true
}

// slot is where h is, or the empty slot where it would go.
func (x *KeyIndex) slot(h uint64) (int, bool) {
	mask := uint64(len(x.hashes) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch x.hashes[i] {
		case h:
			return int(i), true
		case 0:
			return int(i), false
		}
	}
}

func (x *KeyIndex) grow() {
	hs, offs := x.hashes, x.offsets
	x.hashes = make([]uint64, 2*len(hs))
	x.offsets = make([]int64, 2*len(hs))
	for i, h := range hs {
		if h != 0 {
			j, _ := x.slot(h)
			x.hashes[j], x.offsets[j] = h, offs[i]
		}
	}
}

// Bytes is the memory the table holds.
func (x *KeyIndex) Bytes() int64 { return int64(len(x.hashes)) * 16 }

// Len is the number of keys held.
func (x *KeyIndex) Len() int { return x.n }

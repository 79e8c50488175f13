package broker

import "testing"

// TestShardOf: groups and transactional ids map to shards as Kafka maps
// them to __consumer_offsets and __transaction_state partitions
// (Utils.abs(id.hashCode) % n, Java's String.hashCode over UTF-16), so
// that a group's coordinator shard is the partition Kafka tools expect.
// The hashes are Java's, computed independently.
func TestShardOf(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		id    string
		hash  int32
		shard int32
	}{
		{"", 0, 0},
		{"hello", 99162322, 22},
		{"my-group", -1906497762, 36},
		{"console-consumer-12345", 158455506, 6},
		{"grüße", 98768023, 23},
		{"emoji😀", -1623288791, 7}, // a surrogate pair
	} {
		if h := javaHash(c.id); h != c.hash {
			t.Errorf("javaHash(%q) = %d, want %d", c.id, h, c.hash)
		}
		if s := shardOf(c.id, 50); s != c.shard {
			t.Errorf("shardOf(%q, 50) = %d, want %d", c.id, s, c.shard)
		}
	}
}

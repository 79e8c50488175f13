package broker

import (
	"encoding/base64"
	"testing"

	"github.com/streamhouse/streamhouse/meta"
)

// TestSharePartitionLease: a share coordinator key (Kafka's
// "group:topicID:partition", the id in Kafka's base64 form, the group
// free to hold colons) names its partition's lease; other keys do not.
func TestSharePartitionLease(t *testing.T) {
	t.Parallel()
	id := meta.TopicID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0xff}
	enc := base64.RawURLEncoding.EncodeToString(id[:])
	got, ok := sharePartitionLease("team:a:" + enc + ":7")
	if want := (meta.LeaseKey{Kind: meta.LeasePartition, TopicID: id, Partition: 7}); !ok || got != want {
		t.Fatalf("sharePartitionLease = %+v, %v; want %+v", got, ok, want)
	}
	for _, bad := range []string{"", "g", "g:" + enc, "g:" + enc + ":-1", "g:" + enc + ":x", "g:notbase64!:1", "g:" + enc[:10] + ":1", enc + ":1"} {
		if _, ok := sharePartitionLease(bad); ok {
			t.Errorf("sharePartitionLease(%q) accepted", bad)
		}
	}
}

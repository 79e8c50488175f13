package group

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzConsumerMetadata: the one client blob the coordinator decodes is a
// classic member's consumer protocol metadata (ConsumerMemberMetadata,
// versions 0-3), which OffsetDelete reads to learn whether a member still
// subscribes to a topic. Whatever the bytes: no panic, the blob is not
// modified, subscribedLocked answers exactly "it decodes and lists the
// topic", and metadata that decodes re-encodes to metadata that decodes to
// the same subscription.
//
// The seed corpus in testdata/fuzz is written by TestWriteMetadataCorpus:
//
//	go test ./broker/group -run '^$' -fuzz '^FuzzConsumerMetadata$' -fuzztime 60s
func FuzzConsumerMetadata(f *testing.F) {
	for _, s := range metadataSeeds() {
		f.Add(s.data, s.topic)
	}
	f.Fuzz(func(t *testing.T, data []byte, topic string) {
		blob := bytes.Clone(data) // no spare capacity: a read past the end panics
		g := &group{
			protocolType: "consumer",
			protocol:     "range",
			members: map[string]*member{
				"m": {id: "m", protocols: []protocol{{name: "cooperative-sticky"}, {name: "range", metadata: blob}}},
			},
		}
		got := g.subscribedLocked(topic)
		if !bytes.Equal(blob, data) {
			t.Fatal("decoding modified the metadata")
		}
		var md kmsg.ConsumerMemberMetadata
		err := md.ReadFrom(data)
		if want := err == nil && slices.Contains(md.Topics, topic); got != want {
			t.Fatalf("subscribed(%q) = %v; the metadata decodes (%v) to topics %q", topic, got, err, md.Topics)
		}
		if err != nil {
			return
		}
		var again kmsg.ConsumerMemberMetadata
		if err := again.ReadFrom(md.AppendTo(nil)); err != nil {
			t.Fatalf("re-encoded v%d metadata does not decode: %v", md.Version, err)
		}
		if !slices.Equal(again.Topics, md.Topics) {
			t.Fatalf("re-encoded topics %q, were %q", again.Topics, md.Topics)
		}
		// Another protocol type's members are never read as consumers.
		g.protocolType = "connect"
		if g.subscribedLocked(topic) {
			t.Fatal("a connect group's metadata was read as a consumer's")
		}
	})
}

type metadataSeed struct {
	name  string
	data  []byte
	topic string
}

// metadataSeeds are consumer metadata as clients send it, each version,
// and a few hostile ones.
func metadataSeeds() []metadataSeed {
	var out []metadataSeed
	for v := int16(0); v <= 3; v++ {
		md := kmsg.NewConsumerMemberMetadata()
		md.Version = v
		md.Topics = []string{"orders", "payments"}
		md.UserData = []byte("user data")
		op := kmsg.NewConsumerMemberMetadataOwnedPartition()
		op.Topic, op.Partitions = "orders", []int32{0, 2}
		md.OwnedPartitions = []kmsg.ConsumerMemberMetadataOwnedPartition{op}
		md.Generation = 7
		md.Rack = kmsg.StringPtr("rack-a")
		out = append(out,
			metadataSeed{fmt.Sprintf("v%d-subscribed", v), md.AppendTo(nil), "payments"},
			metadataSeed{fmt.Sprintf("v%d-other-topic", v), md.AppendTo(nil), "audit"},
		)
	}
	out = append(out,
		metadataSeed{"empty", nil, "orders"},
		// Version 0, then an array of 2^31-1 topics in six bytes.
		metadataSeed{"huge-topic-count", []byte{0, 0, 0x7f, 0xff, 0xff, 0xff}, "orders"},
		// One topic whose string length runs past the end.
		metadataSeed{"topic-cut-short", []byte{0, 1, 0, 0, 0, 1, 0, 20, 'o', 'r'}, "or"},
		// A version from the future with a v3 body.
		metadataSeed{"version-9", append([]byte{0, 9}, out[6].data[2:]...), "orders"},
	)
	return out
}

// TestWriteMetadataCorpus writes the seeds to testdata/fuzz when
// STREAMHOUSE_WRITE_CORPUS is set, as protocol's TestWriteSeedCorpus does.
func TestWriteMetadataCorpus(t *testing.T) {
	if os.Getenv("STREAMHOUSE_WRITE_CORPUS") == "" {
		t.Skip("set STREAMHOUSE_WRITE_CORPUS=1 to rewrite testdata/fuzz seeds")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzConsumerMetadata")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range metadataSeeds() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nstring(%s)\n", strconv.Quote(string(s.data)), strconv.Quote(s.topic))
		if err := os.WriteFile(filepath.Join(dir, s.name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

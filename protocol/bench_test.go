package protocol

import (
	"testing"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceFrame is a Produce v9 request with one partition holding size
// bytes of records.
func produceFrame(size int) []byte {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks = -1
	p := kmsg.NewProduceRequestTopicPartition()
	p.Records = make([]byte, size)
	t := kmsg.NewProduceRequestTopic()
	t.Topic = "bench"
	t.Partitions = []kmsg.ProduceRequestTopicPartition{p}
	req.Topics = []kmsg.ProduceRequestTopic{t}
	return frameOf(req, 1, kmsg.StringPtr("bench"))[4:]
}

// The record bytes of a decoded Produce request are a view of the frame,
// never a copy: the broker validates and stores them in place.
func TestParseProduceDoesNotCopyRecords(t *testing.T) {
	t.Parallel()
	frame := produceFrame(1 << 20)
	_, req, err := ParseRequest(frame, NewTable(Implemented()))
	if err != nil {
		t.Fatal(err)
	}
	recs := req.(*kmsg.ProduceRequest).Topics[0].Partitions[0].Records
	start := uintptr(unsafe.Pointer(unsafe.SliceData(frame)))
	at := uintptr(unsafe.Pointer(unsafe.SliceData(recs)))
	if len(recs) != 1<<20 || at < start || at+uintptr(len(recs)) > start+uintptr(len(frame)) {
		t.Fatalf("records (%d bytes) are not a view of the frame", len(recs))
	}
}

// BenchmarkParseProduce1MiB decodes a Produce request carrying 1 MiB of
// records. The cost is independent of the record bytes (they are not
// copied): compare the ns/op with BenchmarkParseProduce1KiB.
func BenchmarkParseProduce1MiB(b *testing.B) { benchParseProduce(b, 1<<20) }

// BenchmarkParseProduce1KiB is the same request with 1 KiB of records.
func BenchmarkParseProduce1KiB(b *testing.B) { benchParseProduce(b, 1<<10) }

func benchParseProduce(b *testing.B, size int) {
	frame := produceFrame(size)
	table := NewTable(Implemented())
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseRequest(frame, table); err != nil {
			b.Fatal(err)
		}
	}
}

package compattests

import (
	"crypto/rand"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/internal/s3test"
)

// TestStreamctlTieredBytes: on a broker with tiered storage, streamctl
// topic describe shows each partition's bytes on local disk and in the
// bucket (DescribeLogDirs' size and StreamHouse's tagged remote size), and
// they move as segments are uploaded and local retention removes copies.
func TestStreamctlTieredBytes(t *testing.T) {
	t.Parallel()
	s3 := s3test.Start(t)
	bucket := s3.Bucket(t)
	p := startProcWith(t, binary(t), s3.Env(), t.TempDir(), "",
		"--storage", "s3", "--s3-endpoint", s3.Endpoint(), "--s3-bucket", bucket,
		"--log.retention.check.interval.ms", "200")
	ctl(t, p.addr, "topic", "create", "cold", "--partitions", "1",
		"--config", "segment.bytes=1048576", "--config", "local.retention.bytes=1048576")
	cl := fgClient(t, p.addr, kgo.DefaultProduceTopic("cold"), kgo.ProducerLinger(0))
	val := make([]byte, 64<<10)
	for range 64 { // 4 MiB: four segments, three of them closed
		rand.Read(val) // incompressible
		if err := cl.ProduceSync(fgCtx(t), &kgo.Record{Value: val}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		info := ctlJSON[ctlTopicInfo](t, p.addr, "topic", "describe", "cold")
		pi := info.Partitions[0]
		if pi.LocalBytes == nil || pi.RemoteBytes == nil {
			t.Fatalf("topic describe: no sizes: %+v", pi)
		}
		// Three closed segments uploaded and the local copies past
		// local.retention.bytes removed.
		if *pi.RemoteBytes >= 3<<20 && *pi.LocalBytes < 3<<20 {
			text := ctl(t, p.addr, "topic", "describe", "cold")
			row := ctlTableRow(t, text, "0", "1")
			if len(row) != 8 || row[6] != strconv.FormatInt(*pi.LocalBytes, 10) || row[7] != strconv.FormatInt(*pi.RemoteBytes, 10) {
				t.Fatalf("topic describe: partition row %q, want local %d and remote %d bytes", row, *pi.LocalBytes, *pi.RemoteBytes)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic describe after 30 s: local %d bytes, remote %d; want 3 MiB uploaded and local copies gone\n%s",
				*pi.LocalBytes, *pi.RemoteBytes, tail(p.logs.String(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

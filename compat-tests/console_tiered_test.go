package compattests

// The console's partitions view with tiered storage (issue 24 after issue
// 19): each partition's local start offset (ListOffsets -4) and the last
// offset uploaded (-5), and the records only the bucket holds, against
// the binary with --storage=s3 on a real S3 server (versitygw).

import (
	"crypto/rand"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/internal/s3test"
)

func TestConsoleTiered(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.Bucket(t)
	httpAddr := freePort(t)
	p := startProcWith(t, binary(t), srv.Env(), t.TempDir(), "",
		"--storage=s3", "--s3-endpoint="+srv.Endpoint(), "--s3-bucket="+bucket, "--http-listen="+httpAddr,
		"--log.retention.check.interval.ms=200")
	adm := fgAdmin(t, p.addr)
	fgCreateTopic(t, adm, "tiered", 1, map[string]string{"remote.storage.enable": "true", "segment.bytes": "1048576", "local.retention.bytes": "1048576"})
	var recs []*kgo.Record
	for range 4000 {
		v := make([]byte, 1000) // random: compression keeps its size
		rand.Read(v)
		recs = append(recs, &kgo.Record{Topic: "tiered", Value: v})
	}
	fgProduceAll(t, fgClient(t, p.addr), recs)

	// Segments close, upload and leave the local disk in the background.
	onlyRemote := regexp.MustCompile(`id="remote-only">([\d,]+) records<`)
	deadline := time.Now().Add(30 * time.Second)
	var page string
	for {
		resp, err := http.Get("http://" + httpAddr + "/topics/tiered")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page = string(body)
		if m := onlyRemote.FindStringSubmatch(page); m != nil {
			if n, _ := strconv.Atoi(strings.ReplaceAll(m[1], ",", "")); n > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no records only in the bucket after 30 s:\n%s\n%s", page, tail(p.logs.String(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The overview says what the bucket holds.
	resp, err := http.Get("http://" + httpAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	overview, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if m := regexp.MustCompile(`id="remote-bytes">([\d.]+) ([KM]iB)<`).FindSubmatch(overview); m == nil {
		t.Errorf("the overview does not show the bucket's bytes:\n%s", overview)
	}
	// The partition's row: start 0, its local start past it.
	row := regexp.MustCompile(`<td class="num">0</td><td class="num">4,000</td><td class="num">4,000</td>\s*<td class="num">([\d,]+)</td>`).FindStringSubmatch(page)
	if row == nil {
		t.Fatalf("no local start column in:\n%s", page)
	}
	if local, _ := strconv.Atoi(strings.ReplaceAll(row[1], ",", "")); local == 0 {
		t.Errorf("local start %s, want past 0", row[1])
	}
}

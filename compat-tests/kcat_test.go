package compattests

// kcat (librdkafka) against a broker: metadata listing, produce and consume
// with every codec, explicit partitions, the -o offset forms, null keys and
// values, headers, LogAppendTime, and a topic kcat's producer creates. kcat
// 1.7.1 with librdkafka 2.0.2 negotiates Metadata v4, Produce v7, Fetch v11
// and ListOffsets v2 here.
//
// librdkafka 2.0.2 compresses gzip, snappy and lz4 only for a broker that
// serves Produce v0 (rdkafka_msgset_writer.c asks whether Produce [0, 0]
// overlaps the broker's range), and lz4 also only when FindCoordinator is
// advertised. This broker serves Produce from v3, as Kafka 4 does (KIP-896),
// so librdkafka logs "Broker does not support compression type" and sends
// those batches uncompressed; zstd (Produce v7 and Fetch v10) is compressed.
// The kcat-to-kcat codec cases therefore accept the codec asked for or none
// (zstd must compress), and the broker's compressed batches of every codec
// are checked separately: franz-go produces them, kcat consumes them.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestKcatMetadata(t *testing.T) {
	e := newKcatEnv(t)
	e.createTopic(t, "kcat-meta", 3)
	e.createTopic(t, "kcat-meta-one", 1)

	t.Run("text", func(t *testing.T) {
		out := lines(e.run(t, "-L"))
		for _, want := range []string{
			" 1 brokers:",
			fmt.Sprintf("  broker 1 at %s (controller)", e.addr),
			" 2 topics:",
		} {
			if !slices.Contains(out, want) {
				t.Errorf("kcat -L lacks %q:\n%s", want, strings.Join(out, "\n"))
			}
		}
		i := slices.Index(out, `  topic "kcat-meta" with 3 partitions:`)
		if i < 0 || len(out) < i+4 {
			t.Fatalf("kcat -L lacks topic kcat-meta with 3 partitions:\n%s", strings.Join(out, "\n"))
		}
		for p := range 3 {
			if want := fmt.Sprintf("    partition %d, leader 1, replicas: 1, isrs: 1", p); out[i+1+p] != want {
				t.Errorf("line %d: %q, want %q", i+1+p, out[i+1+p], want)
			}
		}
	})

	type jsonMeta struct {
		Originating struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"originating_broker"`
		ControllerID int32 `json:"controllerid"`
		Brokers      []struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"brokers"`
		Topics []struct {
			Topic      string `json:"topic"`
			Error      string `json:"error"`
			Partitions []struct {
				Partition int32              `json:"partition"`
				Error     string             `json:"error"`
				Leader    int32              `json:"leader"`
				Replicas  []struct{ ID int } `json:"replicas"`
				ISRs      []struct{ ID int } `json:"isrs"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	listJSON := func(t *testing.T, args ...string) jsonMeta {
		t.Helper()
		out := e.run(t, append([]string{"-L", "-J"}, args...)...)
		var m jsonMeta
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("kcat -L -J printed %q: %v", out, err)
		}
		if m.Originating.ID != 1 || m.ControllerID != 1 {
			t.Errorf("originating broker %d, controller %d; want 1 and 1", m.Originating.ID, m.ControllerID)
		}
		if len(m.Brokers) != 1 || m.Brokers[0].ID != 1 || m.Brokers[0].Name != e.addr {
			t.Errorf("brokers %+v, want one: 1 at %s", m.Brokers, e.addr)
		}
		return m
	}

	t.Run("json", func(t *testing.T) {
		m := listJSON(t)
		var names []string
		for _, tp := range m.Topics {
			names = append(names, tp.Topic)
			if tp.Error != "" {
				t.Errorf("topic %s: error %q", tp.Topic, tp.Error)
			}
			want := map[string]int{"kcat-meta": 3, "kcat-meta-one": 1}[tp.Topic]
			if len(tp.Partitions) != want {
				t.Errorf("topic %s: %d partitions, want %d", tp.Topic, len(tp.Partitions), want)
			}
			for i, p := range tp.Partitions {
				if p.Partition != int32(i) || p.Leader != 1 || p.Error != "" ||
					len(p.Replicas) != 1 || p.Replicas[0].ID != 1 || len(p.ISRs) != 1 || p.ISRs[0].ID != 1 {
					t.Errorf("topic %s partition %d: %+v; want leader 1, replicas [1], isr [1]", tp.Topic, i, p)
				}
			}
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"kcat-meta", "kcat-meta-one"}) {
			t.Errorf("topics %v", names)
		}
	})

	t.Run("json one topic", func(t *testing.T) {
		m := listJSON(t, "-t", "kcat-meta")
		if len(m.Topics) != 1 || m.Topics[0].Topic != "kcat-meta" || len(m.Topics[0].Partitions) != 3 {
			t.Errorf("topics %+v, want kcat-meta with 3 partitions", m.Topics)
		}
	})

	t.Run("unknown topic", func(t *testing.T) {
		m := listJSON(t, "-t", "kcat-meta-nosuch", "-X", "allow.auto.create.topics=false")
		if len(m.Topics) != 1 || m.Topics[0].Error != "Broker: Unknown topic or partition" {
			t.Errorf("topics %+v, want kcat-meta-nosuch with UNKNOWN_TOPIC_OR_PARTITION", m.Topics)
		}
		topics, err := e.adm.ListTopics(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if topics.Has("kcat-meta-nosuch") {
			t.Error("listing with allow.auto.create.topics=false created the topic")
		}
	})

	t.Run("invalid topic", func(t *testing.T) {
		m := listJSON(t, "-t", "bad name!")
		if len(m.Topics) != 1 || m.Topics[0].Error != "Broker: Invalid topic" {
			t.Errorf("topics %+v, want 'bad name!' with INVALID_TOPIC_EXCEPTION", m.Topics)
		}
	})
}

func TestKcatProduceConsume(t *testing.T) {
	e := newKcatEnv(t)

	t.Run("codec", func(t *testing.T) {
		for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
			t.Run(codec, func(t *testing.T) {
				t.Parallel()
				topic := "kcat-codec-" + codec
				e.createTopic(t, topic, 3)
				want := kcatLines(1000, codec)
				e.produce(t, topic, want, "-X", "compression.codec="+codec)
				got := e.consume(t, topic, "-e", "-o", "beginning")
				if counts := kcatCheckPartitions(t, want, got); len(counts) < 2 {
					t.Errorf("records in partitions %v; 37 keys should spread over more than one of 3", counts)
				}
				stored := e.storedCodecs(t, topic, 3)
				total := 0
				for _, n := range stored {
					total += n
				}
				allowed := stored[codec]
				if codec != "none" {
					allowed += stored["none"]
				}
				switch {
				case total == 0 || allowed != total:
					t.Errorf("stored batches by codec: %v; asked for %s", stored, codec)
				case codec == "zstd" && stored["none"] > 0:
					// librdkafka compresses zstd when the broker
					// advertises Produce v7 and Fetch v10.
					t.Errorf("stored batches by codec: %v; librdkafka sends zstd to a broker advertising Produce v7 and Fetch v10", stored)
				case stored[codec] == 0:
					t.Logf("librdkafka sent %s uncompressed (batches by codec: %v); see the file comment", codec, stored)
				}
			})
		}
	})

	t.Run("compressed by franz-go", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			codec kgo.CompressionCodec
		}{
			{"gzip", kgo.GzipCompression()},
			{"snappy", kgo.SnappyCompression()},
			{"lz4", kgo.Lz4Compression()},
			{"zstd", kgo.ZstdCompression()},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				topic := "kcat-kgo-" + tc.name
				e.createTopic(t, topic, 1)
				want := kcatLines(1000, "kgo-"+tc.name)
				e.kgoProduce(t, topic, tc.codec, want)
				stored := e.storedCodecs(t, topic, 1)
				if len(stored) != 1 || stored[tc.name] == 0 {
					t.Errorf("stored batches by codec: %v, want only %s", stored, tc.name)
				}
				got := e.consume(t, topic, "-e", "-o", "beginning")
				kcatCheckPartitions(t, want, got)
			})
		}
	})

	t.Run("explicit partition", func(t *testing.T) {
		t.Parallel()
		const topic = "kcat-partition"
		e.createTopic(t, topic, 3)
		want := kcatLines(100, "p2")
		e.produce(t, topic, want, "-p", "2")
		all := e.consume(t, topic, "-e", "-o", "beginning")
		kcatCheckOffsets(t, all, 2, 0, 100)
		for i, r := range all {
			if r.line() != want[i] {
				t.Fatalf("offset %d: %q, want %q", i, r.line(), want[i])
			}
		}
		if got := e.consume(t, topic, "-e", "-p", "2", "-o", "beginning"); len(got) != 100 {
			t.Errorf("-p 2: %d records, want 100", len(got))
		}
		for _, p := range []string{"0", "1"} {
			if got := e.consume(t, topic, "-e", "-p", p, "-o", "beginning"); len(got) != 0 {
				t.Errorf("-p %s: %d records (%v), want none", p, len(got), kcatFirst(got))
			}
		}
	})

	t.Run("offsets", func(t *testing.T) {
		t.Parallel()
		const topic = "kcat-offsets"
		e.createTopic(t, topic, 1)
		first := kcatLines(100, "first")
		e.produce(t, topic, first)

		for _, tc := range []struct {
			name     string
			args     []string
			from, to int64
		}{
			{"beginning", []string{"-e", "-o", "beginning"}, 0, 100},
			{"absolute", []string{"-e", "-o", "40"}, 40, 100},
			{"relative to end", []string{"-e", "-o", "-10"}, 90, 100},
			{"end", []string{"-e", "-o", "end"}, 100, 100},
			{"count", []string{"-o", "beginning", "-c", "7"}, 0, 7},
			{"absolute with count", []string{"-o", "95", "-c", "3"}, 95, 98},
		} {
			got := e.consume(t, topic, tc.args...)
			t.Logf("kcat -C %s: %d records", strings.Join(tc.args, " "), len(got))
			kcatCheckOffsets(t, got, 0, tc.from, tc.to)
			for _, r := range got {
				if r.line() != first[r.Offset] {
					t.Fatalf("%s: offset %d: %q, want %q", tc.name, r.Offset, r.line(), first[r.Offset])
				}
			}
		}

		// -o end waits for what comes next: start a consumer at the
		// end, then produce three records; it gets exactly those.
		// Their timestamps are after since, which -o s@ then finds.
		time.Sleep(5 * time.Millisecond)
		since := time.Now().UnixMilli()
		args := append([]string{"-C", "-t", topic, "-o", "end", "-c", "3", "-f", kcatFormat}, kcatConsumeOpts...)
		k := e.start(t, "Reached end of topic "+topic, args...)
		more := kcatLines(3, "more")
		e.produce(t, topic, more)
		got := parseKcatRecords(t, k.wait(t))
		kcatCheckOffsets(t, got, 0, 100, 103)
		for i, r := range got {
			if r.line() != more[i] {
				t.Errorf("-o end: offset %d: %q, want %q", r.Offset, r.line(), more[i])
			}
		}

		got = e.consume(t, topic, "-e", "-o", fmt.Sprintf("s@%d", since))
		kcatCheckOffsets(t, got, 0, 100, 103)
	})

	t.Run("nulls and headers", func(t *testing.T) {
		t.Parallel()
		const topic = "kcat-nulls"
		e.createTopic(t, topic, 1)
		// -Z: an empty key or value is sent as null.
		e.produce(t, topic, []string{"k1:", ":v2", "k3:v3"}, "-Z")
		e.produce(t, topic, []string{"k4:v4"}, "-H", "trace=abc", "-H", "empty=", "-H", "dup=1", "-H", "dup=2")
		args := append([]string{"-C", "-q", "-e", "-Z", "-t", topic, "-f", `%o|%K|%S|%k|%s|%h\n`}, kcatConsumeOpts...)
		got := lines(e.run(t, args...))
		want := []string{
			"0|2|-1|k1|NULL|",
			"1|-1|2|NULL|v2|",
			"2|2|2|k3|v3|",
			"3|2|2|k4|v4|trace=abc,empty=,dup=1,dup=2",
		}
		if !slices.Equal(got, want) {
			t.Errorf("kcat printed (offset|key length|value length|key|value|headers)\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})

	t.Run("LogAppendTime topic", func(t *testing.T) {
		// The broker writes its time into each batch (and recomputes
		// the CRC, which kcat checks); librdkafka reports it as the
		// timestamp of every record, with type logappend.
		t.Parallel()
		const topic = "kcat-log-append-time"
		typ := "LogAppendTime"
		resp, err := e.adm.CreateTopic(context.Background(), 1, 1, map[string]*string{"message.timestamp.type": &typ}, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatal(err)
		}
		before := time.Now().UnixMilli()
		e.produce(t, topic, kcatLines(10, "lat"))
		e.produce(t, topic, kcatLines(10, "lat-zstd"), "-X", "compression.codec=zstd")
		after := time.Now().UnixMilli()
		args := append([]string{"-C", "-q", "-e", "-J", "-t", topic}, kcatConsumeOpts...)
		out := lines(e.run(t, args...))
		if len(out) != 20 {
			t.Fatalf("%d records, want 20:\n%s", len(out), strings.Join(out, "\n"))
		}
		for _, l := range out {
			var r struct {
				Offset int64  `json:"offset"`
				TsType string `json:"tstype"`
				Ts     int64  `json:"ts"`
			}
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("kcat -J printed %q: %v", l, err)
			}
			if r.TsType != "logappend" || r.Ts < before || r.Ts > after {
				t.Errorf("offset %d: timestamp %s %d, want logappend in [%d, %d]", r.Offset, r.TsType, r.Ts, before, after)
			}
		}
	})

	t.Run("auto-created topic", func(t *testing.T) {
		t.Parallel()
		const topic = "kcat-auto-created"
		want := kcatLines(50, "auto")
		e.produce(t, topic, want)
		out := lines(e.run(t, "-L", "-t", topic))
		if !slices.Contains(out, fmt.Sprintf(`  topic "%s" with 1 partitions:`, topic)) {
			t.Errorf("kcat -L -t %s:\n%s\nwant the topic with num.partitions (1) partitions", topic, strings.Join(out, "\n"))
		}
		got := e.consume(t, topic, "-e", "-o", "beginning")
		kcatCheckOffsets(t, got, 0, 0, 50)
		kcatCheckPartitions(t, want, got)
	})
}

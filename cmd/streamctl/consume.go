package main

// consume: print records of one topic, one per line. Without --follow it
// stops at the end offsets listed when it started (or after --limit
// records); with --group it joins the group (the classic protocol) and
// commits what it printed. Interrupt (Ctrl-C) stops it cleanly: what was
// printed is committed and the group left.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// recordJSON is one record under --output json. Keys, values and header
// values are strings; if any of them is not valid UTF-8, all of the
// record's are base64 and encoding says so.
type recordJSON struct {
	Topic     string       `json:"topic"`
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Timestamp int64        `json:"timestamp"` // milliseconds since the epoch
	Key       *string      `json:"key"`       // null: no key
	Value     *string      `json:"value"`     // null: a tombstone
	Headers   []headerJSON `json:"headers"`
	Encoding  string       `json:"encoding,omitempty"` // "base64" when the bytes are not UTF-8
}

type headerJSON struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

func consumeCmd(fs *flag.FlagSet) runFunc {
	partition := fs.Int("partition", -1, "only this partition; -1: all")
	offset := fs.Int64("offset", 0, "start at this offset of each partition; negative: this many records before the end")
	fromBeginning := fs.Bool("from-beginning", false, "start at the log start (the default without --follow; with --group, for partitions without a committed offset)")
	limit := fs.Int("limit", 0, "stop after this many records (0: no limit)")
	group := fs.String("group", "", "consume as a member of this consumer group, committing what was printed")
	follow := fs.Bool("follow", false, "keep waiting for new records (from the end, unless --offset or --from-beginning) until interrupted")
	return func(ctx context.Context, a *app, args []string) error {
		topic := args[0]
		hasOffset := flagSet(fs, "offset")
		switch {
		case hasOffset && *fromBeginning:
			return usagef("consume", "consume: --offset and --from-beginning do not go together")
		case *group != "" && (hasOffset || *partition >= 0):
			return usagef("consume", "consume: a group decides partitions and offsets; --group does not go with --partition or --offset (see group reset-offsets)")
		case *limit < 0:
			return usagef("consume", "consume: --limit must not be negative")
		case *partition < -1:
			return usagef("consume", "consume: --partition must not be negative")
		}
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()

		// Where each partition starts and, without --follow, ends.
		adm, err := a.admin()
		if err != nil {
			return err
		}
		defer adm.Close()
		sctx, cancel := context.WithTimeout(ctx, a.timeout)
		defer cancel()
		if err := checkPartition(sctx, a, adm, topic, *partition); err != nil {
			return err
		}
		starts, ends, err := startEnd(sctx, adm, topic)
		if err != nil {
			return err
		}
		var committed kadm.OffsetResponses
		if *group != "" {
			if committed, err = adm.FetchOffsetsForTopics(sctx, *group, topic); err != nil {
				return fmt.Errorf("fetch committed offsets of group %q: %w", *group, err)
			}
		}
		cancel()

		c := &consumer{a: a, topic: topic, follow: *follow, limit: *limit, end: ends, pos: map[int32]int64{}, active: map[int32]bool{}}
		fromStart := *fromBeginning || !*follow && !hasOffset
		var opts []kgo.Opt
		if *group == "" {
			from := map[int32]kgo.Offset{}
			for p, end := range ends {
				if *partition >= 0 && p != int32(*partition) {
					continue
				}
				start := starts[p]
				switch {
				case hasOffset && *offset >= 0:
					start = min(max(*offset, starts[p]), end)
				case hasOffset:
					start = max(end+*offset, starts[p])
				case !fromStart:
					start = end
				}
				c.pos[p], c.active[p] = start, true
				from[p] = kgo.NewOffset().At(start)
			}
			c.joined = true
			if c.done() {
				return nil
			}
			opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}))
		} else {
			reset := kgo.NewOffset().AtEnd()
			if fromStart {
				reset = kgo.NewOffset().AtStart()
			}
			c.group, c.fromStart, c.starts = *group, fromStart, starts
			c.setPositions(committed, sortedKeys(ends))
			opts = append(opts,
				kgo.ConsumerGroup(*group),
				kgo.ConsumeTopics(topic),
				kgo.ConsumeResetOffset(reset),
				kgo.AutoCommitMarks(),
				kgo.OnPartitionsAssigned(c.assigned),
				kgo.OnPartitionsRevoked(c.revoked),
				kgo.OnPartitionsLost(c.revoked),
			)
		}
		// wake ends a poll once done; set before the client exists, whose
		// group callbacks may call it at once.
		pollCtx, wake := context.WithCancel(ctx)
		defer wake()
		c.wake = wake
		cl, err := a.client(append(opts, kgo.FetchMaxWait(time.Second))...)
		if err != nil {
			return err
		}
		return c.run(pollCtx, cl)
	}
}

// consumer is one consume: what it reads and how far it got.
type consumer struct {
	a         *app
	topic     string
	group     string
	follow    bool
	limit     int
	fromStart bool            // where a partition without a committed offset starts
	starts    map[int32]int64 // log start offsets

	mu     sync.Mutex
	end    map[int32]int64    // end offsets when it started
	pos    map[int32]int64    // next offset of each partition to print
	active map[int32]bool     // partitions consumed: all, or those assigned to this member
	joined bool               // the partitions are known: no group, or assigned
	wake   context.CancelFunc // ends the poll in progress
}

// done reports whether, without --follow, every partition consumed has
// reached its end offset.
func (c *consumer) done() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.doneLocked()
}

func (c *consumer) doneLocked() bool {
	if c.follow || !c.joined {
		return false
	}
	for p := range c.active {
		if c.pos[p] < c.end[p] {
			return false
		}
	}
	return true
}

// setPositions starts partitions ps at their committed offsets, or where
// the reset policy says.
func (c *consumer) setPositions(committed kadm.OffsetResponses, ps []int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range ps {
		switch o, ok := committed.Lookup(c.topic, p); {
		case ok && o.Err == nil && o.At >= 0:
			c.pos[p] = o.At
		case c.fromStart:
			c.pos[p] = c.starts[p]
		default:
			c.pos[p] = c.end[p]
		}
	}
}

// assigned runs in kgo's group goroutine after a rebalance: the positions
// of new partitions are their committed offsets now (another member may
// have moved them).
func (c *consumer) assigned(ctx context.Context, cl *kgo.Client, ps map[string][]int32) {
	if committed, err := kadm.NewClient(cl).FetchOffsetsForTopics(ctx, c.group, c.topic); err == nil {
		c.setPositions(committed, ps[c.topic])
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range ps[c.topic] {
		c.active[p] = true
	}
	c.joined = true
	if c.doneLocked() && c.wake != nil {
		c.wake()
	}
}

// revoked commits what was printed of partitions leaving this member.
func (c *consumer) revoked(ctx context.Context, cl *kgo.Client, ps map[string][]int32) {
	cl.CommitMarkedOffsets(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range ps[c.topic] {
		delete(c.active, p)
	}
}

// run prints records until done, the limit, or ctx ends (interrupted, or
// woken by wake once done).
func (c *consumer) run(ctx context.Context, cl *kgo.Client) error {
	defer cl.Close()

	w := bufio.NewWriterSize(c.a.stdout, 1<<16)
	printed := 0
	var err error
	for err == nil && !c.done() && (c.limit == 0 || printed < c.limit) {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		for _, fe := range fetches.Errors() {
			var gs *kgo.ErrGroupSession
			if errors.As(fe.Err, &gs) || errors.Is(fe.Err, context.Canceled) {
				continue // the group rejoins by itself
			}
			err = fmt.Errorf("consume topic %q partition %d: %w", fe.Topic, fe.Partition, fe.Err)
		}
		var marks []*kgo.Record
		for it := fetches.RecordIter(); !it.Done() && (c.limit == 0 || printed < c.limit); {
			r := it.Next()
			c.mu.Lock()
			past := !c.follow && r.Offset >= c.end[r.Partition]
			if past { // the end was reached, if through a gap
				c.pos[r.Partition] = max(c.pos[r.Partition], c.end[r.Partition])
			} else {
				c.pos[r.Partition] = r.Offset + 1
			}
			c.mu.Unlock()
			if past {
				continue
			}
			if werr := c.print(w, r); werr != nil {
				return werr
			}
			printed++
			marks = append(marks, r)
		}
		if ferr := w.Flush(); ferr != nil {
			return ferr
		}
		if c.group != "" {
			cl.MarkCommitRecords(marks...)
		}
	}
	if c.group != "" {
		cctx, cancel := context.WithTimeout(context.Background(), c.a.timeout)
		defer cancel()
		if cerr := cl.CommitMarkedOffsets(cctx); cerr != nil && err == nil {
			err = fmt.Errorf("commit offsets of group %q: %w", c.group, cerr)
		}
	}
	return err
}

func (c *consumer) print(w *bufio.Writer, r *kgo.Record) error {
	if c.a.output != "json" {
		w.Write(r.Value)
		return w.WriteByte('\n')
	}
	j := recordJSON{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(), Headers: []headerJSON{}}
	text := utf8.Valid(r.Key) && utf8.Valid(r.Value)
	for _, h := range r.Headers {
		text = text && utf8.Valid(h.Value)
	}
	str := func(b []byte) *string {
		if b == nil {
			return nil
		}
		s := string(b)
		if !text {
			s = base64.StdEncoding.EncodeToString(b)
		}
		return &s
	}
	if !text {
		j.Encoding = "base64"
	}
	j.Key, j.Value = str(r.Key), str(r.Value)
	for _, h := range r.Headers {
		j.Headers = append(j.Headers, headerJSON{Key: h.Key, Value: str(h.Value)})
	}
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	w.Write(b)
	return w.WriteByte('\n')
}

package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DefaultTopic is the topic the registry keeps its state in, as Confluent
// Schema Registry and Redpanda do.
const DefaultTopic = "_schemas"

// Config configures a Registry.
type Config struct {
	// Brokers are the Kafka addresses the registry's client bootstraps
	// from: the broker's own listener.
	Brokers []string
	// ClientOpts are more options for that client (SASL and TLS once the
	// listener asks for them).
	ClientOpts []kgo.Opt
	// Topic holds the registry's records. Empty: DefaultTopic.
	Topic string
	// Logger receives the registry's logs. Nil: discarded.
	Logger *slog.Logger
	// Registerer receives the registry's metrics. Nil: none kept.
	Registerer prometheus.Registerer
	// Auth authenticates and authorizes each HTTP request. Nil: every
	// request is allowed (the broker has no security configured).
	Auth Auth
	// MaxBodyBytes bounds a request body. Zero: 16 MiB.
	MaxBodyBytes int64
}

// Op is what a request does, for Auth: reads, and writes (which Kafka's
// authorization model maps to ALTER on the CLUSTER resource).
type Op int

const (
	OpRead Op = iota
	OpWrite
)

// Auth is the security hook: it sees each request before its handler and
// says who may do what.
type Auth interface {
	// Authorize returns nil to serve r, ErrUnauthenticated to answer 401
	// (with a WWW-Authenticate challenge for HTTP basic), or ErrForbidden
	// (wrapped, with a reason) to answer 403.
	Authorize(r *http.Request, op Op) error
}

// The errors an Auth returns.
var (
	ErrUnauthenticated = errors.New("registry: unauthenticated")
	ErrForbidden       = errors.New("registry: forbidden")
)

// Registry is a schema registry over a `_schemas` topic. Create it with
// New, call Start, serve Handler, and Close it.
type Registry struct {
	cfg     Config
	log     *slog.Logger
	cl      *kgo.Client
	adm     *kadm.Client
	metrics *metrics

	// mu guards st, next, conflicts and progress.
	mu   sync.RWMutex
	st   *state
	next int64 // the offset after the last record applied
	// conflicts are the offsets of records that lost to an earlier one
	// (errConflict), for the writer waiting on them; pruned as they age.
	conflicts map[int64]bool
	progress  chan struct{} // closed (and replaced) when next moves

	wmu sync.Mutex // serialises this registry's writes

	ready    chan struct{} // closed once the topic has been read to its end at start
	startErr error         // why Start failed, read after ready closes
	// base ends at Close: it bounds Start and the consuming goroutine.
	base      context.Context
	cancel    context.CancelFunc
	consumer  sync.WaitGroup // the consuming goroutine
	done      chan struct{}  // closed at Close, once the consuming goroutine has ended
	closeOnce sync.Once
}

// New returns a registry that has not started reading its topic.
func New(cfg Config) (*Registry, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("registry: no broker address")
	}
	if cfg.Topic == "" {
		cfg.Topic = DefaultTopic
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 20
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID("streamhouse-schema-registry"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.FetchMaxWait(time.Second),
		kgo.RecordRetries(10),
	}, cfg.ClientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("registry: kafka client: %w", err)
	}
	base, cancel := context.WithCancel(context.Background())
	r := &Registry{
		base:      base,
		cancel:    cancel,
		cfg:       cfg,
		log:       cfg.Logger,
		cl:        cl,
		adm:       kadm.NewClient(cl),
		st:        newState(),
		conflicts: map[int64]bool{},
		progress:  make(chan struct{}),
		ready:     make(chan struct{}),
		done:      make(chan struct{}),
	}
	r.metrics = newMetrics(cfg.Registerer, r)
	return r, nil
}

// Start creates the topic if it is missing, starts reading it, and returns
// once the registry has applied every record the topic held: from then on
// it serves. Requests that arrive before wait. Close ends it too.
func (r *Registry) Start(ctx context.Context) error {
	begin := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(r.base, cancel)()
	err := r.start(ctx)
	if err != nil {
		r.startErr = err
	}
	close(r.ready)
	if err == nil {
		r.mu.RLock()
		r.log.Info("schema registry loaded", "topic", r.cfg.Topic, "subjects", len(r.st.subjects),
			"schemas", r.st.schemaCount(), "records_through", r.next, "took", time.Since(begin).Round(time.Millisecond))
		r.mu.RUnlock()
	}
	return err
}

func (r *Registry) start(ctx context.Context) error {
	if err := r.ensureTopic(ctx); err != nil {
		return err
	}
	r.consumer.Add(1)
	go r.consume(r.base)
	// As ensureTopic, asks until the topic's partition answers (a broker
	// of a cluster may start while the partition's leader is dead and
	// not yet replaced), unless Kafka says the error will not pass.
	for {
		err := r.catchUp(ctx)
		var ke *kerr.Error
		if err == nil || ctx.Err() != nil || (errors.As(err, &ke) && !ke.Retriable) {
			return err
		}
		r.log.Warn("schema registry: reading its topic to its end failed; retrying", "topic", r.cfg.Topic, "err", err)
	}
}

// compactedConfigs are the topic's configs where the broker serves
// compaction; keptConfigs where it refuses compacted topics (answering
// INVALID_CONFIG, as StreamHouse's cluster mode did before it compacted
// in the bucket): every record kept forever, which the registry's records
// need no more than compaction does (they are applied in log order by one
// rule, so a log that keeps them all replays to the same index), and a
// registry writes few.
var (
	compactedConfigs = map[string]*string{"cleanup.policy": new("compact")}
	keptConfigs      = map[string]*string{"cleanup.policy": new("delete"), "retention.ms": new("-1"), "retention.bytes": new("-1")}
)

// ensureTopic creates the topic (one partition, compacted, or kept
// forever where the broker refuses compacted topics) unless it exists,
// retrying while the broker is not yet answering.
func (r *Registry) ensureTopic(ctx context.Context) error {
	configs, kept := compactedConfigs, false
	for {
		resp, err := r.adm.CreateTopic(ctx, 1, -1, configs, r.cfg.Topic)
		if err == nil {
			err = resp.Err
		}
		if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
			break
		}
		if errors.Is(err, kerr.InvalidConfig) && !kept {
			r.log.Info("schema registry: the broker refuses compacted topics; creating its topic with cleanup.policy=delete and infinite retention",
				"topic", r.cfg.Topic, "err", err, "reason", resp.ErrMessage)
			configs, kept = keptConfigs, true
			continue
		}
		r.log.Warn("schema registry: creating its topic failed; retrying", "topic", r.cfg.Topic, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("registry: create topic %s: %w", r.cfg.Topic, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	for {
		topics, err := r.adm.ListTopics(ctx, r.cfg.Topic)
		if err != nil {
			return fmt.Errorf("registry: describe topic %s: %w", r.cfg.Topic, err)
		}
		td := topics[r.cfg.Topic]
		if td.Err == nil {
			if len(td.Partitions) != 1 {
				return fmt.Errorf("registry: topic %s has %d partitions; the registry needs exactly 1", r.cfg.Topic, len(td.Partitions))
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("registry: describe topic %s: %w", r.cfg.Topic, td.Err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// consume applies the topic's records as they come, until ctx ends.
func (r *Registry) consume(ctx context.Context) {
	defer r.consumer.Done()
	for {
		fs := r.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			r.log.Warn("schema registry: reading its topic", "topic", t, "partition", p, "err", err)
		})
		r.mu.Lock()
		moved := false
		fs.EachRecord(func(rec *kgo.Record) {
			switch err := r.st.apply(rec.Key, rec.Value); {
			case errors.Is(err, errConflict):
				r.conflicts[rec.Offset] = true
			case err != nil:
				r.log.Warn("schema registry: skipping a record it cannot read", "offset", rec.Offset, "err", err)
			}
			r.next = rec.Offset + 1
			moved = true
		})
		if moved {
			for off := range r.conflicts {
				if off < r.next-100_000 {
					delete(r.conflicts, off)
				}
			}
			close(r.progress)
			r.progress = make(chan struct{})
		}
		r.mu.Unlock()
	}
}

// waitApplied waits until the record at offset off has been applied.
func (r *Registry) waitApplied(ctx context.Context, off int64) error {
	for {
		r.mu.RLock()
		next, progress := r.next, r.progress
		r.mu.RUnlock()
		if next > off {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.done:
			return errors.New("registry: closed")
		case <-progress:
		}
	}
}

// leaderWait bounds how long catchUp waits for the topic's partition to
// answer again: a broker of a cluster that died leaves its partitions to
// the others once its session expires (broker.session.timeout.ms, 9 s by
// default), and a registration meanwhile waits for that rather than fail.
const leaderWait = 30 * time.Second

// catchUp waits until every record the topic holds now has been applied.
// While the partition has no leader that answers (its broker died or is
// handing it over) it asks again, for up to leaderWait; an error Kafka
// does not call retriable ends it at once.
func (r *Registry) catchUp(ctx context.Context) error {
	deadline := time.Now().Add(leaderWait)
	for {
		end, err := r.endOffset(ctx)
		if err == nil {
			if end == 0 {
				return nil
			}
			return r.waitApplied(ctx, end-1)
		}
		var ke *kerr.Error
		if (errors.As(err, &ke) && !ke.Retriable) || time.Now().After(deadline) {
			return err
		}
		r.log.Debug("schema registry: end offset of its topic; retrying", "topic", r.cfg.Topic, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// endOffset returns the topic's end offset (partition 0's).
func (r *Registry) endOffset(ctx context.Context) (int64, error) {
	ends, err := r.adm.ListEndOffsets(ctx, r.cfg.Topic)
	if err != nil {
		return 0, fmt.Errorf("registry: end offset of %s: %w", r.cfg.Topic, err)
	}
	o, ok := ends.Lookup(r.cfg.Topic, 0)
	if !ok {
		return 0, fmt.Errorf("registry: end offset of %s: no partition 0", r.cfg.Topic)
	}
	if o.Err != nil {
		return 0, fmt.Errorf("registry: end offset of %s: %w", r.cfg.Topic, o.Err)
	}
	return o.Offset, nil
}

// Close stops reading the topic and closes the Kafka client.
func (r *Registry) Close() {
	r.closeOnce.Do(func() {
		r.cancel()
		r.consumer.Wait()
		close(r.done)
		r.cl.Close()
	})
}

// waitReady waits for Start to have loaded the topic.
func (r *Registry) waitReady(ctx context.Context) error {
	select {
	case <-r.ready:
		if r.startErr != nil {
			return r.startErr
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write runs one change: under the write lock, with the index caught up
// with the topic, decide looks at the index (read-locked) and returns the
// records to produce and nil, or an error to answer. The records are
// produced (acks=all) and write returns once they are applied. If one
// lost to a record another registry wrote meanwhile, the winner's record
// is written again under that key (so compaction keeps it) and decide runs
// again.
func (r *Registry) write(ctx context.Context, decide func(st *state) ([]*kgo.Record, error)) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	for attempt := 0; ; attempt++ {
		if err := r.catchUp(ctx); err != nil {
			return storeError(err)
		}
		recs, err := r.decide(decide)
		if err != nil || len(recs) == 0 {
			return err
		}
		for _, rec := range recs {
			rec.Topic, rec.Partition = r.cfg.Topic, 0
		}
		if err := r.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return storeError(err)
		}
		lost, err := r.lostOf(ctx, recs)
		if err != nil {
			return storeError(err)
		}
		if len(lost) == 0 {
			return nil
		}
		if attempt >= maxWriteAttempts {
			return &apiError{status: 500, code: 50001, msg: "Error while registering the schema: other registries keep writing the same versions"}
		}
		r.log.Info("schema registry: a write lost to another registry's; trying again", "records", len(lost))
		if err := r.rewriteWinners(ctx, lost); err != nil {
			return storeError(err)
		}
		// Registries that keep writing at once through different brokers
		// would otherwise keep colliding, each losing to whichever
		// reached the log first: the loser steps back a random while,
		// longer each time, so that the others' writes land first.
		select {
		case <-ctx.Done():
			return storeError(ctx.Err())
		case <-time.After(rand.N(10 * time.Millisecond << min(attempt, 5))):
		}
	}
}

// maxWriteAttempts bounds how often a write that lost to other registries'
// is tried again (with growing random pauses: about 2 s in all at worst).
const maxWriteAttempts = 20

// decide runs fn over the index, read-locked (unlocked even if it panics).
func (r *Registry) decide(fn func(st *state) ([]*kgo.Record, error)) ([]*kgo.Record, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return fn(r.st)
}

// lostOf waits until recs (produced, in order) have been applied and
// returns those that lost to an earlier record.
func (r *Registry) lostOf(ctx context.Context, recs []*kgo.Record) ([]*kgo.Record, error) {
	if err := r.waitApplied(ctx, recs[len(recs)-1].Offset); err != nil {
		return nil, err
	}
	var lost []*kgo.Record
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range recs {
		if r.conflicts[rec.Offset] {
			delete(r.conflicts, rec.Offset)
			lost = append(lost, rec)
		}
	}
	return lost, nil
}

// rewriteWinners writes again, for each lost SCHEMA record's key, the
// record that holds that key in the index, so that the key's last record
// in the topic (what compaction keeps) is the winner; or a tombstone when
// no record holds the key. Another registry may take the key between the
// look and the tombstone: the tombstone then loses too (a tombstone of a
// version not soft-deleted changes nothing, see state.removeSchema), and
// that registry's record is written again in its turn.
func (r *Registry) rewriteWinners(ctx context.Context, lost []*kgo.Record) error {
	for attempt := 0; len(lost) > 0; attempt++ {
		if attempt >= 5 {
			return errors.New("registry: other registries keep taking the versions it rewrites")
		}
		var again []*kgo.Record
		r.mu.RLock()
		for _, rec := range lost {
			k, ok := decodeSchemaKey(rec.Key)
			if !ok {
				continue
			}
			if s := r.st.subjects[*k.Subject]; s != nil {
				if i, found := s.find(k.Version); found {
					again = append(again, r.st.schemaRecord(*k.Subject, s.versions[i]))
					continue
				}
			}
			// Nobody holds the key (the record lost on its id): a
			// tombstone, so that compaction cannot leave the lost
			// record alone under it, where a replay could apply it
			// before the id's winner.
			again = append(again, &kgo.Record{Key: schemaKey(*k.Subject, k.Version)})
		}
		r.mu.RUnlock()
		if len(again) == 0 {
			return nil
		}
		for _, rec := range again {
			rec.Topic, rec.Partition = r.cfg.Topic, 0
		}
		if err := r.cl.ProduceSync(ctx, again...).FirstErr(); err != nil {
			return err
		}
		var err error
		if lost, err = r.lostOf(ctx, again); err != nil {
			return err
		}
	}
	return nil
}

// decodeSchemaKey reads a SCHEMA record's key.
func decodeSchemaKey(b []byte) (recordKey, bool) {
	k, ok := fastKey(b)
	if !ok {
		k = recordKey{}
		if json.Unmarshal(b, &k) != nil {
			return k, false
		}
	}
	return k, k.KeyType == keySchema && k.Subject != nil
}

func storeError(err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &apiError{status: 500, code: 50002, msg: "Operation timed out: " + err.Error()}
	}
	return &apiError{status: 500, code: 50001, msg: "Error in the backend data store: " + err.Error()}
}

// CheckSchemaID returns nil when schema id is registered under subject by
// a version that is not soft-deleted, and an error saying why not
// otherwise: the broker's produce path asks it for topics with
// confluent.value.schema.validation or confluent.key.schema.validation
// (it implements broker.SchemaValidator). Until the registry has loaded
// its topic it refuses every id.
func (r *Registry) CheckSchemaID(subject string, id int32) error {
	select {
	case <-r.ready:
	default:
		return errors.New("the schema registry is still loading")
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if s := r.st.subjects[subject]; s != nil {
		for i := len(s.versions) - 1; i >= 0; i-- {
			if v := &s.versions[i]; v.id == id && !v.deleted {
				return nil
			}
		}
	}
	if r.st.schemaOf(subject, id) == nil {
		return fmt.Errorf("no schema has id %d", id)
	}
	return fmt.Errorf("schema %d is not registered under subject %s", id, subject)
}

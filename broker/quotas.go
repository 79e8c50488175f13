package broker

// Client quotas: DescribeClientQuotas v0-v1 and AlterClientQuotas v0-v1,
// stored in the catalog; producer_byte_rate and consumer_byte_rate are
// enforced.
//
// Entities are Kafka's: user, client-id (together or alone, each with a
// name or the type's default) and ip. Without authentication every client
// is the user ANONYMOUS, as in Kafka. A client's quota is the first entity
// that sets the key in Kafka's order: user and client-id, user and default
// client-id, user, default user and client-id, default user and default
// client-id, default user, client-id, default client-id. A default applies
// to each client on its own.
//
// Enforcement is Kafka's: bytes are counted per user and client-id in 11
// one-second samples; when the rate over the samples (never less than 10
// seconds) passes the quota, the answer carries throttle_time_ms =
// (rate - quota) / quota x window, and the connection reads nothing more
// from the client for that long (KIP-219).
//
// controller_mutation_rate is KIP-599's: partitions created or deleted
// (CreateTopics, CreatePartitions, DeleteTopics) take tokens from a bucket
// that refills at the quota per second and holds 11 seconds' worth; once
// it is empty, the strict versions (CreateTopics v6+, CreatePartitions
// v3+, DeleteTopics v5+) refuse each further topic with
// THROTTLING_QUOTA_EXCEEDED, older ones are only throttled, and the answer
// carries the time until the bucket is level again.
//
// request_percentage counts the time each request kept the broker busy
// (throttleRequestTime); ip quotas (connection_creation_rate) hold and
// close connections past the rate (connection).

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/meta"
)

const anonymousUser = "ANONYMOUS"

// quotaKeys are the keys each entity kind takes.
var (
	clientQuotaKeys = []string{"consumer_byte_rate", "controller_mutation_rate", "producer_byte_rate", "request_percentage"}
	ipQuotaKeys     = []string{"connection_creation_rate"}
)

const (
	quotaSamples  = 11
	quotaSampleMs = 1000
)

// quotas is the broker's quota state. The quotas set are a copy-on-write
// snapshot read without a lock on every produce and fetch; AlterClientQuotas
// writes the catalog holding alterMu only, so requests never wait on it.
type quotas struct {
	alterMu sync.Mutex               // serialises alterations
	set     atomic.Pointer[quotaSet] // replaced whole on each change

	mu      sync.Mutex // guards windows and buckets
	windows map[windowKey]*rateWindow
	buckets map[windowKey]*tokenBucket
}

// tokenBucket is Kafka's TokenBucket for controller mutations.
type tokenBucket struct {
	tokens float64
	last   int64 // ms
}

// quotaSet is one snapshot of the quotas set, with each client's quotas
// as resolved against it: resolving walks Kafka's eight entities, and it
// would otherwise run on every request once any quota exists. A new
// snapshot starts with nothing resolved, so a change applies at once.
type quotaSet struct {
	byEntity map[string]meta.ClientQuota // entityKey -> values; never changed

	mu       sync.RWMutex
	resolved map[resolvedKey]float64
}

type resolvedKey struct{ key, user, client string }

func newQuotaSet(byEntity map[string]meta.ClientQuota) *quotaSet {
	return &quotaSet{byEntity: byEntity, resolved: map[resolvedKey]float64{}}
}

// clientQuota is quotaFor against this snapshot, resolved once per key,
// user and client.
func (s *quotaSet) clientQuota(key, user, client string) float64 {
	k := resolvedKey{key, user, client}
	s.mu.RLock()
	v, ok := s.resolved[k]
	s.mu.RUnlock()
	if ok {
		return v
	}
	v = quotaFor(s.byEntity, key, user, client)
	s.mu.Lock()
	if len(s.resolved) >= maxResolved {
		// Client ids are the client's to choose: start over rather
		// than grow without bound.
		clear(s.resolved)
	}
	s.resolved[k] = v
	s.mu.Unlock()
	return v
}

// maxResolved bounds a snapshot's resolved quotas (about 100 bytes each).
const maxResolved = 1 << 14

// current returns the quotas set; callers must not change its map.
func (q *quotas) current() *quotaSet { return q.set.Load() }

type windowKey struct {
	kind         string // producer_byte_rate or consumer_byte_rate
	user, client string
}

// rateWindow is Kafka's Rate over quotaSamples samples.
type rateWindow struct {
	start [quotaSamples]int64 // sample start, ms
	bytes [quotaSamples]float64
	cur   int
}

func newQuotas() *quotas {
	q := &quotas{windows: map[windowKey]*rateWindow{}, buckets: map[windowKey]*tokenBucket{}}
	q.set.Store(newQuotaSet(map[string]meta.ClientQuota{}))
	return q
}

// entityKey is the canonical key of an entity: parts sorted by type, a
// default name marked.
func entityKey(parts []meta.QuotaEntityPart) string {
	ps := slices.Clone(parts)
	slices.SortFunc(ps, func(a, b meta.QuotaEntityPart) int { return strings.Compare(a.Type, b.Type) })
	var sb strings.Builder
	for _, p := range ps {
		sb.WriteString(p.Type)
		if p.Name == nil {
			sb.WriteString("\x00default;")
		} else {
			sb.WriteString("=" + *p.Name + ";")
		}
	}
	return sb.String()
}

func (s *Server) loadQuotas(ctx context.Context) error {
	all, err := s.cfg.Catalog.ClientQuotas(ctx)
	if err != nil {
		return fmt.Errorf("broker: client quotas: %w", err)
	}
	m := make(map[string]meta.ClientQuota, len(all))
	for _, q := range all {
		m[entityKey(q.Entity)] = q
	}
	s.quotas.set.Store(newQuotaSet(m))
	return nil
}

// quotaFor returns the quota of key for a client in set, or 0 for none.
func quotaFor(set map[string]meta.ClientQuota, key, user, client string) float64 {
	u, c := user, client
	for _, e := range [][]meta.QuotaEntityPart{
		{{Type: "user", Name: &u}, {Type: "client-id", Name: &c}},
		{{Type: "user", Name: &u}, {Type: "client-id"}},
		{{Type: "user", Name: &u}},
		{{Type: "user"}, {Type: "client-id", Name: &c}},
		{{Type: "user"}, {Type: "client-id"}},
		{{Type: "user"}},
		{{Type: "client-id", Name: &c}},
		{{Type: "client-id"}},
	} {
		if v, ok := set[entityKey(e)].Values[key]; ok {
			return v
		}
	}
	return 0
}

// record counts n (bytes, or percent-seconds of request time) of kind for a
// client at now and returns how long to throttle it, 0 when within its
// quota or without one.
func (q *quotas) record(kind, user, client string, n float64, now time.Time) time.Duration {
	set := q.current()
	if len(set.byEntity) == 0 {
		return 0 // no quota anywhere: nothing to count
	}
	quota := set.clientQuota(kind, user, client)
	if quota <= 0 {
		return 0
	}
	return q.recordRate(windowKey{kind, user, client}, quota, n, now)
}

// ipQuota returns the connection_creation_rate of a client address: its
// own entity's, else the default ip entity's; 0 for none.
func ipQuota(set map[string]meta.ClientQuota, ip string) float64 {
	for _, e := range [][]meta.QuotaEntityPart{{{Type: "ip", Name: &ip}}, {{Type: "ip"}}} {
		if v, ok := set[entityKey(e)].Values["connection_creation_rate"]; ok {
			return v
		}
	}
	return 0
}

// connection counts a new connection from ip and returns how long to hold
// it before closing it when ip is past its connection_creation_rate, 0
// when it may be served.
func (q *quotas) connection(ip string, now time.Time) time.Duration {
	set := q.current().byEntity
	if len(set) == 0 {
		return 0
	}
	quota := ipQuota(set, ip)
	if quota <= 0 {
		return 0
	}
	d := q.recordRate(windowKey{"connection_creation_rate", "", ip}, quota, 1, now)
	return min(d, quotaSamples*quotaSampleMs*time.Millisecond)
}

// recordRate adds n to the rate window k at now and returns the throttle
// time of a rate past quota (Kafka's Rate and throttle formula).
func (q *quotas) recordRate(k windowKey, quota, n float64, now time.Time) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	w := q.windows[k]
	ms := now.UnixMilli()
	if w == nil {
		if len(q.windows) >= maxResolved {
			q.dropExpiredLocked(ms)
		}
		w = &rateWindow{}
		w.start[0] = ms
		q.windows[k] = w
	}
	if ms-w.start[w.cur] >= quotaSampleMs {
		w.cur = (w.cur + 1) % quotaSamples
		w.start[w.cur], w.bytes[w.cur] = ms, 0
	}
	w.bytes[w.cur] += n
	// Kafka's Rate: the samples within the window, over their span, at
	// least (samples - 1) sample windows.
	var total float64
	oldest := ms
	for i := range quotaSamples {
		if w.start[i] != 0 && ms-w.start[i] < quotaSamples*quotaSampleMs {
			total += w.bytes[i]
			oldest = min(oldest, w.start[i])
		}
	}
	window := float64(ms - oldest)
	if minWindow := float64((quotaSamples - 1) * quotaSampleMs); window < minWindow {
		window = minWindow
	}
	rate := total / (window / 1000)
	if rate <= quota {
		return 0
	}
	throttle := (rate - quota) / quota * window
	return time.Duration(min(throttle, math.MaxInt32)) * time.Millisecond
}

// dropExpiredLocked forgets the rate windows none of whose samples is
// within the window any more: their rate is 0, and a window made anew
// for the next record counts it exactly as the expired one would. Kafka
// expires idle quota sensors likewise. Caller holds q.mu.
func (q *quotas) dropExpiredLocked(ms int64) {
	for k, w := range q.windows {
		if ms-w.start[w.cur] >= quotaSamples*quotaSampleMs {
			delete(q.windows, k)
		}
	}
}

// throttle records n bytes of kind for the request's client and, when it
// passes its quota, sets the response's throttle time and mutes the
// connection for it.
func (s *Server) throttle(r *request, resp kmsg.Response, kind string, n int) {
	d := s.quotas.record(kind, anonymousUser, r.header.ClientID, float64(n), s.now())
	if d <= 0 {
		return
	}
	if tr, ok := resp.(kmsg.SetThrottleResponse); ok {
		tr.SetThrottle(int32(d / time.Millisecond))
	}
	r.conn.muteFor(d)
}

// mutationQuota is one request's view of its client's
// controller_mutation_rate; nil when the client has none.
type mutationQuota struct {
	q      *quotas
	key    windowKey
	quota  float64
	strict bool // refuse (THROTTLING_QUOTA_EXCEEDED) rather than only throttle
}

// mutationQuota returns the request's client's controller mutation quota.
func (s *Server) mutationQuota(r *request, strict bool) *mutationQuota {
	set := s.quotas.current()
	if len(set.byEntity) == 0 {
		return nil
	}
	quota := set.clientQuota("controller_mutation_rate", anonymousUser, r.header.ClientID)
	if quota <= 0 {
		return nil
	}
	return &mutationQuota{q: s.quotas, key: windowKey{"controller_mutation_rate", anonymousUser, r.header.ClientID}, quota: quota, strict: strict}
}

// bucketLocked returns the client's bucket refilled to now. Caller holds
// q.mu.
func (m *mutationQuota) bucketLocked(now time.Time) *tokenBucket {
	burst := m.quota * quotaSamples * quotaSampleMs / 1000
	ms := now.UnixMilli()
	b := m.q.buckets[m.key]
	if b == nil {
		b = &tokenBucket{tokens: burst, last: ms}
		m.q.buckets[m.key] = b
	}
	b.tokens = min(burst, b.tokens+m.quota*float64(ms-b.last)/1000)
	b.last = ms
	return b
}

// admit takes n partition mutations from the bucket, or, for a strict
// request whose bucket is already empty, refuses them.
func (m *mutationQuota) admit(n int, now time.Time) error {
	if m == nil || n <= 0 {
		return nil
	}
	m.q.mu.Lock()
	defer m.q.mu.Unlock()
	b := m.bucketLocked(now)
	if m.strict && b.tokens < 0 {
		return kafkaError(kerr.ThrottlingQuotaExceeded, "The throttling quota has been exceeded.")
	}
	b.tokens -= float64(n)
	return nil
}

// throttle sets the response's throttle time to how long the bucket takes
// to be level again, and mutes the connection for it.
func (m *mutationQuota) throttle(r *request, resp kmsg.Response, now time.Time) {
	if m == nil {
		return
	}
	m.q.mu.Lock()
	b := m.bucketLocked(now)
	d := time.Duration(0)
	if b.tokens < 0 {
		d = time.Duration(-b.tokens / m.quota * float64(time.Second))
	}
	m.q.mu.Unlock()
	if d <= 0 {
		return
	}
	if tr, ok := resp.(kmsg.SetThrottleResponse); ok {
		tr.SetThrottle(int32(min(d/time.Millisecond, math.MaxInt32)))
	}
	r.conn.muteFor(d)
}

// throttleRequestTime is request_percentage, Kafka's request quota: the
// time a request kept the broker busy (its handler's, without a long
// poll's wait; an acks=all produce's wait for fsync runs after the
// handler) counts as a percentage of one second; past the quota the
// response is throttled (the larger of this and a byte-rate throttle) and
// the connection muted. ApiVersions is exempt, as in Kafka.
func (s *Server) throttleRequestTime(r *request, resp kmsg.Response) {
	if r.header.Key == int16(kmsg.ApiVersions) {
		return
	}
	busy := time.Since(r.start) - r.waited
	d := s.quotas.record("request_percentage", anonymousUser, r.header.ClientID, busy.Seconds()*100, s.now())
	if d <= 0 {
		return
	}
	ms := int32(min(d/time.Millisecond, math.MaxInt32))
	if tr, ok := resp.(kmsg.ThrottleResponse); ok {
		if cur, _ := tr.Throttle(); cur >= ms {
			return
		}
	}
	if tr, ok := resp.(kmsg.SetThrottleResponse); ok {
		tr.SetThrottle(ms)
	}
	r.conn.muteFor(d)
}

// validQuotaEntity checks an entity as Kafka's ClientQuotaEntity does.
func validQuotaEntity(parts []meta.QuotaEntityPart) (keys []string, err error) {
	if len(parts) == 0 {
		return nil, kafkaError(kerr.InvalidRequest, "Invalid empty client quota entity")
	}
	seen := map[string]bool{}
	for _, p := range parts {
		switch p.Type {
		case "user", "client-id", "ip":
		default:
			return nil, kafkaError(kerr.InvalidRequest, "Unhandled client quota entity type: %s", p.Type)
		}
		if seen[p.Type] {
			return nil, kafkaError(kerr.InvalidRequest, "Duplicate %s entity type in the request", p.Type)
		}
		seen[p.Type] = true
	}
	if seen["ip"] {
		if len(parts) > 1 {
			return nil, kafkaError(kerr.InvalidRequest, "Invalid quota entity combination, IP entity should not be combined with User or ClientId")
		}
		return ipQuotaKeys, nil
	}
	return clientQuotaKeys, nil
}

func (s *Server) handleAlterClientQuotas(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AlterClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	for _, e := range req.Entries {
		se := kmsg.NewAlterClientQuotasResponseEntry()
		var parts []meta.QuotaEntityPart
		for _, p := range e.Entity {
			sp := kmsg.NewAlterClientQuotasResponseEntryEntity()
			sp.Type, sp.Name = p.Type, p.Name
			se.Entity = append(se.Entity, sp)
			parts = append(parts, meta.QuotaEntityPart{Type: p.Type, Name: p.Name})
		}
		if err := s.alterQuota(ctx, parts, e.Ops, req.ValidateOnly); err != nil {
			se.ErrorCode, se.ErrorMessage = errorCode(err), errMessage(err)
		}
		resp.Entries = append(resp.Entries, se)
	}
	return resp, nil
}

func (s *Server) alterQuota(ctx context.Context, parts []meta.QuotaEntityPart, ops []kmsg.AlterClientQuotasRequestEntryOp, validateOnly bool) error {
	keys, err := validQuotaEntity(parts)
	if err != nil {
		return err
	}
	q := s.quotas
	q.alterMu.Lock()
	defer q.alterMu.Unlock()
	k := entityKey(parts)
	for try := 1; ; try++ {
		cur := q.current().byEntity[k]
		vals := maps.Clone(cur.Values)
		if vals == nil {
			vals = map[string]float64{}
		}
		seen := map[string]bool{}
		for _, op := range ops {
			switch {
			case seen[op.Key]:
				return kafkaError(kerr.InvalidRequest, "Duplicate quota key %s in the request", op.Key)
			case !slices.Contains(keys, op.Key):
				return kafkaError(kerr.InvalidRequest, "Invalid configuration key %s", op.Key)
			case !op.Remove && (op.Value <= 0 || math.IsNaN(op.Value) || math.IsInf(op.Value, 0)):
				return kafkaError(kerr.InvalidRequest, "Illegal value for quota %s: %v, it must be positive", op.Key, op.Value)
			}
			seen[op.Key] = true
			if op.Remove {
				delete(vals, op.Key)
			} else {
				vals[op.Key] = op.Value
			}
		}
		if validateOnly {
			return nil
		}
		cq := meta.ClientQuota{Entity: parts, Values: vals, Version: cur.Version}
		err := s.cfg.Catalog.SetClientQuota(ctx, cq)
		if errors.Is(err, meta.ErrConflict) && try < maxConflicts {
			// Changed through another broker: take the stored
			// quotas and apply the operations over them.
			if err := s.loadQuotas(ctx); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("broker: store client quota: %w", err)
		}
		cq.Version++
		next := maps.Clone(q.current().byEntity)
		if len(vals) == 0 {
			delete(next, k)
		} else {
			next[k] = cq
		}
		q.set.Store(newQuotaSet(next))
		return nil
	}
}

// Quota match types of DescribeClientQuotas.
const (
	matchExact   = 0
	matchDefault = 1
	matchAny     = 2
)

func (s *Server) handleDescribeClientQuotas(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	fail := func(format string, args ...any) (kmsg.Response, error) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		msg := fmt.Sprintf(format, args...)
		resp.ErrorMessage = &msg
		return resp, nil
	}
	seen := map[string]bool{}
	for _, c := range req.Components {
		switch c.EntityType {
		case "user", "client-id", "ip":
		default:
			return fail("Custom entity type '%s' not supported", c.EntityType)
		}
		if seen[c.EntityType] {
			return fail("Duplicate filter component entity type %s", c.EntityType)
		}
		seen[c.EntityType] = true
		if c.MatchType == matchExact && c.Match == nil || c.MatchType > matchAny {
			return fail("Unknown match type %d for entity type %s", c.MatchType, c.EntityType)
		}
	}
	if seen["ip"] && len(seen) > 1 {
		return fail("Invalid entity filter component combination, IP filter component should not be used with user or clientId filter component.")
	}
	set := s.quotas.current().byEntity
	all := make([]meta.ClientQuota, 0, len(set))
	for _, cq := range set {
		all = append(all, cq)
	}
	slices.SortFunc(all, func(a, b meta.ClientQuota) int { return strings.Compare(entityKey(a.Entity), entityKey(b.Entity)) })
	for _, cq := range all {
		if !quotaMatches(cq.Entity, req.Components, req.Strict) {
			continue
		}
		e := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, p := range cq.Entity {
			ee := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			ee.Type, ee.Name = p.Type, p.Name
			e.Entity = append(e.Entity, ee)
		}
		keys := make([]string, 0, len(cq.Values))
		for k := range cq.Values {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := kmsg.NewDescribeClientQuotasResponseEntryValue()
			v.Key, v.Value = k, cq.Values[k]
			e.Values = append(e.Values, v)
		}
		resp.Entries = append(resp.Entries, e)
	}
	return resp, nil
}

// quotaMatches applies DescribeClientQuotas' filter to an entity: every
// component must match a part of its type; with strict, the entity may
// have no other parts.
func quotaMatches(entity []meta.QuotaEntityPart, comps []kmsg.DescribeClientQuotasRequestComponent, strict bool) bool {
	if strict && len(entity) != len(comps) {
		return false
	}
	for _, c := range comps {
		i := slices.IndexFunc(entity, func(p meta.QuotaEntityPart) bool { return p.Type == c.EntityType })
		if i < 0 {
			return false
		}
		name := entity[i].Name
		switch c.MatchType {
		case matchExact:
			if name == nil || *name != *c.Match {
				return false
			}
		case matchDefault:
			if name != nil {
				return false
			}
		case matchAny:
			if name == nil {
				return false
			}
		}
	}
	return true
}

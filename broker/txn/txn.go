// Package txn is the transaction coordinator: Kafka's TransactionCoordinator
// for one broker. It maps transactional ids to producer ids and epochs
// (fencing older epochs), tracks the partitions and groups of each open
// transaction, and ends transactions by writing commit or abort markers
// into every partition and committing (or dropping) the transaction's
// offsets.
//
// State goes to the catalog (meta.Transactions) at every change, before the
// answer; PrepareCommit and PrepareAbort are stored before any marker is
// written, so that a coordinator that starts after a crash finishes what
// was decided (Load). A committing transaction's offsets are stored with its
// CompleteCommit state, in one catalog transaction.
//
// The coordinator does not know the broker: it writes markers and checks
// partitions through the functions in Config.
package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/streamhouse/streamhouse/meta"
)

// States, as Kafka names them.
const (
	Empty             = "Empty"
	Ongoing           = "Ongoing"
	PrepareCommit     = "PrepareCommit"
	PrepareAbort      = "PrepareAbort"
	CompleteCommit    = "CompleteCommit"
	CompleteAbort     = "CompleteAbort"
	PrepareEpochFence = "PrepareEpochFence"
)

// Store is what the coordinator keeps in the catalog.
type Store interface {
	PutTransaction(ctx context.Context, t meta.Transaction, offsets []meta.GroupOffset) error
	Transaction(ctx context.Context, id string) (meta.Transaction, bool, error)
	Transactions(ctx context.Context) ([]meta.Transaction, error)
	DeleteTransaction(ctx context.Context, id string, version int64) error
	PutTransactionFenced(ctx context.Context, fence meta.Fence, t meta.Transaction, offsets []meta.GroupOffset) error
}

// Config is what a Coordinator is built from.
type Config struct {
	Store Store
	// NewProducerID returns a producer id never handed out before.
	NewProducerID func(ctx context.Context) (int64, error)
	// WriteMarkers writes the end markers of st, a decided transaction
	// (PrepareCommit or PrepareAbort, as stored at st.Version): a commit
	// or abort marker for st.ProducerID and st.ProducerEpoch into each of
	// st.Partitions, and returns once they are durable. Partitions that
	// no longer exist are skipped.
	WriteMarkers func(ctx context.Context, st meta.Transaction) error
	// PartitionExists reports whether topic has partition p.
	PartitionExists func(topic string, p int32) bool
	// CommittedOffsets tells the group coordinator about offsets a
	// transaction committed (already stored in the catalog).
	CommittedOffsets func(offsets []meta.GroupOffset)
	// MaxTimeoutMs is transaction.max.timeout.ms.
	MaxTimeoutMs int32
	// Shared reports whether another broker may change st in the store
	// (in the cluster mode, the coordinator of one of its groups adds
	// TxnOffsetCommit's offsets): it is then read again before a request
	// changes it. Nil: never.
	Shared func(st *meta.Transaction) bool
	// Fence, when set, gives the lease id's state is stored under (the
	// cluster mode: its shard's, as this broker holds it), and false when
	// this broker holds it no more: writes then go through
	// Store.PutTransactionFenced, and a coordinator that lost the shard
	// stores nothing and answers NOT_COORDINATOR. Nil: unfenced.
	Fence func(id string) (meta.Fence, bool)
	// Owns reports whether this coordinator answers for transactional id
	// (in the cluster mode, whether this broker holds its shard): the
	// background work (finishing decided ends, aborting timed-out
	// transactions, expiring ids) leaves the others to their own
	// coordinators. Nil: every id.
	Owns   func(id string) bool
	Logger *slog.Logger
	Now    func() time.Time
}

// Coordinator is the transaction coordinator. Its methods are safe for
// concurrent use; requests for one transactional id run one at a time.
type Coordinator struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	txns  map[string]*txn
	byPID map[int64]*txn
}

// txn is one transactional id. mu serialises the requests for it; state is
// read by other requests (produce verification) under Coordinator.mu.
type txn struct {
	mu    sync.Mutex
	state meta.Transaction // guarded by Coordinator.mu for writes and cross-id reads
}

// New builds a coordinator; call Load before serving.
func New(cfg Config) *Coordinator {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxTimeoutMs <= 0 {
		cfg.MaxTimeoutMs = 900000
	}
	return &Coordinator{cfg: cfg, log: cfg.Logger, txns: map[string]*txn{}, byPID: map[int64]*txn{}}
}

// Load reads the stored transactions and finishes those a crash left
// between their decision and their end: a PrepareCommit or PrepareAbort
// writes its markers (again) and completes.
func (c *Coordinator) Load(ctx context.Context) error {
	all, err := c.cfg.Store.Transactions(ctx)
	if err != nil {
		return fmt.Errorf("txn: load: %w", err)
	}
	c.mu.Lock()
	for _, st := range all {
		t := &txn{state: st}
		c.txns[st.ID] = t
		c.byPID[st.ProducerID] = t
	}
	c.mu.Unlock()
	for _, st := range all {
		if st.State != PrepareCommit && st.State != PrepareAbort || !c.owns(st.ID) {
			continue
		}
		t := c.get(st.ID)
		t.mu.Lock()
		err := c.complete(ctx, t)
		t.mu.Unlock()
		if err != nil {
			return fmt.Errorf("txn: finish %s of %q: %w", st.State, st.ID, err)
		}
		c.log.Info("finished a transaction a restart interrupted", "transactional_id", st.ID, "state", st.State)
	}
	return nil
}

// Adopt reads again the stored state of the transactional ids owns
// selects, when this coordinator starts answering for them (in the cluster
// mode, a shard taken over: what was read before is stale), and finishes
// their decided ends.
func (c *Coordinator) Adopt(ctx context.Context, owns func(id string) bool) error {
	all, err := c.cfg.Store.Transactions(ctx)
	if err != nil {
		return fmt.Errorf("txn: adopt: %w", err)
	}
	for _, st := range all {
		if !owns(st.ID) {
			continue
		}
		c.mu.Lock()
		t := c.txns[st.ID]
		if t == nil {
			t = &txn{state: st}
			c.txns[st.ID] = t
			c.byPID[st.ProducerID] = t
			c.mu.Unlock()
			continue
		}
		c.mu.Unlock()
		t.mu.Lock()
		if t.state.Version != st.Version {
			c.set(t, st)
		}
		t.mu.Unlock()
	}
	c.RetryPrepared(ctx)
	return nil
}

func (c *Coordinator) get(id string) *txn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.txns[id]
}

// snapshot returns t's state; caller holds t.mu (so no writer runs).
func (c *Coordinator) snapshot(t *txn) meta.Transaction {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := t.state
	st.Partitions = slices.Clone(st.Partitions)
	st.Groups = slices.Clone(st.Groups)
	st.Offsets = slices.Clone(st.Offsets)
	return st
}

// storeError is the answer to a request whose state could not be stored:
// NOT_COORDINATOR when this coordinator lost the id's shard (the write was
// fenced), COORDINATOR_NOT_AVAILABLE otherwise; clients retry both.
func storeError(err error) *kerr.Error {
	if errors.Is(err, meta.ErrFenced) {
		return kerr.NotCoordinator
	}
	return kerr.CoordinatorNotAvailable
}

// store persists st (with offsets to commit) and makes it t's state.
// Caller holds t.mu.
//
// The write is conditional on the version st was computed from (t's):
// when the catalog holds another (a write whose outcome was lost did land,
// or another coordinator wrote), nothing is stored and t's state is read
// again, so that the client's retry is judged against what is stored.
func (c *Coordinator) store(ctx context.Context, t *txn, st meta.Transaction, offsets []meta.GroupOffset) error {
	st.UpdateTime = c.cfg.Now().Truncate(time.Millisecond)
	put := c.cfg.Store.PutTransaction
	if c.cfg.Fence != nil {
		f, ok := c.cfg.Fence(st.ID)
		if !ok {
			return fmt.Errorf("transactional id %q: its coordinator shard is not held here: %w", st.ID, meta.ErrFenced)
		}
		put = func(ctx context.Context, st meta.Transaction, offsets []meta.GroupOffset) error {
			return c.cfg.Store.PutTransactionFenced(ctx, f, st, offsets)
		}
	}
	if err := put(ctx, st, offsets); err != nil {
		if errors.Is(err, meta.ErrConflict) {
			c.reload(ctx, t, st.ID)
		}
		return err
	}
	st.Version++
	c.set(t, st)
	return nil
}

// reload replaces t's state with the stored one after a conflict. Caller
// holds t.mu. A failed read leaves t as it is: the next write conflicts
// again and reads again.
func (c *Coordinator) reload(ctx context.Context, t *txn, id string) {
	stored, ok, err := c.cfg.Store.Transaction(ctx, id)
	if err != nil {
		c.log.Warn("reading a transactional id's state after a conflicting write failed", "transactional_id", id, "err", err)
		return
	}
	if !ok {
		stored = c.snapshot(t)
		stored.Version = 0
	}
	c.log.Warn("a transactional id's stored state changed under this coordinator; read it again",
		"transactional_id", id, "state", stored.State, "producer_id", stored.ProducerID, "epoch", stored.ProducerEpoch)
	c.set(t, stored)
}

// fresh returns t's state, read again from the store first when another
// broker may have changed it there (Config.Shared). Caller holds t.mu. A
// failed read leaves t as it is: a write computed from it conflicts.
func (c *Coordinator) fresh(ctx context.Context, t *txn) meta.Transaction {
	st := c.snapshot(t)
	if c.cfg.Shared == nil || !c.cfg.Shared(&st) {
		return st
	}
	stored, ok, err := c.cfg.Store.Transaction(ctx, st.ID)
	if err != nil || !ok || stored.Version == st.Version {
		return st
	}
	c.set(t, stored)
	return c.snapshot(t)
}

// set makes st t's state. Caller holds t.mu.
func (c *Coordinator) set(t *txn, st meta.Transaction) {
	c.mu.Lock()
	if old := t.state.ProducerID; old != st.ProducerID && c.byPID[old] == t {
		delete(c.byPID, old)
	}
	t.state = st
	c.byPID[st.ProducerID] = t
	c.mu.Unlock()
}

// InitProducerID serves InitProducerId for a transactional id: a new id at
// epoch 0 the first time, the same id at the next epoch afterwards (a new
// id when the epoch is exhausted), fencing the previous holder. An open
// transaction is aborted first. reqPID and reqEpoch are the client's
// current pair (v3+, KIP-360; -1 otherwise): a pair that is neither the
// current nor the previous one is a fenced zombie.
func (c *Coordinator) InitProducerID(ctx context.Context, id string, timeoutMs int32, reqPID int64, reqEpoch int16) (int64, int16, *kerr.Error) {
	if timeoutMs <= 0 || timeoutMs > c.cfg.MaxTimeoutMs {
		return -1, -1, kerr.InvalidTransactionTimeout
	}
	c.mu.Lock()
	t := c.txns[id]
	if t == nil {
		t = &txn{state: meta.Transaction{ID: id, ProducerID: -1, ProducerEpoch: -1, LastProducerID: -1, LastProducerEpoch: -1, State: Empty}}
		c.txns[id] = t
	}
	c.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	st := c.snapshot(t)

	if reqPID >= 0 {
		current := reqPID == st.ProducerID && reqEpoch == st.ProducerEpoch
		previous := reqPID == st.LastProducerID && reqEpoch == st.LastProducerEpoch
		switch {
		case previous && st.State == Empty:
			// A retry of the InitProducerId that bumped: answer the same.
			return st.ProducerID, st.ProducerEpoch, nil
		case !current && !previous:
			return -1, -1, kerr.ProducerFenced
		}
	}
	switch st.State {
	case PrepareCommit, PrepareAbort:
		return -1, -1, kerr.ConcurrentTransactions
	case Ongoing:
		// The previous holder of the id left a transaction open: abort it
		// at a bumped epoch, which fences that holder.
		if err := c.abortFenced(ctx, t, &st); err != nil {
			c.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "aborting the open transaction of a re-initialised transactional id failed", "transactional_id", id, "err", err)
			return -1, -1, kerr.CoordinatorNotAvailable
		}
	}

	st.LastProducerID, st.LastProducerEpoch = st.ProducerID, st.ProducerEpoch
	if st.ProducerID < 0 || st.ProducerEpoch >= math.MaxInt16-1 {
		pid, err := c.cfg.NewProducerID(ctx)
		if err != nil {
			c.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "allocating a producer id failed", "err", err)
			return -1, -1, kerr.CoordinatorNotAvailable
		}
		st.ProducerID, st.ProducerEpoch = pid, 0
	} else {
		st.ProducerEpoch++
	}
	st.TimeoutMs = timeoutMs
	st.State = Empty
	st.Partitions, st.Groups, st.Offsets, st.StartTime = nil, nil, nil, time.Time{}
	if err := c.store(ctx, t, st, nil); err != nil {
		c.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "storing a transactional id failed", "transactional_id", id, "err", err)
		return -1, -1, storeError(err)
	}
	return st.ProducerID, st.ProducerEpoch, nil
}

// abortFenced aborts t's open transaction at the next epoch (so that its
// markers fence the producer that opened it) and leaves st at that epoch,
// Empty. Caller holds t.mu.
func (c *Coordinator) abortFenced(ctx context.Context, t *txn, st *meta.Transaction) error {
	if st.ProducerEpoch < math.MaxInt16-1 {
		st.ProducerEpoch++
	}
	st.State = PrepareAbort
	if err := c.store(ctx, t, *st, nil); err != nil {
		return err
	}
	if err := c.complete(ctx, t); err != nil {
		return err
	}
	*st = c.snapshot(t)
	return nil
}

// check validates a request's producer id and epoch against t: errors as
// Kafka's coordinator returns them. Caller holds t.mu.
// Check judges a request of producer pid at epoch against st, its
// transactional id's state: INVALID_PRODUCER_ID_MAPPING for another
// producer id, PRODUCER_FENCED for an older epoch, INVALID_PRODUCER_EPOCH
// for a newer one.
func Check(st *meta.Transaction, pid int64, epoch int16) *kerr.Error {
	switch {
	case st.ProducerID != pid:
		return kerr.InvalidProducerIDMapping
	case epoch < st.ProducerEpoch:
		return kerr.ProducerFenced
	case epoch > st.ProducerEpoch:
		return kerr.InvalidProducerEpoch
	}
	return nil
}

// lookup returns the transaction of id for a request from pid and epoch,
// locked, or the error to answer.
func (c *Coordinator) lookup(ctx context.Context, id string, pid int64, epoch int16) (*txn, meta.Transaction, *kerr.Error) {
	t := c.get(id)
	if t == nil {
		return nil, meta.Transaction{}, kerr.InvalidProducerIDMapping
	}
	t.mu.Lock()
	st := c.fresh(ctx, t)
	if err := Check(&st, pid, epoch); err != nil {
		t.mu.Unlock()
		return nil, st, err
	}
	if st.State == PrepareCommit || st.State == PrepareAbort || st.State == PrepareEpochFence {
		t.mu.Unlock()
		return nil, st, kerr.ConcurrentTransactions
	}
	return t, st, nil
}

// AddPartitions adds partitions to the transaction of id (AddPartitionsToTxn).
// It returns one error for all partitions, or a per-partition map (an
// unknown partition fails, the others are then not attempted).
func (c *Coordinator) AddPartitions(ctx context.Context, id string, pid int64, epoch int16, parts []meta.TopicPartition) (*kerr.Error, map[meta.TopicPartition]*kerr.Error) {
	var unknown map[meta.TopicPartition]*kerr.Error
	for _, p := range parts {
		if !c.cfg.PartitionExists(p.Topic, p.Partition) {
			if unknown == nil {
				unknown = map[meta.TopicPartition]*kerr.Error{}
			}
			unknown[p] = kerr.UnknownTopicOrPartition
		}
	}
	t, st, kerrv := c.lookup(ctx, id, pid, epoch)
	if kerrv != nil {
		return kerrv, nil
	}
	defer t.mu.Unlock()
	if unknown != nil {
		for _, p := range parts {
			if unknown[p] == nil {
				unknown[p] = kerr.OperationNotAttempted
			}
		}
		return nil, unknown
	}
	added := false
	for _, p := range parts {
		if !slices.Contains(st.Partitions, p) {
			st.Partitions = append(st.Partitions, p)
			added = true
		}
	}
	if !added && st.State == Ongoing {
		return nil, nil
	}
	c.begin(&st)
	if err := c.store(ctx, t, st, nil); err != nil {
		c.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "storing a transaction failed", "transactional_id", id, "err", err)
		return storeError(err), nil
	}
	return nil, nil
}

// begin moves st to Ongoing, starting its timeout when it was not open.
func (c *Coordinator) begin(st *meta.Transaction) {
	if st.State != Ongoing {
		st.State = Ongoing
		st.StartTime = c.cfg.Now().Truncate(time.Millisecond)
	}
}

// AddOffsets adds group to the transaction of id (AddOffsetsToTxn).
func (c *Coordinator) AddOffsets(ctx context.Context, id string, pid int64, epoch int16, group string) *kerr.Error {
	t, st, kerrv := c.lookup(ctx, id, pid, epoch)
	if kerrv != nil {
		return kerrv
	}
	defer t.mu.Unlock()
	if slices.Contains(st.Groups, group) && st.State == Ongoing {
		return nil
	}
	if !slices.Contains(st.Groups, group) {
		st.Groups = append(st.Groups, group)
	}
	c.begin(&st)
	if err := c.store(ctx, t, st, nil); err != nil {
		c.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "storing a transaction failed", "transactional_id", id, "err", err)
		return storeError(err)
	}
	return nil
}

// ErrNotInTransaction is returned by CommitOffsets for a group the
// transaction did not add (AddOffsetsToTxn first).
var ErrNotInTransaction = errors.New("txn: the group is not part of the transaction")

// CommitOffsets records offsets of group as the transaction's, to be
// committed at its end (TxnOffsetCommit).
func (c *Coordinator) CommitOffsets(ctx context.Context, id string, pid int64, epoch int16, group string, offsets []meta.GroupOffset) *kerr.Error {
	t, st, kerrv := c.lookup(ctx, id, pid, epoch)
	if kerrv != nil {
		return kerrv
	}
	defer t.mu.Unlock()
	if st.State != Ongoing || !slices.Contains(st.Groups, group) {
		return kerr.InvalidTxnState
	}
	MergeOffsets(&st, offsets)
	if err := c.store(ctx, t, st, nil); err != nil {
		c.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "storing a transaction failed", "transactional_id", id, "err", err)
		return storeError(err)
	}
	return nil
}

// MergeOffsets records offsets in st as its TxnOffsetCommit offsets, each
// replacing an earlier one of the same group and partition.
func MergeOffsets(st *meta.Transaction, offsets []meta.GroupOffset) {
	for _, o := range offsets {
		i := slices.IndexFunc(st.Offsets, func(p meta.GroupOffset) bool {
			return p.Group == o.Group && p.Topic == o.Topic && p.Partition == o.Partition
		})
		if i >= 0 {
			st.Offsets[i] = o
		} else {
			st.Offsets = append(st.Offsets, o)
		}
	}
}

// EndTxn commits or aborts the transaction of id: the decision is stored,
// the markers written and durable, the offsets committed or dropped, and
// the end stored, before it returns. With bump (EndTxn v5+, transaction
// version 2) the epoch moves on at each end: the markers carry the new
// epoch, which fences whatever the producer sent at the old one, and the
// new producer id and epoch are returned.
func (c *Coordinator) EndTxn(ctx context.Context, id string, pid int64, epoch int16, commit, bump bool) (int64, int16, *kerr.Error) {
	t := c.get(id)
	if t == nil {
		return -1, -1, kerr.InvalidProducerIDMapping
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	st := c.fresh(ctx, t)
	if bump && pid == st.LastProducerID && epoch == st.LastProducerEpoch &&
		(st.State == CompleteCommit && commit || st.State == CompleteAbort && !commit) {
		// A retry of the end that bumped.
		return st.ProducerID, st.ProducerEpoch, nil
	}
	if err := Check(&st, pid, epoch); err != nil {
		return -1, -1, err
	}
	switch st.State {
	case Ongoing:
	case PrepareCommit, PrepareAbort, PrepareEpochFence:
		return -1, -1, kerr.ConcurrentTransactions
	default: // Empty, CompleteCommit, CompleteAbort
		switch {
		case bump && !commit:
			// Transaction version 2 may abort what it is unsure it
			// began (a produce that failed may still have added a
			// partition): nothing to mark, but the epoch moves on.
		case !bump && st.State != Empty && (st.State == CompleteCommit) == commit:
			return st.ProducerID, st.ProducerEpoch, nil // a retry
		default:
			return -1, -1, kerr.InvalidTxnState
		}
	}
	if commit {
		st.State = PrepareCommit
	} else {
		st.State = PrepareAbort
	}
	if bump {
		st.LastProducerID, st.LastProducerEpoch = st.ProducerID, st.ProducerEpoch
		if st.ProducerEpoch >= math.MaxInt16-1 {
			next, err := c.cfg.NewProducerID(ctx)
			if err != nil {
				c.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "allocating a producer id failed", "err", err)
				return -1, -1, kerr.CoordinatorNotAvailable
			}
			st.NextProducerID = next
		}
		st.ProducerEpoch++
	}
	if err := c.store(ctx, t, st, nil); err != nil {
		c.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "storing a transaction failed", "transactional_id", id, "err", err)
		return -1, -1, storeError(err)
	}
	if err := c.complete(ctx, t); err != nil {
		c.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "ending a decided transaction failed; it is retried in the background (RetryPrepared) and the client is told CONCURRENT_TRANSACTIONS until then", "transactional_id", id, "err", err)
		return -1, -1, kerr.CoordinatorNotAvailable
	}
	st = c.snapshot(t)
	return st.ProducerID, st.ProducerEpoch, nil
}

// complete finishes t, which is in PrepareCommit or PrepareAbort: markers,
// offsets, CompleteCommit or CompleteAbort. Caller holds t.mu.
func (c *Coordinator) complete(ctx context.Context, t *txn) error {
	st := c.snapshot(t)
	commit := st.State == PrepareCommit
	if len(st.Partitions) > 0 || len(st.Groups) > 0 {
		if err := c.cfg.WriteMarkers(ctx, st); err != nil {
			if errors.Is(err, meta.ErrConflict) {
				c.reload(ctx, t, st.ID) // another coordinator wrote since
			}
			return err
		}
	}
	var offsets []meta.GroupOffset
	if commit {
		offsets = st.Offsets
		now := c.cfg.Now().Truncate(time.Millisecond)
		for i := range offsets {
			if offsets[i].CommitTime.IsZero() {
				offsets[i].CommitTime = now
			}
		}
		st.State = CompleteCommit
	} else {
		st.State = CompleteAbort
	}
	st.Partitions, st.Groups, st.Offsets, st.StartTime = nil, nil, nil, time.Time{}
	if st.NextProducerID > 0 {
		// The bump exhausted the epochs: the next transaction uses a new
		// producer id (the markers went out under the old one).
		st.LastProducerID, st.LastProducerEpoch = st.ProducerID, st.ProducerEpoch
		st.ProducerID, st.ProducerEpoch, st.NextProducerID = st.NextProducerID, 0, 0
	}
	if err := c.store(ctx, t, st, offsets); err != nil {
		return err
	}
	if len(offsets) > 0 && c.cfg.CommittedOffsets != nil {
		c.cfg.CommittedOffsets(offsets)
	}
	return nil
}

// Verify checks that a transactional batch of producer pid at epoch may be
// written to the partition: the producer's transaction is open and added
// the partition (Kafka's partition verification, KIP-890's defence against
// hanging transactions). Errors: INVALID_PRODUCER_EPOCH for an old epoch
// (a fenced producer), INVALID_TXN_STATE otherwise.
func (c *Coordinator) Verify(pid int64, epoch int16, p meta.TopicPartition) *kerr.Error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.byPID[pid]
	if t == nil {
		return kerr.InvalidTxnState
	}
	return VerifyState(&t.state, pid, epoch, p)
}

// VerifyState is Verify's judgement against st, the state of the
// producer's transactional id.
func VerifyState(st *meta.Transaction, pid int64, epoch int16, p meta.TopicPartition) *kerr.Error {
	switch {
	case st.ProducerID != pid:
		return kerr.InvalidTxnState
	case epoch < st.ProducerEpoch:
		return kerr.InvalidProducerEpoch
	case epoch > st.ProducerEpoch, st.State != Ongoing, !slices.Contains(st.Partitions, p):
		return kerr.InvalidTxnState
	}
	return nil
}

// AddImplicitly is Verify for a produce of transaction version 2
// (Produce v12+): a partition the producer's transaction has not added yet
// is added, and a transaction not open yet begins, as Kafka's coordinator
// does when the partition leader asks it to add the partition.
func (c *Coordinator) AddImplicitly(ctx context.Context, pid int64, epoch int16, p meta.TopicPartition) *kerr.Error {
	if c.Verify(pid, epoch, p) == nil {
		return nil // added already: the common case, without copying the state
	}
	c.mu.Lock()
	t := c.byPID[pid]
	c.mu.Unlock()
	if t == nil {
		return kerr.InvalidTxnState
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	st := c.snapshot(t)
	switch {
	case st.ProducerID != pid:
		return kerr.InvalidTxnState
	case epoch < st.ProducerEpoch:
		return kerr.InvalidProducerEpoch
	case epoch > st.ProducerEpoch:
		return kerr.InvalidTxnState
	case st.State == PrepareCommit || st.State == PrepareAbort || st.State == PrepareEpochFence:
		return kerr.ConcurrentTransactions
	case st.State == Ongoing && slices.Contains(st.Partitions, p):
		return nil
	}
	if !slices.Contains(st.Partitions, p) {
		st.Partitions = append(st.Partitions, p)
	}
	c.begin(&st)
	if err := c.store(ctx, t, st, nil); err != nil {
		c.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "storing a transaction failed", "transactional_id", st.ID, "err", err)
		return storeError(err)
	}
	return nil
}

// PendingOffset reports whether an open transaction holds an offset of
// group for the partition not yet committed (OffsetFetch's require_stable).
func (c *Coordinator) PendingOffset(group, topic string, partition int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.txns {
		for _, o := range t.state.Offsets {
			if o.Group == group && o.Topic == topic && o.Partition == partition {
				return true
			}
		}
	}
	return false
}

// AbortTimedOut aborts every open transaction older than its timeout, at a
// bumped epoch so that its producer is fenced (Kafka's
// abortTimedOutTransactions), and returns how many.
func (c *Coordinator) AbortTimedOut(ctx context.Context) int {
	now := c.cfg.Now()
	timedOut := func(st *meta.Transaction) bool {
		return st.State == Ongoing && now.Sub(st.StartTime) > time.Duration(st.TimeoutMs)*time.Millisecond
	}
	return c.sweep(timedOut, func(t *txn, st meta.Transaction) bool {
		if err := c.abortFenced(ctx, t, &st); err != nil {
			c.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "aborting a timed out transaction failed", "transactional_id", st.ID, "err", err)
			return false
		}
		c.log.Info("aborted a transaction that outlived its timeout", "transactional_id", st.ID,
			"transaction_timeout_ms", st.TimeoutMs, "producer_id", st.ProducerID)
		return true
	})
}

// RetryPrepared finishes the ends that were decided but whose markers could
// not all be written (a partition offline, a write that failed), as
// Kafka's coordinator keeps retrying markers, and returns how many it
// finished. Until then the transactional id answers CONCURRENT_TRANSACTIONS.
func (c *Coordinator) RetryPrepared(ctx context.Context) int {
	prepared := func(st *meta.Transaction) bool { return st.State == PrepareCommit || st.State == PrepareAbort }
	return c.sweep(prepared, func(t *txn, st meta.Transaction) bool {
		if err := c.complete(ctx, t); err != nil {
			c.log.Log(ctx, meta.LogLevel(err, slog.LevelWarn), "finishing a decided transaction failed; retrying later", "transactional_id", st.ID, "state", st.State, "err", err)
			return false
		}
		c.log.Info("finished a decided transaction", "transactional_id", st.ID, "state", st.State)
		return true
	})
}

// ExpireIDs forgets transactional ids whose last change is older than
// maxAge (transactional.id.expiration.ms) and that have no transaction in
// progress, and returns how many. Their next InitProducerId starts again
// with a new producer id.
func (c *Coordinator) ExpireIDs(ctx context.Context, maxAge time.Duration) int {
	now := c.cfg.Now()
	expired := func(st *meta.Transaction) bool { return idle(st) && now.Sub(st.UpdateTime) >= maxAge }
	return c.sweep(expired, func(t *txn, st meta.Transaction) bool {
		if err := c.cfg.Store.DeleteTransaction(ctx, st.ID, st.Version); err != nil {
			c.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "removing an expired transactional id failed", "transactional_id", st.ID, "err", err)
			return false
		}
		c.mu.Lock()
		if c.txns[st.ID] == t {
			delete(c.txns, st.ID)
		}
		if c.byPID[st.ProducerID] == t {
			delete(c.byPID, st.ProducerID)
		}
		c.mu.Unlock()
		return true
	})
}

// sweep runs fn, holding each one's lock, on the transactions for which
// due holds (checked again under the lock) and returns how many fn
// reported done.
func (c *Coordinator) sweep(due func(*meta.Transaction) bool, fn func(t *txn, st meta.Transaction) bool) int {
	c.mu.Lock()
	var found []*txn
	for id, t := range c.txns {
		if due(&t.state) && c.owns(id) {
			found = append(found, t)
		}
	}
	c.mu.Unlock()
	n := 0
	for _, t := range found {
		t.mu.Lock()
		if st := c.snapshot(t); due(&st) && fn(t, st) {
			n++
		}
		t.mu.Unlock()
	}
	return n
}

// owns is Config.Owns.
func (c *Coordinator) owns(id string) bool { return c.cfg.Owns == nil || c.cfg.Owns(id) }

func idle(st *meta.Transaction) bool {
	return st.State == Empty || st.State == CompleteCommit || st.State == CompleteAbort
}

// Describe returns the state of the given ids (DescribeTransactions); a
// missing id is absent from the map.
func (c *Coordinator) Describe(ids []string) map[string]meta.Transaction {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]meta.Transaction{}
	for _, id := range ids {
		if t := c.txns[id]; t != nil && t.state.ProducerID >= 0 {
			out[id] = t.state
		}
	}
	return out
}

// List returns every transactional id's state (ListTransactions), by id.
func (c *Coordinator) List() []meta.Transaction {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []meta.Transaction
	for _, t := range c.txns {
		if t.state.ProducerID >= 0 {
			out = append(out, t.state)
		}
	}
	slices.SortFunc(out, func(a, b meta.Transaction) int { return strings.Compare(a.ID, b.ID) })
	return out
}

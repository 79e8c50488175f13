package broker

// InitProducerId: v0-v5, for idempotent producers.
//
// A request without a transactional id gets a new producer id at epoch 0,
// whatever producer id and epoch it carries (v3+), as Kafka's transaction
// coordinator answers it: an idempotent producer that must reset bumps its
// epoch itself or asks again. Ids come from the catalog in blocks
// (pidBlock), so none is handed out twice, even across restarts.
//
// A transactional id goes to the transaction coordinator (transactions.go,
// broker/txn): the same producer id at the next epoch, fencing the previous
// holder.

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/meta"
)

// pidBlock is how many producer ids a broker takes from the catalog at a
// time (Kafka's ProducerIdsBlock size).
const pidBlock = 1000

// pidAllocator hands out producer ids from blocks reserved in the catalog.
type pidAllocator struct {
	mu         sync.Mutex
	next, last int64 // [next, last) is what is left of the block
}

func (s *Server) newProducerID(ctx context.Context) (int64, error) {
	a := &s.pids
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next == a.last {
		first, err := s.cfg.Catalog.AllocateProducerIDs(ctx, pidBlock)
		if err != nil {
			return 0, fmt.Errorf("allocate producer ids: %w", err)
		}
		a.next, a.last = first, first+pidBlock
	}
	id := a.next
	a.next++
	return id, nil
}

func (s *Server) handleInitProducerID(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		s.initTransactionalProducerID(ctx, req, resp)
		return resp, nil
	}
	id, err := s.newProducerID(ctx)
	if err != nil {
		s.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "InitProducerId failed", "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}

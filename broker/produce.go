package broker

// Produce: v3-v13.
//
// Each partition's records must be exactly one RecordBatch v2, checked
// before anything is stored, in Kafka's order and with Kafka's codes:
//   - no whole batch (empty, cut short), magic 0 or 1, more than one batch:
//     INVALID_RECORD
//   - a length below any record's overhead, another magic, a CRC-32C
//     mismatch, an unknown codec: CORRUPT_MESSAGE
//   - zstd before v7: UNSUPPORTED_COMPRESSION_TYPE
//   - base offset other than 0: INVALID_RECORD
//   - size above the topic's max.message.bytes: MESSAGE_TOO_LARGE
//   - record count that disagrees with lastOffsetDelta or (uncompressed)
//     with the records, a control batch: INVALID_RECORD
//   - a CreateTime timestamp beyond message.timestamp.after.max.ms (one
//     hour by default, as Kafka 4) or before.max.ms: INVALID_TIMESTAMP
//
// The batch is stored byte for byte, with the base offset and partition
// leader epoch written in, unless the topic's compression.type names another
// codec (compression.go, which also streams through compressed batches'
// records to check them). Topics with
// message.timestamp.type=LogAppendTime
// get the broker's time as the batch's max timestamp (CRC recomputed), and it
// is returned as log_append_time; otherwise log_append_time is -1.
//
// acks=0 gets no response; if any partition fails, the connection is closed
// so the client notices, as Kafka does. acks=1 is answered once the batch is
// written; acks=-1 once it is also fsynced. Other acks: INVALID_REQUIRED_ACKS.
// While an acks=-1 produce waits for its fsync, the connection goes on with
// the next request if that is a produce too: appends stay in request order,
// responses too, and the disk gets more per fsync.
// v13 addresses topics by ID: UNKNOWN_TOPIC_ID when unknown.
//
// Idempotent batches (a producer id) are checked by the log against its
// producer state (storage.ProducerState): a retry of one of the producer's
// last 5 batches is answered with the offset it got and not stored again;
// OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH and
// UNKNOWN_PRODUCER_ID otherwise, as Kafka.
//
// A transactional batch must come from a producer whose transaction is open
// and added the partition (INVALID_TXN_STATE, or INVALID_PRODUCER_EPOCH for
// a fenced epoch).

import (
	"context"
	"errors"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/config"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage"
)

func (s *Server) handleProduce(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))

	validAcks := req.Acks == 0 || req.Acks == 1 || req.Acks == -1
	now := s.now().UnixMilli()
	var toSync []syncTarget
	failed := false
	// acks=-1 over several partitions: every append of the request goes
	// into one commit round, started by the waits below once all are in.
	// One partition's append starts its round at once.
	actx := ctx
	if req.Acks == -1 && (len(req.Topics) > 1 || len(req.Topics) == 1 && len(req.Topics[0].Partitions) > 1) {
		actx = storage.HoldCommit(ctx)
	}

	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))

		var t *topic
		topicErr := error(nil)
		if req.Version >= 13 {
			if t = s.topics.getID(meta.TopicID(rt.TopicID)); t == nil {
				topicErr = kerr.UnknownTopicID
			}
		} else if t = s.topics.get(rt.Topic); t == nil {
			topicErr = kerr.UnknownTopicOrPartition
		}
		if t != nil && isInternal(t.Name) {
			topicErr = internalTopicErr("append to", t.Name)
		}
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := &st.Partitions[j]
			sp.Default()
			sp.Partition = rp.Partition
			var err error
			var p *partition
			var l storage.Log
			switch {
			case !validAcks:
				err = kerr.InvalidRequiredAcks
			case topicErr != nil:
				err = topicErr
			default:
				if p = t.partition(rp.Partition); p == nil {
					err = kerr.UnknownTopicOrPartition
				} else if req.Acks == -1 && !s.enoughInsync(t) {
					err = kerr.NotEnoughReplicas
				} else {
					l, err = p.get(ctx)
				}
			}
			var next int64
			if err == nil {
				next, err = s.appendBatch(actx, req.Version, req.TransactionID, t, p, l, rp.Records, now, sp)
			}
			if err != nil {
				failed, r.failed = true, true
				sp.ErrorCode = errorCode(err)
				if req.Version >= 8 {
					sp.ErrorMessage = errMessage(err)
				}
				continue
			}
			if req.Acks == -1 {
				toSync = append(toSync, syncTarget{l, next, i, j})
			}
		}
	}

	// acks=-1: answer after fsync. The wait runs after the handler
	// returns (request.after), so that the connection appends its next
	// produce meanwhile; logs share fsync rounds.
	if len(toSync) > 0 {
		version := req.Version
		r.after = func(ctx context.Context) {
			for _, st := range toSync {
				if err := st.log.SyncTo(ctx, st.next); err != nil {
					r.failed = true
					sp := &resp.Topics[st.topic].Partitions[st.part]
					sp.ErrorCode = logErrorCode(err)
					if version >= 8 {
						sp.ErrorMessage = errMessage(err)
					}
					s.log.Error("sync failed", "err", err)
				}
			}
		}
	}

	produced := 0
	for i := range req.Topics {
		for j := range req.Topics[i].Partitions {
			produced += len(req.Topics[i].Partitions[j].Records)
		}
	}
	if req.Acks == 0 {
		s.throttle(r, nil, "producer_byte_rate", produced)
		if failed {
			return nil, errors.New("produce with acks=0 failed; closing the connection so the client notices")
		}
		return nil, nil
	}
	s.throttle(r, resp, "producer_byte_rate", produced)
	return resp, nil
}

// enoughInsync reports whether t's partitions have at least
// min.insync.replicas in-sync replicas, as an acks=all produce needs
// (Kafka answers NOT_ENOUGH_REPLICAS otherwise, before appending). A
// single broker is its partitions' only replica; in the cluster mode the
// in-sync replicas are those Metadata lists, the live brokers up to the
// topic's replication factor (every one of them holds every acknowledged
// record: it is in the bucket).
func (s *Server) enoughInsync(t *topic) bool {
	need := t.cfg.MinInsyncReplicas
	if need <= 1 {
		return true
	}
	isr := int32(1)
	if s.cfg.Cluster != nil {
		isr = int32(s.cfg.Cluster.LiveCount())
		if rf := int32(t.ReplicationFactor); rf > 0 {
			isr = min(isr, rf)
		}
	}
	return isr >= need
}

// syncTarget is what an acks=all produce waits for in one partition: its
// log durable up to next, the offset after the batch it appended; topic
// and part index the answer.
type syncTarget struct {
	log         storage.Log
	next        int64
	topic, part int
}

// appendBatch validates records and appends them to l, partition part of
// t, filling sp. It returns the offset after the batch.
func (s *Server) appendBatch(ctx context.Context, version int16, txnID *string, t *topic, p *partition, l storage.Log, records []byte, now int64, sp *kmsg.ProduceResponseTopicPartition) (int64, error) {
	part := p.index
	h, err := validateBatch(version, records, t.cfg.MaxMessageBytes)
	if err != nil {
		return 0, err
	}
	stored, oldest, err := s.checkCompressed(t, records, &h)
	if err != nil {
		return 0, err
	}
	if len(stored) != len(records) || &stored[0] != &records[0] {
		records = stored // re-encoded for the topic's compression.type
		h, _ = batch.ReadHeader(records)
	}
	epoch, _ := s.leaderEpochOf(p)
	batch.SetPartitionLeaderEpoch(records, epoch)
	appendTime := int64(-1)
	if t.cfg.LogAppendTime() {
		batch.SetLogAppendTime(records, now)
		appendTime = now
	} else if err := checkTimestamps(&h, oldest, now, &t.cfg); err != nil {
		return 0, err
	}
	if h.Transactional() {
		tp := meta.TopicPartition{Topic: t.Name, Partition: part}
		var e *kerr.Error
		switch {
		case s.clustered() && txnID != nil && !s.coordinatesTxn(*txnID):
			e = s.verifyRemote(ctx, *txnID, h.ProducerID, h.ProducerEpoch, p, tp)
		case version >= 12:
			e = s.txns.AddImplicitly(ctx, h.ProducerID, h.ProducerEpoch, tp) // transaction version 2
		default:
			e = s.txns.Verify(h.ProducerID, h.ProducerEpoch, tp)
		}
		if e != nil {
			return 0, kafkaError(e, "producer %d epoch %d has no open transaction that added %s-%d", h.ProducerID, h.ProducerEpoch, t.Name, part)
		}
	}
	base, err := l.Append(ctx, records)
	if errors.Is(err, storage.ErrDuplicateBatch) {
		// A retry of a batch stored already: answered with the offset it
		// got, as Kafka; acks=all still waits until that batch is durable.
		sp.BaseOffset = base
		sp.LogAppendTime = -1
		sp.LogStartOffset = l.LogStartOffset()
		return base + int64(h.LastOffsetDelta) + 1, nil
	}
	if err != nil {
		return 0, logError(err)
	}
	s.cfg.Metrics.In(t.Name, len(records), int(h.LastOffsetDelta)+1)
	sp.BaseOffset = base
	sp.LogAppendTime = appendTime
	sp.LogStartOffset = l.LogStartOffset()
	return base + int64(h.LastOffsetDelta) + 1, nil
}

// Smallest batchLength a batch can have: Kafka's record overhead of magic 0
// (LegacyRecord.RECORD_OVERHEAD_V0); below it the bytes are corrupt rather
// than a batch that is cut short.
const minLegacyRecordOverhead = 14

// validateBatch checks a partition's records in the order Kafka checks
// them, so that each fault gets Kafka's code: first what
// ProduceRequest.validateRecords checks (a whole batch, magic 2, zstd from
// v7, exactly one batch), then the log's checks (base offset 0, size, CRC),
// then LogValidator's (record count, control batches).
func validateBatch(version int16, records []byte, maxMessageBytes int32) (batch.Header, error) {
	var h batch.Header
	size := batch.Size(records)
	switch {
	case size < 0:
		return h, kafkaError(kerr.InvalidRecord, "produce requests must have at least one record batch per partition")
	case size-batch.LengthOverhead < minLegacyRecordOverhead:
		return h, kafkaError(kerr.CorruptMessage, "record size %d is less than the minimum record overhead (%d)", size-batch.LengthOverhead, minLegacyRecordOverhead)
	case size > len(records):
		return h, kafkaError(kerr.InvalidRecord, "produce requests must have at least one record batch per partition; the batch is cut short (%d of %d bytes)", len(records), size)
	}
	if magic := int8(records[16]); magic != batch.Magic {
		if magic == 0 || magic == 1 {
			return h, kafkaError(kerr.InvalidRecord, "produce requests with version %d are only allowed to contain record batches with magic version 2", version)
		}
		return h, kafkaError(kerr.CorruptMessage, "invalid magic %d", magic)
	}
	if size < batch.HeaderSize {
		return h, kafkaError(kerr.CorruptMessage, "record batch is corrupt (the size %d is smaller than the minimum allowed overhead %d)", size, batch.HeaderSize)
	}
	h, _ = batch.ReadHeader(records) // cannot fail: size and magic are checked
	switch {
	case h.Codec() == batch.CodecZstd && version < 7:
		return h, kafkaError(kerr.UnsupportedCompressionType, "produce requests with version %d cannot use zstd; it needs version 7", version)
	case size != len(records):
		return h, kafkaError(kerr.InvalidRecord, "produce requests with version %d are only allowed to contain exactly one record batch per partition", version)
	case h.BaseOffset != 0:
		return h, kafkaError(kerr.InvalidRecord, "the base offset of the record batch should be 0, but it is %d", h.BaseOffset)
	case size > int(maxMessageBytes):
		return h, kafkaError(kerr.MessageTooLarge, "the batch is %d bytes, larger than max.message.bytes (%d)", size, maxMessageBytes)
	}
	if _, err := batch.Check(records); err != nil {
		switch {
		case errors.Is(err, batch.ErrCount), errors.Is(err, batch.ErrRecord):
			return h, kafkaError(kerr.InvalidRecord, "%v", err)
		default: // CRC, codec
			return h, kafkaError(kerr.CorruptMessage, "%v", err)
		}
	}
	switch {
	case h.Control():
		return h, kafkaError(kerr.InvalidRecord, "clients cannot send control batches")
	}
	return h, nil
}

// checkTimestamps applies message.timestamp.after.max.ms and
// message.timestamp.before.max.ms to a CreateTime batch, as Kafka does to
// each record: INVALID_TIMESTAMP when a record is too far in the future or
// the past. The batch's max timestamp answers the first; the second takes
// the oldest of its records' timestamps, which checkCompressed found
// (compressed or not, every record is read).
func checkTimestamps(h *batch.Header, oldest, now int64, c *config.Topic) error {
	if h.MaxTimestamp >= 0 && h.MaxTimestamp-now > c.MessageTimestampAfterMaxMs {
		return kafkaError(kerr.InvalidTimestamp, "timestamp %d of a record is more than %d ms after the broker's time %d (message.timestamp.after.max.ms)", h.MaxTimestamp, c.MessageTimestampAfterMaxMs, now)
	}
	if c.MessageTimestampBeforeMaxMs == math.MaxInt64 {
		return nil // the default: no bound
	}
	if oldest >= 0 && oldest != math.MaxInt64 && now-oldest > c.MessageTimestampBeforeMaxMs {
		return kafkaError(kerr.InvalidTimestamp, "timestamp %d of a record is more than %d ms before the broker's time %d (message.timestamp.before.max.ms)", oldest, c.MessageTimestampBeforeMaxMs, now)
	}
	return nil
}

// logError turns an unexpected log failure (an I/O error) into
// KAFKA_STORAGE_ERROR; sentinel errors keep their own mapping.
func logError(err error) error {
	if errorCode(err) == kerr.UnknownServerError.Code {
		return kafkaError(kerr.KafkaStorageError, "%v", err)
	}
	return err
}

func logErrorCode(err error) int16 { return errorCode(logError(err)) }

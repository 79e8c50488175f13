package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/config"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage"
)

const kerrUnsupportedVersion = 35

// errTopicInvalid is a topic name Kafka would refuse.
var errTopicInvalid = errors.New("invalid topic name")

// errorCode is the one mapping from Go errors to Kafka error codes. Handlers
// put its result in responses; nothing else in the repository knows Kafka's
// codes.
func errorCode(err error) int16 {
	var ke *kerr.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, storage.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, storage.ErrCorrupt), errors.Is(err, storage.ErrIO), errors.Is(err, storage.ErrUnavailable):
		// ErrUnavailable: a read of remote storage failed; Kafka
		// answers KAFKA_STORAGE_ERROR, which clients retry.
		return kerr.KafkaStorageError.Code
	case errors.Is(err, storage.ErrNoSpace):
		// A full volume, or one below storage.min.free.bytes: Kafka's
		// answer when a log directory cannot be written, and one that
		// franz-go, sarama, librdkafka and kafkajs all retry, as not
		// persisted (NOT_ENOUGH_REPLICAS would be retried too, but says
		// something untrue; REQUEST_TIMED_OUT makes librdkafka and
		// franz-go treat the batch as possibly written).
		return kerr.KafkaStorageError.Code
	case errors.Is(err, storage.ErrNotLeader):
		// The cluster mode: another broker leads the partition now.
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, storage.ErrClosed):
		// The partition went away under the request: deleted, or the
		// broker is stopping. Clients refresh metadata and retry.
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, meta.ErrTopicNotFound):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, meta.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, errTopicInvalid):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, config.ErrUnknown), errors.Is(err, config.ErrInvalid):
		return kerr.InvalidConfig.Code
	case errors.Is(err, config.ErrRequest):
		return kerr.InvalidRequest.Code
	case errors.Is(err, batch.ErrShort), errors.Is(err, batch.ErrLength),
		errors.Is(err, batch.ErrMagic), errors.Is(err, batch.ErrCRC),
		errors.Is(err, batch.ErrCodec), errors.Is(err, batch.ErrCount),
		errors.Is(err, batch.ErrRecord):
		return kerr.CorruptMessage.Code
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut.Code
	case errors.Is(err, meta.ErrUnavailable), errors.Is(err, meta.ErrOutcomeUnknown):
		// The catalog could not be reached in time: what a client of
		// Kafka sees when the controller does not answer. Retriable;
		// group and transaction handlers answer
		// COORDINATOR_NOT_AVAILABLE instead.
		return kerr.RequestTimedOut.Code
	case errors.Is(err, meta.ErrConflict):
		// Another broker kept changing the same row while this one
		// retried its change over the latest state: retriable.
		return kerr.RequestTimedOut.Code
	case errors.Is(err, storage.ErrInvalidBatch):
		return kerr.CorruptMessage.Code
	case errors.Is(err, storage.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, storage.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, storage.ErrUnknownProducerID):
		return kerr.UnknownProducerID.Code
	}
	// An I/O failure of a log: the partition cannot be served. Anything
	// else unexpected is UNKNOWN_SERVER_ERROR, which clients do not retry
	// blindly.
	return kerr.UnknownServerError.Code
}

// kafkaErr is a Kafka error code with the message a response carries in
// its error_message field, as Kafka's exception messages.
type kafkaErr struct {
	code *kerr.Error
	msg  string
}

func (e *kafkaErr) Error() string { return e.code.Message + ": " + e.msg }
func (e *kafkaErr) Unwrap() error { return e.code }

// kafkaError returns an error answered with code and the formatted message.
func kafkaError(code *kerr.Error, format string, args ...any) error {
	return &kafkaErr{code: code, msg: fmt.Sprintf(format, args...)}
}

// errMessage returns the message to put in a response's error_message field
// (nil for none): the detail of a kafkaError, the code's description for a
// bare code, the error's text otherwise.
func errMessage(err error) *string {
	if err == nil {
		return nil
	}
	var ke *kafkaErr
	var code *kerr.Error
	m := err.Error()
	switch {
	case errors.As(err, &ke):
		m = ke.msg
	case errors.As(err, &code) && err == error(code):
		m = code.Description
	}
	return &m
}

package broker

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/streamhouse/streamhouse/storage"
)

// Storage failures map to Kafka's codes, wrapped as the engines wrap them.
func TestErrorCodeStorage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want *kerr.Error
	}{
		{storage.ErrNoSpace, kerr.KafkaStorageError},
		{storage.ErrIO, kerr.KafkaStorageError},
		{storage.ErrCorrupt, kerr.KafkaStorageError},
		{storage.ErrClosed, kerr.NotLeaderForPartition},
		{storage.ErrNotLeader, kerr.NotLeaderForPartition},
		{storage.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
		{context.Canceled, kerr.RequestTimedOut},
	} {
		err := fmt.Errorf("fs: append to /data/t/0: %w: 12 bytes free", tc.err)
		if got := errorCode(err); got != tc.want.Code {
			t.Errorf("errorCode(%v) = %v, want %v", err, kerr.ErrorForCode(got), tc.want)
		}
		if got := logErrorCode(err); got != tc.want.Code {
			t.Errorf("logErrorCode(%v) = %v, want %v", err, kerr.ErrorForCode(got), tc.want)
		}
	}
}

package objstore_test

import (
	"testing"

	"github.com/streamhouse/streamhouse/storage/objstore"
	"github.com/streamhouse/streamhouse/storage/objstore/objtest"
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	objtest.Run(t, func(t *testing.T) objstore.Store { return objstore.NewMemory() })
}

//go:build cgo

package compattests

// The librdkafka case of groups_migrate_test.go: confluent-kafka-go
// members (range, eager) roll to franz-go KIP-848 members and back.

import "testing"

func TestGroupOnlineMigrationLibrdkafka(t *testing.T) {
	t.Parallel()
	migrateScenario(t, rsLibrdkafka)
}

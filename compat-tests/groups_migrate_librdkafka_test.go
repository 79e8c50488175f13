//go:build cgo

package compattests

// The librdkafka cases of groups_migrate_test.go: confluent-kafka-go
// members (range, eager) roll to KIP-848 members of franz-go and of
// librdkafka (group.protocol=consumer) and back.

import "testing"

func TestGroupOnlineMigrationLibrdkafka(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name            string
		classic, kip848 rsStarter
	}{
		{"range-to-franzgo", rsLibrdkafka, migrateFranzGo848},
		{"range-to-librdkafka", rsLibrdkafka, rsLibrdkafka848},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			migrateScenario(t, c.classic, c.kip848)
		})
	}
}

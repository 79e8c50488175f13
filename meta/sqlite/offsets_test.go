package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/meta/metatest"
)

// TestOffsetQueryPlans checks that no offsets statement reads the whole
// table: each seeks the primary key or the topic index, so that its cost
// follows what it touches, not how many offsets all groups have committed.
func TestOffsetQueryPlans(t *testing.T) {
	t.Parallel()
	c := open(t, filepath.Join(t.TempDir(), "metadata.db"), Options{})
	tests := []struct {
		name  string
		query string
		args  []any
		index string // the plan must use it
	}{
		{"GroupOffsets", groupOffsetsQuery, []any{"g"}, "PRIMARY KEY (group_id=?)"},
		{"OffsetGroups", groupsQuery, nil, "PRIMARY KEY (group_id>?)"},
		{"DeleteOffsets", deleteOffset, []any{"g", "t", 0}, "PRIMARY KEY (group_id=? AND topic=? AND partition=?)"},
		{"DeleteGroupOffsets", deleteGroupOffsets, []any{"g"}, "PRIMARY KEY (group_id=?)"},
		{"DeleteTopic", deleteTopicOffsets, []any{"t"}, "INDEX group_offsets_topic (topic=?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := c.w.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tt.query, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = rows.Close() }()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			all := strings.Join(plan, "\n")
			for _, step := range plan {
				if strings.HasPrefix(step, "SCAN group_offsets") || strings.Contains(step, "TEMP B-TREE") {
					t.Errorf("plan reads every offset or sorts them:\n%s", all)
				}
			}
			if !strings.Contains(all, tt.index) {
				t.Errorf("plan does not use %s:\n%s", tt.index, all)
			}
		})
	}
}

// TestMigrateToOffsets opens a catalog that an older StreamHouse wrote, at
// schema version 1, and checks that it gains the offsets table and keeps its
// topics.
func TestMigrateToOffsets(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "metadata.db")
	stmts := append([]string{}, migrations[0].stmts...)
	stmts = append(stmts,
		`INSERT INTO topics (name, id, partitions, created_at) VALUES ('old', x'0102030405060708090a0b0c0d0e0f10', 3, 1700000000000)`,
		`INSERT INTO topic_configs (topic, name, value) VALUES ('old', 'retention.ms', '5')`,
		"PRAGMA user_version = 1")
	rawExec(t, path, stmts...)

	c := open(t, path, Options{})
	var v int
	if err := c.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != schemaVersion() {
		t.Errorf("user_version after Open = %d, want %d", v, schemaVersion())
	}
	got, err := c.Topic(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	metatest.EqualTopic(t, got, meta.Topic{
		Name:       "old",
		ID:         meta.TopicID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		Partitions: 3,
		Configs:    map[string]string{"retention.ms": "5"},
		CreatedAt:  time.UnixMilli(1_700_000_000_000),
		Version:    1,
	})
	want := []meta.GroupOffset{{Group: "g", Topic: "old", Partition: 1, Offset: 4, LeaderEpoch: -1, CommitTime: time.UnixMilli(1).UTC()}}
	metatest.CommitOffsets(t, c, want...)
	offsets, err := c.GroupOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	metatest.EqualOffsets(t, offsets, want)
}

// Package meta defines the catalog: the broker's state that changes rarely
// and must survive restarts (cluster identity, topics and their configs; later
// committed offsets, producer ids, users and ACLs).
//
// The catalog is never on the hot path: the broker caches what it reads and
// goes to the catalog only when something changes. Implementations:
// meta/sqlite (embedded, the default) and, for scale-out, meta/postgres. Both
// pass the conformance suite in meta/metatest.
//
// The Catalog is composed of narrow interfaces so that a package that needs
// only topics asks only for Topics.
//
// Every method that takes a context checks it first: called with a context
// that is already done, it changes nothing and returns an error wrapping
// ctx.Err(), so that a request its client has abandoned is not applied.
package meta

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Implementations wrap them; callers test with errors.Is.
var (
	// ErrTopicExists: a topic of that name exists already.
	ErrTopicExists = errors.New("meta: topic already exists")
	// ErrTopicIDExists: a topic with that ID exists already.
	ErrTopicIDExists = errors.New("meta: topic id already exists")
	// ErrTopicNotFound: no topic of that name or ID.
	ErrTopicNotFound = errors.New("meta: topic not found")
	// ErrSchemaTooNew: the catalog was written by a newer StreamHouse.
	ErrSchemaTooNew = errors.New("meta: catalog schema is newer than this binary")
	// ErrClosed: the catalog was closed.
	ErrClosed = errors.New("meta: closed")
)

// TopicID is a topic's 16-byte UUID, as Kafka's protocol carries it.
type TopicID [16]byte

// Topic is one topic as the catalog keeps it.
type Topic struct {
	Name       string
	ID         TopicID
	Partitions int32
	// Configs holds the topic-level configs that were set explicitly
	// (Kafka's TOPIC_CONFIG source), by Kafka name. Defaults are not
	// stored. Topic and Topics return a non-nil map, empty when none
	// were set, and a map of the caller's own: changing it changes
	// nothing in the catalog.
	Configs map[string]string
	// CreatedAt is kept to the millisecond, as Kafka keeps timestamps.
	// CreateTopic stamps it from the catalog's clock when it is zero.
	CreatedAt time.Time
}

// Topics stores topics.
type Topics interface {
	// CreateTopic stores t. It returns ErrTopicExists when the name is
	// taken and ErrTopicIDExists when the ID is.
	CreateTopic(ctx context.Context, t Topic) error
	// DeleteTopic removes the topic and its configs.
	DeleteTopic(ctx context.Context, name string) error
	// Topic returns the topic of that name.
	Topic(ctx context.Context, name string) (Topic, error)
	// Topics returns every topic, ordered by name bytewise (as
	// sort.Strings orders them, not by a locale's collation).
	Topics(ctx context.Context) ([]Topic, error)
	// SetTopicConfigs replaces the topic's explicit configs with configs:
	// a config absent from configs is removed (nil or empty removes all).
	SetTopicConfigs(ctx context.Context, name string, configs map[string]string) error
	// SetPartitions changes the topic's partition count.
	SetPartitions(ctx context.Context, name string, partitions int32) error
}

// Cluster stores the cluster's identity.
type Cluster interface {
	// ClusterID returns the cluster id, generating and storing a new one
	// (22 characters of URL-safe base64, as Kafka's) on first use.
	ClusterID(ctx context.Context) (string, error)
}

// Catalog is everything the broker stores in the catalog.
type Catalog interface {
	Cluster
	Topics
	// Close waits for calls in flight and releases the catalog. After
	// Close every method returns ErrClosed; calling Close again returns
	// nil.
	Close() error
}

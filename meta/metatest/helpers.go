package metatest

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

// NewTopicID returns a random topic ID, never the zero one (Kafka's "no
// ID").
func NewTopicID(t testing.TB) meta.TopicID {
	t.Helper()
	var id meta.TopicID
	for id == (meta.TopicID{}) {
		if _, err := rand.Read(id[:]); err != nil {
			t.Fatalf("random topic id: %v", err)
		}
	}
	return id
}

// CreateTopic creates tp in c, failing the test on error.
func CreateTopic(t testing.TB, c meta.Topics, tp meta.Topic) {
	t.Helper()
	if err := c.CreateTopic(t.Context(), tp); err != nil {
		t.Fatalf("CreateTopic(%q): %v", tp.Name, err)
	}
}

// EqualTopic reports an error unless got is want, as a catalog returns it:
// CreatedAt equal to the millisecond and nil Configs equal to empty ones.
func EqualTopic(t testing.TB, got, want meta.Topic) {
	t.Helper()
	if !sameTopic(got, want) {
		t.Errorf("topic\n got %s\nwant %s", show(got), show(want))
	}
}

// EqualTopics is EqualTopic for lists, in order.
func EqualTopics(t testing.TB, got, want []meta.Topic) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d topics, want %d\n got %s\nwant %s", len(got), len(want), showAll(got), showAll(want))
		return
	}
	for i := range got {
		if !sameTopic(got[i], want[i]) {
			t.Errorf("topic %d\n got %s\nwant %s\n(all: got %s)", i, show(got[i]), show(want[i]), showAll(got))
		}
	}
}

func sameTopic(a, b meta.Topic) bool {
	return a.Name == b.Name && a.ID == b.ID && a.Partitions == b.Partitions && a.Version == b.Version &&
		a.ReplicationFactor == b.ReplicationFactor &&
		maps.Equal(a.Configs, b.Configs) && // nil and empty compare equal
		a.CreatedAt.Truncate(time.Millisecond).Equal(b.CreatedAt.Truncate(time.Millisecond))
}

func show(t meta.Topic) string {
	return strings.Join([]string{
		"{" + t.Name,
		"id=" + base64.RawURLEncoding.EncodeToString(t.ID[:]),
		"partitions=" + strconv.FormatInt(int64(t.Partitions), 10),
		"replication_factor=" + strconv.FormatInt(int64(t.ReplicationFactor), 10),
		"configs=" + showConfigs(t.Configs),
		"created=" + t.CreatedAt.UTC().Format(time.RFC3339Nano),
		"version=" + strconv.FormatInt(t.Version, 10) + "}",
	}, " ")
}

func showAll(ts []meta.Topic) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = show(t)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func showConfigs(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	for i, k := range keys {
		keys[i] = k + "=" + m[k]
	}
	return "{" + strings.Join(keys, ",") + "}"
}

// topic returns a topic with a fresh ID and a CreatedAt the catalog keeps
// exactly (whole milliseconds, UTC), at version 1, as CreateTopic stores it.
func topic(t testing.TB, name string, partitions int32, configs map[string]string) meta.Topic {
	t.Helper()
	return meta.Topic{
		Name:       name,
		ID:         NewTopicID(t),
		Partitions: partitions,
		Configs:    configs,
		CreatedAt:  time.UnixMilli(1_700_000_000_000 + int64(partitions)).UTC(),
		Version:    1,
	}
}

// parallel runs f(0), ..., f(n-1) in goroutines released together, so that
// they contend, and returns when all have returned.
func parallel(n int, f func(i int)) {
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Go(func() {
			start.Wait()
			f(i)
		})
	}
	start.Done()
	done.Wait()
}

// oneWinner checks that exactly one of errs is nil and every other wraps
// lost, and returns the winner's index, or -1 after reporting an error.
func oneWinner(t testing.TB, errs []error, lost error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("attempts %d and %d both succeeded", winner, i)
			return -1
		case err == nil:
			winner = i
		case !errors.Is(err, lost):
			t.Errorf("attempt %d: err = %v, want nil or %v", i, err, lost)
		}
	}
	if winner < 0 {
		t.Errorf("no attempt succeeded")
	}
	return winner
}

// checkClusterID checks that id has the form of a Kafka cluster id.
func checkClusterID(t testing.TB, id string) {
	t.Helper()
	if len(id) != 22 {
		t.Errorf("cluster id %q has %d characters, want 22", id, len(id))
	}
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(b) != 16 {
		t.Errorf("cluster id %q is not 16 bytes in URL-safe base64 without padding (err %v)", id, err)
	}
	if strings.HasPrefix(id, "-") {
		t.Errorf("cluster id %q starts with '-', which a command line takes for a flag", id)
	}
}

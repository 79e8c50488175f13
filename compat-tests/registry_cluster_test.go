package compattests

// The schema registry in the cluster mode (issues 20 and 23): three
// brokers over one PostgreSQL schema and one bucket, each serving its own
// registry listener over the cluster's one `_schemas` topic. Pointing
// schema.registry.url at any of them gives the same registry.
//
// TestRegistryCluster: writers register through the three brokers at once
// (new versions of one shared subject, one schema under several subjects,
// subjects of their own); every broker then serves the same ids and
// versions, and a schema registered through one broker is read through
// another. Then the broker leading `_schemas` is killed (kill -9): the two
// others still serve every schema, and registrations through them go on
// once the topic's partition has moved; started again, on an empty data
// directory, it serves the same registry.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// srHTTP is a plain HTTP client of the registry, bounded per request.
var srHTTP = &http.Client{Timeout: fgWait}

// srCall sends a request to the registry at base and returns its status
// and body.
func srCall(method, base, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	resp, err := srHTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// srRegister registers schema under subject through base and returns its id.
func srRegister(base, subject, schema string) (int, error) {
	status, b, err := srCall("POST", base, "/subjects/"+subject+"/versions", map[string]string{"schema": schema})
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("register %s through %s: %d %s", subject, base, status, b)
	}
	var out struct{ ID int }
	if err := json.Unmarshal(b, &out); err != nil {
		return 0, err
	}
	return out.ID, nil
}

// srWaitUp waits until the registry at base answers GET /subjects.
func srWaitUp(t *testing.T, base string) {
	t.Helper()
	for deadline := time.Now().Add(fgWait); ; {
		status, b, err := srCall("GET", base, "/subjects", nil)
		if err == nil && status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the schema registry at %s never answered: %d %s %v", base, status, b, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// srAvro is a record schema named n with fields f of type string with a
// default: any two such schemas are compatible at every level.
func srAvro(n string, f ...string) string {
	var fields []map[string]any
	for _, name := range f {
		fields = append(fields, map[string]any{"name": name, "type": "string", "default": ""})
	}
	b, _ := json.Marshal(map[string]any{"type": "record", "name": n, "fields": fields})
	return string(b)
}

// srVersionView is what a registry answers for one version of a subject.
type srVersionView struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
	ID      int    `json:"id"`
	Schema  string `json:"schema"`
}

// srSubjectView returns every version of subject as the registry at base
// serves it.
func srSubjectView(base, subject string) ([]srVersionView, error) {
	status, b, err := srCall("GET", base, "/subjects/"+subject+"/versions", nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("versions of %s through %s: %d %s", subject, base, status, b)
	}
	var versions []int
	if err := json.Unmarshal(b, &versions); err != nil {
		return nil, err
	}
	var out []srVersionView
	for _, v := range versions {
		status, b, err := srCall("GET", base, "/subjects/"+subject+"/versions/"+strconv.Itoa(v), nil)
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("version %d of %s through %s: %d %s", v, subject, base, status, b)
		}
		var vv srVersionView
		if err := json.Unmarshal(b, &vv); err != nil {
			return nil, err
		}
		out = append(out, vv)
	}
	return out, nil
}

// srSameEverywhere waits until every registry in bases serves subject with
// want versions and they all agree, and returns that view.
func srSameEverywhere(t *testing.T, bases []string, subject string, want int) []srVersionView {
	t.Helper()
	for deadline := time.Now().Add(fgWait); ; {
		var first []srVersionView
		var problem error
		for i, base := range bases {
			view, err := srSubjectView(base, subject)
			switch {
			case err != nil:
				problem = err
			case len(view) != want:
				problem = fmt.Errorf("%s serves %d versions of %s, want %d: %+v", base, len(view), subject, want, view)
			case i == 0:
				first = view
			case !reflect.DeepEqual(view, first):
				problem = fmt.Errorf("%s and %s disagree on %s:\n%+v\n%+v", bases[0], base, subject, first, view)
			}
			if problem != nil {
				break
			}
		}
		if problem == nil {
			return first
		}
		if time.Now().After(deadline) {
			t.Fatal(problem)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// srSchemaByID returns the schema with id through base.
func srSchemaByID(base string, id int) (string, error) {
	status, b, err := srCall("GET", base, "/schemas/ids/"+strconv.Itoa(id), nil)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("schema %d through %s: %d %s", id, base, status, b)
	}
	var out struct{ Schema string }
	err = json.Unmarshal(b, &out)
	return out.Schema, err
}

func TestRegistryCluster(t *testing.T) {
	c := newClusterEnv(t)
	urls := map[int]string{}
	c.extraFor = func(node int) []string {
		addr := freePort(t)
		urls[node] = "http://" + addr
		return []string{"--schema-registry-listen", addr}
	}
	for node := 1; node <= 3; node++ {
		c.start(node)
	}
	all := []string{urls[1], urls[2], urls[3]}
	for _, u := range all {
		srWaitUp(t, u)
	}

	// Writers through the three brokers at once: each registers new
	// versions of one shared subject, the same common schema under a
	// shared subject and one of its own, and a schema of its own.
	const rounds = 4
	common := srAvro("Common", "a")
	type reg struct {
		subject, schema string
		id              int
	}
	var mu sync.Mutex
	var regs []reg
	var wg sync.WaitGroup
	errs := make(chan error, 3*rounds*4)
	for node := 1; node <= 3; node++ {
		base := urls[node]
		wg.Go(func() {
			for i := range rounds {
				for _, r := range []reg{
					{subject: "shared-value", schema: srAvro("Shared", fmt.Sprintf("f_%d_%d", node, i))},
					{subject: "common-value", schema: common},
					{subject: fmt.Sprintf("w%d-value", node), schema: common},
					{subject: fmt.Sprintf("own%d-%d-value", node, i), schema: srAvro(fmt.Sprintf("Own%d_%d", node, i), "x")},
				} {
					id, err := srRegister(base, r.subject, r.schema)
					if err != nil {
						errs <- err
						return
					}
					r.id = id
					mu.Lock()
					regs = append(regs, r)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Every id answered means one schema, the same through every broker;
	// one schema has one id.
	idOf := map[string]int{}
	for _, r := range regs {
		if prev, ok := idOf[r.schema]; ok && prev != r.id {
			t.Fatalf("schema %s got ids %d and %d", r.schema, prev, r.id)
		}
		idOf[r.schema] = r.id
	}
	seenID := map[int]string{}
	for schema, id := range idOf {
		if prev, ok := seenID[id]; ok {
			t.Fatalf("id %d given to %s and %s", id, prev, schema)
		}
		seenID[id] = schema
	}
	shared := srSameEverywhere(t, all, "shared-value", 3*rounds)
	srSameEverywhere(t, all, "common-value", 1)
	for node := 1; node <= 3; node++ {
		srSameEverywhere(t, all, fmt.Sprintf("w%d-value", node), 1)
	}
	for i, v := range shared {
		if v.Version != i+1 || idOf[v.Schema] != v.ID {
			t.Fatalf("shared-value version %+v: want version %d and id %d", v, i+1, idOf[v.Schema])
		}
	}
	for id, schema := range seenID {
		for _, u := range all {
			got, err := srSchemaByID(u, id)
			if err != nil || got != schema {
				t.Fatalf("schema %d through %s: %q %v, want %q", id, u, got, err, schema)
			}
		}
	}

	// Registered through broker 1, read through broker 3.
	late := srAvro("Late", "y")
	began := time.Now()
	lateID, err := srRegister(urls[1], "late-value", late)
	if err != nil {
		t.Fatal(err)
	}
	srSameEverywhere(t, []string{urls[3]}, "late-value", 1)
	t.Logf("registered through broker 1, served by broker 3 %v after the registration began", time.Since(began).Round(time.Millisecond))

	// The cluster mode serves compacted topics: `_schemas` is one, as
	// the registry asks.
	adm := fgAdmin(t, c.brokers[1].addr)
	rcs, err := adm.DescribeTopicConfigs(fgCtx(t), "_schemas")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("_schemas", nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("configs of _schemas: %v %v", err, rc.Err)
	}
	want := map[string]string{"cleanup.policy": "compact"}
	for _, cfg := range rc.Configs {
		if w, ok := want[cfg.Key]; ok {
			if cfg.MaybeValue() != w {
				t.Fatalf("_schemas has %s=%s, want %s", cfg.Key, cfg.MaybeValue(), w)
			}
			delete(want, cfg.Key)
		}
	}
	if len(want) > 0 {
		t.Fatalf("_schemas: configs not described: %v", want)
	}

	// Kill -9 the broker leading `_schemas`: the others serve every
	// schema at once, and take registrations once the partition moved.
	leaders := clusterWaitLed(t, adm, "_schemas", 1)
	victim := int(leaders[0])
	c.brokers[victim].cmd.Process.Signal(syscall.SIGKILL)
	<-c.brokers[victim].done
	killed := time.Now()
	var alive []string
	for node := 1; node <= 3; node++ {
		if node != victim {
			alive = append(alive, urls[node])
		}
	}
	t.Logf("killed broker %d, the leader of _schemas; registries left: %v", victim, alive)
	seenID[lateID] = late
	for id, schema := range seenID {
		for _, u := range alive {
			got, err := srSchemaByID(u, id)
			if err != nil || got != schema {
				t.Fatalf("after the kill, schema %d through %s: %q %v, want %q", id, u, got, err, schema)
			}
		}
	}
	errs = make(chan error, 2)
	ids := make([]int, 2)
	for i, u := range alive {
		wg.Go(func() {
			id, err := srRegister(u, "after-value", srAvro("After", "z"+strconv.Itoa(i)))
			if err != nil {
				errs <- err
			}
			ids[i] = id
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("registrations through both survivors acknowledged %v after the kill", time.Since(killed).Round(time.Millisecond))
	after := srSameEverywhere(t, alive, "after-value", 2)
	if ids[0] == ids[1] || ids[0] == 0 || ids[1] == 0 {
		t.Fatalf("ids after the kill: %v", ids)
	}
	for _, v := range after {
		if v.ID != ids[0] && v.ID != ids[1] {
			t.Fatalf("after-value: %+v, ids registered %v", after, ids)
		}
		if _, taken := seenID[v.ID]; taken {
			t.Fatalf("id %d reused after the kill", v.ID)
		}
	}

	// The killed broker started again (a new, empty data directory: its
	// registry reads `_schemas` back from the bucket) serves the same.
	c.start(victim)
	srWaitUp(t, urls[victim])
	all = []string{urls[1], urls[2], urls[3]}
	srSameEverywhere(t, all, "after-value", 2)
	if got := srSameEverywhere(t, all, "shared-value", 3*rounds); !reflect.DeepEqual(got, shared) {
		t.Fatalf("shared-value after the restart: %+v, want %+v", got, shared)
	}
}

// Package archtest enforces the import rules of ARCHITECTURE.md: each
// package of the repository may import only what its row allows. A broken
// rule fails with the offending edge.
package archtest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/streamhouse/streamhouse"

// rule says which repository packages a package may import directly
// (allowed) and which third-party module prefixes (external). Packages not
// listed here fail the test, so that a new package gets a rule.
type rule struct {
	allowed  []string // repository packages, relative to the module
	external []string // import path prefixes outside the standard library
}

var kafkaProto = []string{"github.com/twmb/franz-go/pkg/kmsg", "github.com/twmb/franz-go/pkg/kerr"}

func rules() map[string]rule {
	return map[string]rule{
		"batch":      {},
		"codec":      {external: []string{"github.com/klauspost/compress", "github.com/pierrec/lz4"}},
		"config":     {},
		"protocol":   {external: kafkaProto},
		"storage":    {allowed: []string{"batch"}},
		"storage/fs": {allowed: []string{"storage", "batch", "internal/fault", "storage/fs/vfs"}, external: []string{"golang.org/x/sys/unix"}},
		// The file system storage/fs works through, and its fault injector.
		"storage/fs/vfs":         {external: []string{"golang.org/x/sys/unix"}},
		"storage/fs/vfs/errorfs": {allowed: []string{"storage/fs/vfs"}},
		"internal/fault":         {},
		"internal/cli":           {},
		"internal/loglevel":      {},
		"internal/precise":       {external: []string{"golang.org/x/sys/unix"}},
		"broker/group":           {allowed: []string{"protocol", "meta", "storage", "batch"}, external: kafkaProto},
		"broker/txn":             {allowed: []string{"protocol", "meta", "storage", "batch"}, external: kafkaProto},
		"meta":                   {},
		"meta/sqlite":            {allowed: []string{"meta"}, external: []string{"modernc.org/sqlite"}},
		"meta/postgres":          {allowed: []string{"meta"}, external: []string{"github.com/jackc/pgx/v5"}},
		// Tests' PostgreSQL schemas.
		"internal/pgtest": {external: []string{"github.com/jackc/pgx/v5"}},
		// The object-store interface (stdlib only) and its S3 client.
		"storage/objstore":         {},
		"storage/objstore/s3":      {allowed: []string{"storage/objstore"}, external: []string{"github.com/minio/minio-go/v7"}},
		"storage/objstore/objtest": {allowed: []string{"storage/objstore"}},
		// Tiered storage: a local engine and a bucket behind storage.Store.
		// The cluster's membership, leases and placement, over the
		// catalog's interfaces.
		"cluster": {allowed: []string{"meta"}},
		// The cluster mode's WAL: storage/fs's commit hook and the
		// restore of a partition, over a tiered local store.
		"storage/wal":    {allowed: []string{"storage", "storage/fs", "storage/objstore", "meta", "batch"}},
		"storage/tiered": {allowed: []string{"storage", "storage/objstore", "meta", "batch", "internal/fault"}},
		// Tests' S3 server (versitygw).
		"internal/s3test": {allowed: []string{"internal/testport"}, external: []string{"github.com/minio/minio-go/v7"}},
		// Tests' ports for the processes they start.
		"internal/testport": {},
		"broker":            {allowed: []string{"protocol", "batch", "storage", "meta", "config", "codec", "broker/group", "broker/txn", "internal/fault", "internal/loglevel", "metrics", "auth"}, external: kafkaProto},
		"metrics":           {external: []string{"github.com/prometheus/client_golang"}},
		// auth is pure: TLS settings, SASL mechanisms, the authorizer.
		"auth": {},
		// The schema registry knows the broker only as a Kafka address.
		"registry": {external: []string{"github.com/twmb/franz-go/pkg/kgo", "github.com/twmb/franz-go/pkg/kadm", "github.com/twmb/franz-go/pkg/kerr", "github.com/prometheus/client_golang", "github.com/hamba/avro/v2", "github.com/bufbuild/protocompile", "github.com/jhump/protoreflect", "google.golang.org/protobuf", "github.com/santhosh-tekuri/jsonschema/v6"}},
		// The web console knows the broker only as a Kafka address (and
		// the schema registry as an HTTP one).
		"console":           {allowed: []string{"protocol"}, external: []string{"github.com/twmb/franz-go/pkg/kgo", "github.com/twmb/franz-go/pkg/kadm", "github.com/twmb/franz-go/pkg/kerr", "github.com/twmb/franz-go/pkg/kmsg", "github.com/twmb/franz-go/pkg/sasl", "github.com/hamba/avro/v2", "github.com/bufbuild/protocompile", "google.golang.org/protobuf"}},
		"broker/brokertest": {allowed: []string{"broker", "config", "storage", "storage/fs", "storage/fs/vfs", "storage/objstore", "storage/tiered", "meta", "meta/sqlite", "meta/postgres", "metrics", "internal/loglevel", "internal/pgtest", "auth"}},
		// Test-support packages: the conformance suites.
		"storage/storagetest": {allowed: []string{"storage", "batch"}},
		"meta/metatest":       {allowed: []string{"meta"}},
		// Commands may import anything.
		"cmd/*":             {allowed: []string{"*"}, external: []string{""}},
		"compat-tests":      {allowed: []string{"*"}, external: []string{""}},
		"internal/archtest": {},
	}
}

type pkg struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	rs := rules()
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		r, ok := rs[rel]
		if !ok && strings.HasPrefix(rel, "cmd/") {
			r, ok = rs["cmd/*"]
		}
		if !ok {
			t.Errorf("package %s has no import rule in internal/archtest (and ARCHITECTURE.md)", rel)
			continue
		}
		for _, imp := range p.Imports {
			if !allowed(r, imp) {
				t.Errorf("%s imports %s, which its rule forbids", rel, imp)
			}
		}
	}
}

func allowed(r rule, imp string) bool {
	if strings.HasPrefix(imp, module+"/") || imp == module {
		rel := strings.TrimPrefix(imp, module+"/")
		for _, a := range r.allowed {
			if a == "*" || a == rel {
				return true
			}
		}
		return false
	}
	first, _, _ := strings.Cut(imp, "/")
	if !strings.Contains(first, ".") {
		return true // standard library
	}
	for _, e := range r.external {
		if strings.HasPrefix(imp, e) {
			return true
		}
	}
	return false
}

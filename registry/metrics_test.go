package registry_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/streamhouse/streamhouse/broker/brokertest"
	"github.com/streamhouse/streamhouse/registry"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t, brokertest.Options{NoSync: true})
	reg := prometheus.NewRegistry()
	r, err := registry.New(registry.Config{Brokers: []string{b.Addr()}, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, b: b, reg: r, srv: httptest.NewServer(r.Handler())}
	defer e.srv.Close()
	e.want("POST", "/subjects/a/versions", body(userV1), 200, `{"id":1}`)
	e.want("POST", "/subjects/b/versions", body(userV1), 200, `{"id":1}`)
	e.want("POST", "/subjects/b/versions", body(userV2), 200, `{"id":2}`)
	e.wantCode("GET", "/subjects/nope/versions", "", 40401)
	e.want("DELETE", "/subjects/a", "", 200, `[1]`)

	want := `
# HELP streamhouse_schema_registry_requests_total Schema registry HTTP requests by endpoint (route pattern) and status code.
# TYPE streamhouse_schema_registry_requests_total counter
streamhouse_schema_registry_requests_total{code="200",endpoint="DELETE /subjects/{subject}"} 1
streamhouse_schema_registry_requests_total{code="200",endpoint="POST /subjects/{subject}/versions"} 3
streamhouse_schema_registry_requests_total{code="404",endpoint="GET /subjects/{subject}/versions"} 1
# HELP streamhouse_schema_registry_schemas Schemas (distinct ids) registered, soft-deleted ones included.
# TYPE streamhouse_schema_registry_schemas gauge
streamhouse_schema_registry_schemas 2
# HELP streamhouse_schema_registry_subjects Subjects with at least one version not soft-deleted.
# TYPE streamhouse_schema_registry_subjects gauge
streamhouse_schema_registry_subjects 1
# HELP streamhouse_schema_registry_versions Subject versions, soft-deleted ones included.
# TYPE streamhouse_schema_registry_versions gauge
streamhouse_schema_registry_versions 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"streamhouse_schema_registry_requests_total", "streamhouse_schema_registry_schemas",
		"streamhouse_schema_registry_subjects", "streamhouse_schema_registry_versions"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "streamhouse_schema_registry_request_duration_seconds"); n != 3 {
		t.Errorf("%d latency series, want one per endpoint used (3)", n)
	}
}

// Package console is StreamHouse's web console: server-rendered HTML pages
// (html/template, embedded with go:embed, with a little plain JavaScript
// for sparklines, the lag chart and the live tail) served at the root of
// the broker's HTTP listener.
//
// It is a Kafka client of the broker's own address (franz-go kgo and kadm)
// and, for schemas, an HTTP client of the schema registry: it never reaches
// into the broker. So the broker's checks apply to everything it shows and
// does: topic configs are validated by IncrementalAlterConfigs, and when the
// broker authenticates clients (a SASL listener), the console asks for a
// user and password and each session's Kafka client authenticates as that
// user (SASL PLAIN or SCRAM, checked by the broker as any client's), so the
// ACLs of that principal decide what it lists and may change.
//
// Views, each at its own URL: the overview (brokers, version, uptime,
// throughput and request-rate sparklines sampled only while the page is
// open, disk); topics (paged; create, delete, configs); a topic's
// partitions (offsets, leader, bytes, and with tiered storage each one's
// local start, last offset uploaded and bytes in object storage); the
// message browser (one partition or all, from the start,
// an offset, a timestamp or the end, live tail, substring filters on key,
// value and headers, text/JSON/hex and schema-registry decoding, export as
// JSON lines); produce; consumer groups, classic, consumer (KIP-848) and
// share (KIP-932: start offsets instead of commits; groups_share.go)
// (members, lag per partition with a chart sampled while the page is open,
// offset reset with a preview, delete); ACLs and SCRAM users; client quotas; schema subjects, versions
// and a diff of two versions.
//
// The message browser streams through the log with Fetch requests, a byte
// budget and a time budget per request; it holds at most one fetch
// response and the shown messages (values cut to a preview) at a time, and
// says where and why it stopped, with a link that continues from there.
//
// Safety: every change is a POST carrying a CSRF token (the session's, or
// for a broker without authentication one bound to a cookie), refused
// without it; sessions are HttpOnly, SameSite=Strict cookies (Secure over
// TLS); every change is logged with the principal that made it; pages are
// served with a Content-Security-Policy that allows only the console's own
// scripts, and every key, value and header is escaped by html/template.
// Config.ReadOnly hides and refuses every change; Config.NoMessages turns
// the message browser off.
//
// Cost when nobody looks: nothing runs. Templates are parsed on first use;
// Kafka clients are made on a page's first request and closed after
// Config.IdleClose without one; sparklines and lag charts are sampled by
// the open page's script, which stops when the page is hidden or closed.
//
// The package imports franz-go (kgo, kadm, kmsg, kerr, sasl), protocol
// (StreamHouse's tagged fields in Kafka responses: a partition's bytes in
// object storage), the schema libraries the registry uses (hamba/avro,
// bufbuild/protocompile, google.golang.org/protobuf) to decode records,
// and the standard library; never storage/*, meta/*, broker/* or
// registry/*.
package console

package console

import (
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Config is what a Console needs. Brokers is required.
type Config struct {
	// Brokers are the Kafka addresses the console's clients dial.
	Brokers []string
	// ClientOpts are added to every Kafka client's options (a TLS
	// dialer, for instance).
	ClientOpts []kgo.Opt
	// Login, when set, makes the console ask for a user and password
	// and authenticate each session's Kafka client with the SASL
	// mechanism it returns for them; nil: no login, one client for all.
	Login func(user, password string) sasl.Mechanism
	// ReadOnly hides and refuses every change (console.read.only).
	ReadOnly bool
	// NoMessages turns the message browser off
	// (console.messages.enable=false).
	NoMessages bool
	// Registry reaches the schema registry's REST API at RegistryURL;
	// nil: no schema views, no decoding.
	Registry    *http.Client
	RegistryURL string
	// Stats reads the broker's own counters for the overview's
	// sparklines; nil: none.
	Stats func() Stats
	// Started is when the broker started (the overview's uptime).
	Started time.Time
	// SecureCookies marks cookies Secure (the listener serves TLS).
	SecureCookies bool
	// Logger gets a line for every change made through the console.
	Logger *slog.Logger
	// IdleClose is how long a Kafka client stays open without a
	// request; 0: one minute.
	IdleClose time.Duration
	// SessionIdle is how long a login lasts without a request; 0: one
	// hour.
	SessionIdle time.Duration
}

// Stats are the broker's counters (totals since it started) and gauges,
// as its /metrics shows them.
type Stats struct {
	Requests, BytesIn, BytesOut, RecordsIn, RecordsOut float64
	Connections                                        float64
	// DiskTotal and DiskFree are the data directory's volume's size and
	// the bytes still usable there; -1: unknown.
	DiskTotal, DiskFree int64
	// With tiered storage: the bytes the bucket holds for this broker's
	// partitions and those of closed segments not uploaded yet; -1:
	// tiered storage is off.
	RemoteBytes, UploadBacklog int64
}

// Console serves the web console. Build it with New; it is safe for
// concurrent use.
type Console struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	version string
	key     [32]byte // signs anonymous CSRF tokens

	anon *clientPool // the one client when there is no login

	sessions sessions

	tmplMu sync.Mutex
	tmpl   map[string]*template.Template // by page, parsed on first use

	schemaCache schemaCache
	scans       chan struct{} // a slot for each scan running; maxScans
}

// New returns a console; it starts nothing.
func New(cfg Config) (*Console, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("console: no broker address")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.IdleClose <= 0 {
		cfg.IdleClose = time.Minute
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = time.Hour
	}
	if cfg.Started.IsZero() {
		cfg.Started = time.Now()
	}
	c := &Console{cfg: cfg, log: cfg.Logger, tmpl: map[string]*template.Template{}, scans: make(chan struct{}, maxScans)}
	if _, err := rand.Read(c.key[:]); err != nil {
		return nil, err
	}
	c.sessions.m = map[string]*session{}
	c.version = buildVersion()
	if cfg.Login == nil {
		c.anon = newClientPool(c.clientOpts(nil), cfg.IdleClose)
	}
	c.routes()
	return c, nil
}

// Close closes the console's Kafka clients. Requests after it reopen
// them; call it after the HTTP server has stopped.
func (c *Console) Close() {
	if c == nil {
		return
	}
	if c.anon != nil {
		c.anon.close()
	}
	c.sessions.closeAll()
}

// Handler serves the console; mount it at the root of an HTTP listener.
func (c *Console) Handler() http.Handler { return c }

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Only the console's own script and style: a key or value that
	// slipped through escaping still could not run.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

func (c *Console) clientOpts(m sasl.Mechanism) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.cfg.Brokers...),
		kgo.ClientID("streamhouse-console"),
		kgo.RequestRetries(2),
		kgo.RetryTimeout(5 * time.Second),
		// Produce: acks=all without idempotence (a user allowed to
		// write a topic needs nothing more), where the form says.
		kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(consolePartitioner{kgo.StickyKeyPartitioner(nil)}),
	}
	if m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	return append(opts, c.cfg.ClientOpts...)
}

func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += " (" + rev + dirty + ")"
	}
	return v + ", " + bi.GoVersion
}

// handler is a console view: it gets the request's session (its Kafka
// clients) and returns the page to render, or an error.
type handler func(w http.ResponseWriter, r *http.Request, s *reqState) error

// reqState is what a request carries through a view.
type reqState struct {
	sess *session // nil without login
	pool *clientPool
	csrf string
}

// principal names who acts: the logged-in user, or ANONYMOUS.
func (s *reqState) principal() string {
	if s.sess != nil {
		return "User:" + s.sess.user
	}
	return "User:ANONYMOUS"
}

func (c *Console) routes() {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	fileServer := http.StripPrefix("/static/", http.FileServerFS(static))
	mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fileServer.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /login", c.loginPage)
	mux.HandleFunc("POST /login", c.loginPost)
	mux.HandleFunc("POST /logout", c.logout)

	get := func(pattern string, h handler) { mux.Handle("GET "+pattern, c.view(h, false)) }
	post := func(pattern string, h handler) { mux.Handle("POST "+pattern, c.view(h, true)) }

	get("/{$}", c.overview)
	get("/overview/stats", c.overviewStats)
	get("/topics", c.topics)
	get("/topics/rates", c.topicRates)
	post("/topics", c.createTopic)
	get("/topics/{topic}", c.topic)
	get("/topics/{topic}/configs", c.topicConfigs)
	post("/topics/{topic}/configs", c.alterTopicConfig)
	post("/topics/{topic}/delete", c.deleteTopic)
	get("/topics/{topic}/messages", c.messages)
	get("/topics/{topic}/messages/tail", c.tail)
	get("/topics/{topic}/messages/export", c.export)
	get("/topics/{topic}/messages/{partition}/{offset}", c.message)
	get("/topics/{topic}/produce", c.producePage)
	post("/topics/{topic}/produce", c.produce)
	get("/groups", c.groups)
	get("/groups/{group}", c.group)
	get("/groups/{group}/lag", c.groupLag)
	post("/groups/{group}/reset", c.resetPreview)
	post("/groups/{group}/reset/apply", c.resetApply)
	post("/groups/{group}/delete", c.deleteGroup)
	get("/acls", c.acls)
	post("/acls", c.createACL)
	post("/acls/delete", c.deleteACL)
	get("/users", c.users)
	post("/users", c.upsertUser)
	post("/users/delete", c.deleteUser)
	get("/quotas", c.quotas)
	post("/quotas", c.alterQuota)
	get("/schemas", c.subjects)
	get("/schemas/{subject}", c.subject)
	get("/schemas/{subject}/diff", c.schemaDiff)
	c.mux = mux
}

// view wraps a handler: the session (or the login page), the CSRF check
// of a change, read-only mode, and errors rendered as a page.
func (c *Console) view(h handler, change bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &reqState{}
		if c.cfg.Login != nil {
			s := c.sessions.get(r, c.cfg.SessionIdle)
			if s == nil {
				if change || r.Header.Get("Accept") == "application/json" || strings.HasSuffix(r.URL.Path, "/tail") || strings.HasSuffix(r.URL.Path, "/lag") || strings.HasSuffix(r.URL.Path, "/stats") || strings.HasSuffix(r.URL.Path, "/rates") {
					http.Error(w, "not logged in", http.StatusUnauthorized)
					return
				}
				http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			st.sess, st.pool, st.csrf = s, s.pool, s.csrf
		} else {
			st.pool = c.anon
			st.csrf = c.anonCSRF(w, r)
		}
		if change {
			if c.cfg.ReadOnly {
				c.fail(w, r, st, http.StatusForbidden, errReadOnly)
				return
			}
			if err := c.checkCSRF(r, st); err != nil {
				c.log.Warn("console: change refused", "why", err.Error(), "principal", st.principal(), "path", r.URL.Path, "remote", r.RemoteAddr)
				c.fail(w, r, st, http.StatusForbidden, err)
				return
			}
		}
		if err := h(w, r, st); err != nil {
			c.fail(w, r, st, statusOf(err), err)
		}
	})
}

var errReadOnly = &userError{http.StatusForbidden, "This console is read-only (console.read.only=true): changes are refused."}

// userError is an error whose message is shown as it is, with its status.
type userError struct {
	status int
	msg    string
}

func (e *userError) Error() string { return e.msg }

func badRequest(format string, a ...any) error {
	return &userError{http.StatusBadRequest, fmt.Sprintf(format, a...)}
}

func notFound(format string, a ...any) error {
	return &userError{http.StatusNotFound, fmt.Sprintf(format, a...)}
}

func statusOf(err error) int {
	var ue *userError
	if errors.As(err, &ue) {
		return ue.status
	}
	if isAuthErr(err) {
		return http.StatusForbidden
	}
	// The broker's refusals that are about the request, not the broker:
	// the page says what the broker said, with the status a user's
	// mistake or a conflict gets.
	var ke *kerr.Error
	if errors.As(err, &ke) {
		switch ke {
		case kerr.TopicAlreadyExists, kerr.NonEmptyGroup, kerr.GroupSubscribedToTopic, kerr.RebalanceInProgress,
			kerr.UnknownMemberID, kerr.IllegalGeneration, kerr.FencedInstanceID, kerr.ConcurrentTransactions,
			kerr.ReassignmentInProgress, kerr.DuplicateResource:
			return http.StatusConflict
		case kerr.UnknownTopicOrPartition, kerr.UnknownTopicID, kerr.GroupIDNotFound, kerr.ResourceNotFound:
			return http.StatusNotFound
		case kerr.InvalidConfig, kerr.InvalidPartitions, kerr.InvalidReplicationFactor, kerr.InvalidReplicaAssignment,
			kerr.InvalidTopicException, kerr.PolicyViolation, kerr.InvalidRequest, kerr.InvalidRecord,
			kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidTimestamp, kerr.OffsetOutOfRange,
			kerr.InvalidCommitOffsetSize, kerr.InvalidGroupID, kerr.UnsupportedCompressionType:
			return http.StatusBadRequest
		}
	}
	return http.StatusBadGateway
}

// fail renders err as a page with status.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, st *reqState, status int, err error) {
	if r.Header.Get("Accept") == "application/json" {
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	c.render(w, r, st, status, "error", "Error", "", map[string]any{"Status": status, "StatusText": http.StatusText(status), "Message": err.Error()})
}

// pageData is what every page template gets.
type pageData struct {
	Title    string
	Nav      string
	User     string // logged in as; empty without login
	Login    bool
	CSRF     string
	ReadOnly bool
	Messages bool
	Schemas  bool
	Version  string
	Data     any
}

// render executes the page template name into w.
func (c *Console) render(w http.ResponseWriter, r *http.Request, st *reqState, status int, name, title, nav string, data any) {
	t, err := c.template(name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	pd := pageData{Title: title, Nav: nav, Login: c.cfg.Login != nil, ReadOnly: c.cfg.ReadOnly,
		Messages: !c.cfg.NoMessages, Schemas: c.cfg.Registry != nil, Version: c.version, Data: data}
	if st != nil {
		pd.CSRF = st.csrf
		if st.sess != nil {
			pd.User = st.sess.user
		}
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", pd); err != nil {
		c.log.Error("console: template", "page", name, "err", err)
		http.Error(w, "template error: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

// template returns page name's template, parsing it (with the layout) on
// first use: an idle broker spends nothing on templates.
func (c *Console) template(name string) (*template.Template, error) {
	c.tmplMu.Lock()
	defer c.tmplMu.Unlock()
	if t, ok := c.tmpl[name]; ok {
		return t, nil
	}
	t, err := template.New("layout").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/pager.html", "templates/"+name+".html")
	if err != nil {
		return nil, fmt.Errorf("console template %s: %w", name, err)
	}
	c.tmpl[name] = t
	return t, nil
}

// intParam reads an integer query or form parameter, def when absent.
func intParam(r *http.Request, name string, def int64) (int64, error) {
	v := strings.TrimSpace(r.FormValue(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, badRequest("%s: %q is not a whole number", name, v)
	}
	return n, nil
}

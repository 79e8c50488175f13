// Package broker is the Kafka broker: it accepts connections, reads requests
// with package protocol, dispatches each to one handler per API, and maps the
// requests onto partition logs (package storage) and the catalog (package
// meta).
//
// The skeleton follows net/http: New builds a Server from its dependencies,
// Serve accepts on a listener with one goroutine per connection, and
// Shutdown stops accepting, lets in-flight requests finish and waits.
//
// Kafka failures travel as error codes inside responses. A handler returns
// a Go error only when the connection must be closed. errorCode is the one
// mapping from Go errors to Kafka error codes.
package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/streamhouse/streamhouse/auth"
	"github.com/streamhouse/streamhouse/broker/group"
	"github.com/streamhouse/streamhouse/broker/txn"
	"github.com/streamhouse/streamhouse/codec"
	"github.com/streamhouse/streamhouse/config"
	"github.com/streamhouse/streamhouse/internal/loglevel"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/metrics"
	"github.com/streamhouse/streamhouse/protocol"
	"github.com/streamhouse/streamhouse/storage"
)

// Config is what a Server is built from. Store and Catalog are owned by the
// caller, which closes them after Shutdown.
type Config struct {
	// AdvertisedAddr is the host:port clients are told to connect to.
	// Empty: the address of the listener passed to Serve.
	AdvertisedAddr string
	// Settings are the broker-level configs (node.id,
	// auto.create.topics.enable, num.partitions, message.max.bytes, log.*
	// defaults, ...). Nil: Kafka's defaults with node.id 1.
	Settings *config.Broker
	// MaxRequestSize is socket.request.max.bytes. Zero: 100 MiB.
	MaxRequestSize int32

	Store   storage.Store
	Catalog meta.Catalog
	// Logger receives the broker's logs. Nil: discarded.
	Logger *slog.Logger
	// LogLevels are the named loggers' levels, the BROKER_LOGGER config
	// resource. Nil: that resource is refused (INVALID_REQUEST).
	LogLevels *loglevel.Levels
	// Now is the clock. Nil: Clock's Now.
	Now func() time.Time
	// Clock is the broker's clock, with the timers of its consumer
	// groups (sessions, rebalances), which Shutdown stops. Nil: the
	// system clock.
	Clock group.Clock
	// FrameReadTimeout bounds how long a request frame may take to arrive
	// once its first byte has (a client trickling bytes is cut off).
	// Zero: 30 s.
	FrameReadTimeout time.Duration
	// Metrics receives the request path's measurements. Nil: none kept.
	// New registers the broker with it for scrape-time partition and
	// group metrics.
	Metrics *metrics.Broker
	// Authorizer decides every request (authorizer.class.name); New
	// loads the ACLs from the catalog into it. Nil: no authorization,
	// every principal may do everything, as Kafka without an authorizer.
	Authorizer *auth.Authorizer
	// OAuthBearer validates OAUTHBEARER tokens. Nil: OAUTHBEARER cannot
	// be enabled on a listener.
	OAuthBearer OAuthValidator
	// Cluster is the cluster mode's leadership (leaders.go): which
	// partitions this broker leads and who leads the others. Nil: a
	// single broker, the leader of everything.
	Cluster Cluster
	// Placement is the cluster mode's placement (cmd wires cluster.Owner):
	// which of the live nodes should hold key. Metadata lists a
	// partition's replicas in the order it would hand the partition on.
	// Nil: by node id.
	Placement func(key meta.LeaseKey, nodes []int32) int32
}

// Server is a Kafka broker. Create it with New.
type Server struct {
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	table     *protocol.Table
	handlers  map[int16]handler
	clusterID string
	nodeID    int32
	topics    *topics
	// dyn is the broker configs in effect: Config.Settings with the
	// dynamic ones from the catalog (AlterConfigs on a broker resource);
	// read it with settings.
	dyn   atomic.Pointer[config.Broker]
	dynMu sync.Mutex // serialises changes of dyn; guards dynVersions
	// dynVersions are the catalog versions of the dynamic configs in
	// dyn, by scope ("" and this node's id): the versions a change is
	// conditional on.
	dynVersions map[string]int64
	groups      *group.Coordinator
	txns        *txn.Coordinator
	// remoteTxns: transactions across brokers (txn_remote.go).
	remoteTxns remoteTxns
	codecs     codec.Codecs
	// fetchBufs are fetch responses' record buffers (*[]byte), reused.
	fetchBufs sync.Pool
	// outBufs are large encoded responses' buffers (*[]byte), reused.
	outBufs sync.Pool
	// corkBufs gather a TLS connection's records of a large answer
	// (cork.go).
	corkBufs sync.Pool
	pids     pidAllocator
	quotas   *quotas
	// schemas validates schema ids for topics with
	// confluent.*.schema.validation (schemavalidation.go); nil: none.
	schemas atomic.Pointer[SchemaValidator]
	queued  *byteBudget // queued.max.request.bytes; nil: no limit

	// shardsLoading are the group shards whose groups are being loaded
	// (the cluster mode, coordinators.go); guarded by shardsMu.
	shardsMu      sync.Mutex
	shardsLoading map[int32]bool

	// shutdown is closed when Shutdown starts; long-polling fetches
	// answer at once when it is.
	shutdown     chan struct{}
	shutdownOnce sync.Once
	warmOnce     sync.Once // the first Serve starts the warm-up
	// base is the context of the broker's own work (background loops,
	// waits that outlive no request), cancelled with shutdown. Not the
	// connections': a request in flight at Shutdown is let finish.
	base     context.Context
	stopBase context.CancelFunc

	mu        sync.Mutex // guards listeners, conns, perIP, advertised, closed
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	perIP     map[string]int // open connections by client address
	connFreed *sync.Cond     // on mu: a connection closed, or the server did
	advHost   string
	advPort   int32
	closed    bool

	// scramSecret makes unknown users' SCRAM salts (auth.NewSecret).
	scramSecret []byte
	authLog     rateLimit  // authentication failure log lines
	denyLog     rateLimit  // authorization denial (audit) log lines
	tokenCreds  tokenCreds // SCRAM credentials derived for delegation tokens
	aclMu       sync.Mutex // serialises ACL changes (catalog, then index)

	connWG sync.WaitGroup // one per connection goroutine
	bg     sync.WaitGroup // background loops (retention)
	stats  Stats
}

// Stats are counters the broker keeps; issue 7 exports them as metrics.
type Stats struct {
	Connections atomic.Int64 // open now
	Requests    atomic.Int64 // handled since start
	Panics      atomic.Int64 // handler panics recovered
}

// New builds a Server: it reads the cluster id and the topics from the
// catalog. The partitions' logs open in the background once Serve is
// called (or when a request needs one first), so that a broker with many
// partitions serves at once.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Catalog == nil {
		return nil, errors.New("broker: Store and Catalog are required")
	}
	if cfg.Settings == nil {
		b, err := config.NewBroker(map[string]string{"node.id": "1"})
		if err != nil {
			return nil, err
		}
		cfg.Settings = b
	}
	if cfg.MaxRequestSize <= 0 {
		cfg.MaxRequestSize = protocol.DefaultMaxRequestSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = group.SystemClock{}
	}
	if cfg.Now == nil {
		cfg.Now = cfg.Clock.Now
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		now:       cfg.Now,
		nodeID:    cfg.Settings.NodeID(),
		table:     protocol.NewTable(protocol.Implemented()),
		shutdown:  make(chan struct{}),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
		perIP:     make(map[string]int),
	}
	s.base, s.stopBase = context.WithCancel(context.Background())
	s.connFreed = sync.NewCond(&s.mu)
	s.scramSecret = auth.NewSecret()
	s.handlers = s.handlerTable()
	s.coordinated(s.handlers)
	if err := s.checkTable(); err != nil {
		return nil, err
	}
	if cfg.AdvertisedAddr != "" {
		host, port, err := splitHostPort(cfg.AdvertisedAddr)
		if err != nil {
			return nil, fmt.Errorf("broker: advertised address: %w", err)
		}
		s.advHost, s.advPort = host, port
	}
	id, err := cfg.Catalog.ClusterID(ctx)
	if err != nil {
		return nil, fmt.Errorf("broker: cluster id: %w", err)
	}
	s.clusterID = id
	// The feed's position before anything is read: a change committed
	// while the broker reads is applied again, which changes nothing, and
	// none is missed.
	seq, err := cfg.Catalog.LastChange(ctx)
	if err != nil {
		return nil, fmt.Errorf("broker: catalog changes: %w", err)
	}
	if err := s.loadDynamicConfigs(ctx); err != nil {
		return nil, err
	}
	if err := s.loadACLs(ctx); err != nil {
		return nil, err
	}
	if n := s.settings().QueuedMaxRequestBytes(); n > 0 {
		s.queued = newByteBudget(n)
	}
	s.quotas = newQuotas()
	if err := s.loadQuotas(ctx); err != nil {
		return nil, err
	}
	s.topics = newTopics(s)
	if err := s.topics.load(ctx); err != nil {
		s.topics.closeAll()
		return nil, err
	}
	if s.groups, err = s.newCoordinator(ctx); err != nil {
		s.topics.closeAll()
		return nil, err
	}
	s.txns = s.newTxnCoordinator()
	if err := s.txns.Load(ctx); err != nil {
		s.groups.Close()
		s.topics.closeAll()
		return nil, fmt.Errorf("broker: %w", err)
	}
	cfg.Metrics.Watch(metricsSource{s})
	s.bg.Add(5)
	go s.followLoop(seq)
	if s.settings().LogCleanerEnable() {
		s.bg.Add(1)
		go s.cleanerLoop()
	}
	go s.retentionLoop()
	go s.offsetExpiryLoop()
	go s.producerExpiryLoop()
	go s.txnLoop()
	s.bg.Add(1)
	go s.tokenExpiryLoop()
	return s, nil
}

// checkTable makes sure the version table and the handlers agree: nothing
// is advertised without a handler, and no handler is unreachable.
func (s *Server) checkTable() error {
	for _, r := range s.table.Ranges() {
		if _, ok := s.handlers[r.Key]; !ok {
			return fmt.Errorf("broker: API key %d is advertised but has no handler", r.Key)
		}
	}
	for k := range s.handlers {
		if _, ok := s.table.Range(k); !ok {
			return fmt.Errorf("broker: API key %d has a handler but is not in protocol.Implemented", k)
		}
	}
	return nil
}

func splitHostPort(addr string) (string, int32, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	return host, int32(port), nil
}

// ClusterID is the cluster id stored in the catalog.
func (s *Server) ClusterID() string { return s.clusterID }

// Stats returns the broker's counters.
func (s *Server) Stats() *Stats { return &s.stats }

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("broker: server closed")

// Serve accepts connections on l, one goroutine each, until Shutdown, as a
// PLAINTEXT listener (ServeListener serves the other security protocols).
// It always returns a non-nil error: ErrServerClosed after Shutdown.
func (s *Server) Serve(l net.Listener) error {
	return s.ServeListener(l, Listener{Name: "PLAINTEXT", Protocol: "PLAINTEXT"})
}

// ServeListener is Serve for a listener of any security protocol.
func (s *Server) ServeListener(l net.Listener, li Listener) error {
	lc, err := s.newListener(li)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close() // as Serve would have at Shutdown
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	if s.advHost == "" {
		s.advHost, s.advPort = advertisedFrom(l.Addr())
	}
	if lc.advHost == "" {
		// Each listener answers with its own address, unless
		// Config.AdvertisedAddr names the broker's.
		lc.advHost, lc.advPort = advertisedFrom(l.Addr())
		if s.cfg.AdvertisedAddr != "" {
			lc.advHost, lc.advPort = s.advHost, s.advPort
		}
	}
	// The logs open in the background once the broker accepts: the
	// first clients are not kept waiting behind it.
	s.warmOnce.Do(func() {
		s.bg.Add(1)
		go s.warmLoop()
	})
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		// max.connections: stop accepting while the broker is full, as
		// Kafka's acceptor does; new clients wait in the listen backlog.
		s.mu.Lock()
		for !s.closed && int64(len(s.conns)) >= int64(s.settings().MaxConnections()) {
			s.connFreed.Wait()
		}
		s.mu.Unlock()
		nc, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			if acceptRetryable(err) {
				// Out of file descriptors and the like: the client
				// waits in the listen backlog, as past
				// max.connections; back off as net/http does rather
				// than spin.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "backoff", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := newConn(s, nc, lc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return ErrServerClosed
		}
		if ip := connIP(nc); s.perIP[ip] >= int(s.settings().MaxConnectionsPerIP()) {
			// max.connections.per.ip: dropped at once, as Kafka drops them.
			s.mu.Unlock()
			s.log.Info("connection refused: max.connections.per.ip reached", "remote", nc.RemoteAddr().String())
			nc.Close()
			continue
		} else if d := s.quotas.connection(ip, s.now()); d > 0 {
			// connection_creation_rate (KIP-612): as Kafka, the
			// connection is held for the throttle time, then closed.
			s.mu.Unlock()
			s.log.Info("connection throttled: connection_creation_rate exceeded", "remote", nc.RemoteAddr().String(), "close_after", d)
			time.AfterFunc(d, func() { nc.Close() })
			continue
		} else {
			s.perIP[ip]++
			c.ip = ip
		}
		s.conns[c] = struct{}{}
		s.connWG.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

// acceptRetryable reports whether an Accept error passes: the process or
// the system is out of file descriptors (EMFILE, ENFILE) or the kernel out
// of buffers (ENOBUFS, ENOMEM), or a timeout. net.Error's Timeout is false
// for EMFILE, and a client opening more connections than the descriptor
// limit stopped the broker.
func acceptRetryable(err error) bool {
	var ne net.Error
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.As(err, &ne) && ne.Timeout()
}

// advertisedFrom picks the address to advertise for a listener: its own,
// or the host name when it listens on every interface.
func advertisedFrom(a net.Addr) (string, int32) {
	host, port, err := splitHostPort(a.String())
	if err != nil {
		return "localhost", 9092
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		} else {
			host = "localhost"
		}
	}
	return host, port
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) advertised() (string, int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.advHost, s.advPort
}

func (s *Server) forgetConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if s.perIP[c.ip]--; s.perIP[c.ip] <= 0 {
		delete(s.perIP, c.ip)
	}
	s.connFreed.Broadcast()
	s.mu.Unlock()
	s.connWG.Done()
}

// connIP is the client's address without its port.
func connIP(nc net.Conn) string {
	a := nc.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(a); err == nil {
		return host
	}
	return a
}

// Shutdown stops the server gracefully: it closes the listeners, wakes
// long-polling fetches, lets every connection finish the request it is
// handling (idle connections close at once), then closes every log. When ctx
// ends first, the remaining connections are closed forcibly; the logs are
// closed all the same and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.connFreed.Broadcast()
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.stopReading()
	}
	s.mu.Unlock()
	s.shutdownOnce.Do(func() {
		close(s.shutdown)
		s.stopBase()
	})
	// Waiting joins and syncs answer COORDINATOR_NOT_AVAILABLE now rather
	// than hold the shutdown for a rebalance timeout.
	s.groups.Close()

	done := make(chan struct{})
	go func() { s.connWG.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
	}
	s.bg.Wait()
	if cerr := s.topics.closeAll(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// isEOF reports whether err is a peer closing its side.
func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}

// settings returns the broker configs in effect.
func (s *Server) settings() *config.Broker { return s.dyn.Load() }

// loadDynamicConfigs applies the dynamic broker configs stored in the
// catalog over Config.Settings. Stored values this binary refuses (a config
// that became read-only, say) are logged and left out, as Kafka does with
// invalid dynamic configs.
func (s *Server) loadDynamicConfigs(ctx context.Context) error {
	s.dynMu.Lock()
	defer s.dynMu.Unlock()
	return s.loadDynamicLocked(ctx)
}

// loadDynamicLocked is loadDynamicConfigs for a caller that holds dynMu.
// Topics' effective configs are resolved again when the broker's changed.
func (s *Server) loadDynamicLocked(ctx context.Context) error {
	scopes, err := s.cfg.Catalog.BrokerConfigs(ctx)
	if err != nil {
		return fmt.Errorf("broker: dynamic configs: %w", err)
	}
	node := strconv.Itoa(int(s.nodeID))
	versions := map[string]int64{"": scopes[""].Version, node: scopes[node].Version}
	if maps.Equal(versions, s.dynVersions) {
		return nil
	}
	b, err := s.cfg.Settings.WithDynamic(scopes[""].Configs, scopes[node].Configs)
	if err != nil {
		s.log.Error("stored dynamic broker configs are invalid; starting with the static ones", "err", err)
		b = s.cfg.Settings
	}
	first := s.dynVersions == nil
	s.dynVersions = versions
	s.dyn.Store(b)
	if !first {
		s.topics.refresh()
		s.log.Info("broker configs changed through another broker", "cluster_default", scopes[""].Configs, "node", scopes[node].Configs)
	}
	return nil
}

// frameTimeout is Config.FrameReadTimeout or its default.
func (s *Server) frameTimeout() time.Duration {
	if s.cfg.FrameReadTimeout > 0 {
		return s.cfg.FrameReadTimeout
	}
	return 30 * time.Second
}

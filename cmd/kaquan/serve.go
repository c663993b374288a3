package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kaquan/kaquan"
	"github.com/kaquan/kaquan/cmd/kaquan/server"
	"github.com/kaquan/kaquan/persistence"
)

// serve runs the network service until ctx ends (SIGINT or SIGTERM), then shuts down gracefully:
// it stops accepting, finishes the requests under way, and closes the engine (flushing its writes).
func (m Main) serve(ctx context.Context, args []string) error {
	fs := m.newFlags("serve")
	data := fs.String("data", "kaquan-data", "data folder")
	listen := fs.String("listen", "127.0.0.1:7070", "address to serve gRPC, gRPC-Web and JSON on")
	adminToken := fs.String("admin-token", "", "bootstrap admin token: 64 hex digits (better from KAQUAN_ADMIN_TOKEN)")
	tlsCert := fs.String("tls-cert", "", "TLS certificate file (with --tls-key: serve HTTPS)")
	tlsKey := fs.String("tls-key", "", "TLS key file")
	durability := fs.String("durability", "sync", "sync, or none (benchmarks only: a machine crash loses acknowledged work)")
	requestBytes := fs.Int("request-bytes-max", server.DefaultOptions().RequestBytesMax, "largest request body")
	timeout := fs.Duration("request-timeout", server.DefaultOptions().RequestTimeout, "deadline of every request")
	shutdown := fs.Duration("shutdown-timeout", 15*time.Second, "how long a graceful shutdown may take")
	pprofOn := fs.Bool("pprof", false, "serve /debug/pprof/ (for operators; not on a public port)")
	metricsListen := fs.String("metrics-listen", "", "address to serve /metrics (and /debug/pprof/) on, apart from the API; empty: on the API port")
	backupTimeout := fs.Duration("backup-timeout", server.DefaultOptions().BackupTimeout, "how long one backup (GET /admin/backup) may take")
	verbose := fs.Bool("v", false, "log engine activity")
	gc := addGCFlags(fs)
	cf := addClusterFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cluster, err := cf.options(fs)
	if err != nil {
		fmt.Fprintln(m.Stderr, err)
		return errUsage
	}
	if err := gc.apply(); err != nil {
		fmt.Fprintln(m.Stderr, err)
		return errUsage
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		fmt.Fprintln(m.Stderr, "--tls-cert and --tls-key go together")
		return errUsage
	}
	d, err := persistence.ParseDurability(*durability)
	if err != nil || d == persistence.DurabilityMemory {
		fmt.Fprintln(m.Stderr, "--durability: sync or none")
		return errUsage
	}
	log := m.logger(*verbose)
	opts := kaquan.DefaultOptions()
	opts.Durability, opts.Logger, opts.Cluster = d, log, cluster
	e, err := kaquan.Open(*data, opts)
	if errors.Is(err, kaquan.ErrClusterLayout) {
		return fmt.Errorf("open %s: %w (a folder keeps the node, node count and slot count it was created with)", *data, err)
	}
	if err != nil {
		return err
	}
	sopts := server.DefaultOptions()
	sopts.AdminToken, sopts.RequestBytesMax, sopts.RequestTimeout, sopts.Pprof, sopts.Logger = *adminToken, *requestBytes, *timeout, *pprofOn, log
	sopts.BackupTimeout, sopts.MetricsApart, sopts.Clock = *backupTimeout, *metricsListen != "", opts.Clock
	srv, err := server.New(e, sopts)
	if err != nil {
		e.Close()
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		e.Close()
		return err
	}
	handler := withBackupDeadline(srv.Handler(), sopts.BackupTimeout)
	servers := []served{{ln: ln, hs: newHTTPServer(handler, *requestBytes, *timeout), cert: *tlsCert, key: *tlsKey}}
	if *metricsListen != "" {
		mln, err := net.Listen("tcp", *metricsListen)
		if err != nil {
			ln.Close()
			e.Close()
			return err
		}
		servers = append(servers, served{ln: mln, hs: newMetricsServer(srv.MetricsHandler())})
	} else if !isLoopback(ln.Addr()) {
		log.Warn("/metrics is served on the API port, which is not loopback: give --metrics-listen to serve it apart", "addr", ln.Addr().String())
	}
	attrs := []any{"addr", ln.Addr().String(), "metrics", servers[len(servers)-1].ln.Addr().String(), "data", *data, "durability", d, "tls", *tlsCert != ""}
	if cluster != nil {
		attrs = append(attrs, "node", cluster.Node, "nodes", cluster.Nodes, "slots", cluster.Slots, "peer", cluster.Peers[cluster.Node])
	}
	log.Warn("kaquan serving", attrs...)
	fmt.Fprintf(m.Stdout, "kaquan serving on %s\n", ln.Addr())
	if *metricsListen != "" {
		fmt.Fprintf(m.Stdout, "kaquan metrics on %s\n", servers[1].ln.Addr())
	}
	return serveUntil(ctx, servers, *shutdown, e)
}

// clusterFlags are serve's cluster flags: without --cluster the server is a single node.
type clusterFlags struct {
	peers, name      *string
	node, slots      *int
	healthPortOffset *int
}

func addClusterFlags(fs *flag.FlagSet) clusterFlags {
	return clusterFlags{
		peers: fs.String("cluster", "", "every node's node-to-node address, host:port,host:port,..., in ordinal order (the same list on every node); empty: a single node"),
		node:  fs.Int("node", 0, "this node's ordinal in --cluster, 0..nodes-1 (with --cluster)"),
		slots: fs.Int("slots", kaquan.ClusterSlotsDefault, fmt.Sprintf("the cluster's slots, a power of two in 1..%d, fixed when the cluster is created (with --cluster)", kaquan.ClusterSlotsMax)),
		name:  fs.String("cluster-name", kaquan.ClusterNameDefault, "the cluster's name; nodes of other names are not members (with --cluster)"),
		healthPortOffset: fs.Int("health-port-offset", kaquan.ClusterHealthPortOffsetDefault,
			"a node's membership health port is its node-to-node port plus this (with --cluster)"),
	}
}

// options are the engine's cluster options from the parsed flags (nil: a single node), or a usage
// error naming the flag at fault.
func (c clusterFlags) options(fs *flag.FlagSet) (*kaquan.ClusterOptions, error) {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true }) // also those set from the environment
	if *c.peers == "" {
		for _, name := range []string{"node", "slots", "cluster-name", "health-port-offset"} {
			if given[name] {
				return nil, fmt.Errorf("--%s needs --cluster (the node-to-node address of every node)", name)
			}
		}
		return nil, nil
	}
	if !given["node"] {
		return nil, errors.New("--cluster needs --node (this node's ordinal in the list)")
	}
	peers := strings.Split(*c.peers, ",")
	if len(peers) > kaquan.ClusterNodesMax {
		return nil, fmt.Errorf("--cluster lists %d nodes; at most %d", len(peers), kaquan.ClusterNodesMax)
	}
	seen := map[string]int{}
	for i, p := range peers {
		host, port, err := net.SplitHostPort(p)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("--cluster: address %d %q: want host:port", i, p)
		}
		if j, ok := seen[p]; ok {
			return nil, fmt.Errorf("--cluster: address %d %q is also address %d", i, p, j)
		}
		seen[p] = i
	}
	if *c.node < 0 || *c.node >= len(peers) {
		return nil, fmt.Errorf("--node %d: outside the --cluster list (0..%d)", *c.node, len(peers)-1)
	}
	if *c.healthPortOffset < 1 || *c.healthPortOffset > 65535 {
		return nil, fmt.Errorf("--health-port-offset %d outside 1..65535", *c.healthPortOffset)
	}
	if *c.name == "" {
		return nil, errors.New("--cluster-name: empty")
	}
	opts := &kaquan.ClusterOptions{Node: *c.node, Nodes: len(peers), Slots: *c.slots, Peers: peers,
		Name: *c.name, HealthPortOffset: *c.healthPortOffset}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("--cluster, --node, --slots: %w", err)
	}
	return opts, nil
}

// isLoopback reports whether addr is a loopback address (127.0.0.1, ::1).
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// Connection deadlines. A request's own deadline (RequestTimeout) starts only once its body is
// read, so without these a client that sends headers and then trickles or withholds the body
// holds a connection and a goroutine forever, before any token is checked.
const (
	// slowLinkBytesPerSecond is the slowest upload that still gets the largest request body
	// (RequestBytesMax) in before the read deadline: 64 KiB/s, a poor mobile link. The default
	// 3 MiB limit gives 48 s on top of the request timeout.
	slowLinkBytesPerSecond = 64 << 10
	readHeaderTimeout      = 10 * time.Second
	// idleTimeout closes a keep-alive connection (HTTP/1.1 or HTTP/2) with no request under way.
	idleTimeout = 2 * time.Minute
	// writeTimeoutMin keeps the write deadline above pprof's default 30 s profile and the time a
	// large listing takes to reach a slow client, whatever the body limit and request timeout.
	writeTimeoutMin = time.Minute
	// backupPath streams a whole snapshot, for as long as the server's BackupTimeout allows.
	backupPath = "/admin/backup"
	// backupWriteSlack lets a backup cut off by BackupTimeout end its response before the write
	// deadline cuts the connection.
	backupWriteSlack = time.Minute
)

// connTimeouts are the read and write deadlines of one request, for bodies of up to requestBytes
// and handlers bounded by requestTimeout. Both count from the start of the request (per stream on
// HTTP/2). The write deadline covers the body, the handler and an answer about as large as the
// largest request (an image). An answer streamed for longer must extend its own deadline
// (http.ResponseController.SetWriteDeadline), as a backup's is (withBackupDeadline).
func connTimeouts(requestBytes int, requestTimeout time.Duration) (read, write time.Duration) {
	upload := time.Duration(requestBytes) * time.Second / slowLinkBytesPerSecond
	read = requestTimeout + upload
	write = max(read+requestTimeout+upload, writeTimeoutMin)
	return read, write
}

// withBackupDeadline moves the write deadline of a backup, the one answer streamed for long, from
// the server's WriteTimeout to its own bound. (A refused backup answers at once: the longer
// deadline holds nothing.)
func withBackupDeadline(h http.Handler, backupTimeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == backupPath {
			// A writer without deadlines keeps none to move; the handler then runs as any other.
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(backupTimeout + backupWriteSlack))
		}
		h.ServeHTTP(w, r)
	})
}

// newHTTPServer is the HTTP server of handler. gRPC needs HTTP/2; without TLS, clients speak it
// with prior knowledge (h2c). HTTP/1.1 serves Connect JSON, gRPC-Web and /metrics.
func newHTTPServer(handler http.Handler, requestBytes int, requestTimeout time.Duration) *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(true)
	read, write := connTimeouts(requestBytes, requestTimeout)
	return &http.Server{
		Handler:           handler,
		Protocols:         &protocols,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       read,
		WriteTimeout:      write,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
}

// newMetricsServer is the HTTP server of the metrics listener (--metrics-listen): plain HTTP/1.1,
// GETs only, answers bounded by the write deadline of a 30 s pprof profile.
func newMetricsServer(handler http.Handler) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readHeaderTimeout,
		WriteTimeout:      writeTimeoutMin,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
}

// served is one HTTP server on its listener, with TLS when cert is set.
type served struct {
	ln        net.Listener
	hs        *http.Server
	cert, key string
}

// serveUntil serves every server until ctx ends (or one of them fails), then shuts them all down
// within limit and closes e.
func serveUntil(ctx context.Context, servers []served, limit time.Duration, e *kaquan.Engine) error {
	done := make(chan error, len(servers))
	for _, s := range servers {
		go func() {
			if s.cert != "" {
				done <- s.hs.ServeTLS(s.ln, s.cert, s.key)
			} else {
				done <- s.hs.Serve(s.ln)
			}
		}()
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-done:
	}
	sctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var shutErrs []error
	for _, s := range servers {
		// Stop accepting, wait for the requests under way.
		if err := s.hs.Shutdown(sctx); err != nil {
			// Out of time: cut what still runs (a backup to a client that stopped reading, say),
			// or the engine's Close would wait for it.
			_ = s.hs.Close()
			shutErrs = append(shutErrs, err)
		}
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return errors.Join(serveErr, errors.Join(shutErrs...), e.Close())
}

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"connectrpc.com/grpchealth"
	"github.com/kaquan/kaquan"
)

// The ports of `cluster up`, from the --listen port P: node I serves its API on P+I and talks to
// the other nodes on P+peerPortOffset+2I; its membership health port is the one above that
// (P+peerPortOffset+2I+1), so no two ports of the cluster collide for up to ClusterNodesMax nodes.
const (
	peerPortOffset = 1000
	// clusterHealthPortOffset is the --health-port-offset every node is started with.
	clusterHealthPortOffset = 1
	// healthPollEvery is how often a starting node's health is asked; healthCheckMax bounds one ask.
	healthPollEvery = 100 * time.Millisecond
	healthCheckMax  = 2 * time.Second
	// nodeLineBytesMax bounds a line of a node's output held before it is forwarded.
	nodeLineBytesMax = 64 << 10
	// outputWaitMax bounds how long a node's output is read once it exited.
	outputWaitMax = 5 * time.Second
	// adminTokenFile, in the cluster's data folder, keeps the admin token cluster up made.
	adminTokenFile = "admin-token"
)

// cluster runs a cluster subcommand: only `up` for now.
func (m Main) cluster(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "up" {
		fmt.Fprintln(m.Stderr, `usage: kaquan cluster up --nodes N [--data DIR] [--listen HOST:PORT] [flags] [-- serve flags]`)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return flag.ErrHelp
		}
		return errUsage
	}
	return m.clusterUp(ctx, args[1:])
}

// clusterPlan is where every node of a cluster started by cluster up lives.
type clusterPlan struct {
	host           string
	port           int // the --listen port: node 0's API
	nodes, slots   int
	data, name     string
	serveArguments []string // given after --, for every node
}

func (p clusterPlan) apiAddr(i int) string { return net.JoinHostPort(p.host, strconv.Itoa(p.port+i)) }
func (p clusterPlan) peerAddr(i int) string {
	return net.JoinHostPort(p.host, strconv.Itoa(p.port+peerPortOffset+2*i))
}
func (p clusterPlan) dataDir(i int) string { return filepath.Join(p.data, "node-"+strconv.Itoa(i)) }

// peers is the --cluster list every node is given.
func (p clusterPlan) peers() string {
	list := make([]string, p.nodes)
	for i := range list {
		list[i] = p.peerAddr(i)
	}
	return strings.Join(list, ",")
}

// serveArgs are node i's command line.
func (p clusterPlan) serveArgs(i int) []string {
	args := []string{"serve", "--data", p.dataDir(i), "--listen", p.apiAddr(i), "--node", strconv.Itoa(i),
		"--cluster", p.peers(), "--slots", strconv.Itoa(p.slots), "--cluster-name", p.name,
		"--health-port-offset", strconv.Itoa(clusterHealthPortOffset)}
	return append(args, p.serveArguments...)
}

// clusterUp starts the nodes of a cluster on this machine as child processes (this executable,
// `serve`), prints `node I http://ADDR` for each once all serve, forwards their output to stderr
// (each line prefixed `node I: `), and stops them all when ctx ends (SIGINT, SIGTERM) or one of
// them exits.
func (m Main) clusterUp(ctx context.Context, args []string) error {
	var serveArguments []string
	for i, a := range args {
		if a == "--" {
			args, serveArguments = args[:i], args[i+1:]
			break
		}
	}
	fs := m.newFlags("cluster up")
	nodes := fs.Int("nodes", 3, fmt.Sprintf("nodes to start, 1..%d", kaquan.ClusterNodesMax))
	data := fs.String("data", "kaquan-cluster", "the cluster's folder: node I's data in DIR/node-I")
	listen := fs.String("listen", "127.0.0.1:7070", fmt.Sprintf("node 0's API address HOST:PORT; node I serves on PORT+I, talks to the others on PORT+%d+2I (its health port PORT+%d+2I)", peerPortOffset, peerPortOffset+1))
	slots := fs.Int("slots", kaquan.ClusterSlotsDefault, "the cluster's slots, fixed when it is created")
	name := fs.String("cluster-name", kaquan.ClusterNameDefault, "the cluster's name")
	adminToken := fs.String("admin-token", "", "every node's bootstrap admin token, 64 hex digits (better from KAQUAN_ADMIN_TOKEN); empty: the one in DIR/admin-token, made at the first start")
	startTimeout := fs.Duration("start-timeout", time.Minute, "how long the nodes may take until all serve")
	stopTimeout := fs.Duration("stop-timeout", 30*time.Second, "how long the nodes may take to stop gracefully, then they are killed")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kaquan cluster up --nodes N [--data DIR] [--listen HOST:PORT] [flags] [-- serve flags for every node]")
		fs.PrintDefaults()
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	plan, err := newClusterPlan(*nodes, *slots, *data, *listen, *name, serveArguments)
	if err == nil && (*startTimeout <= 0 || *stopTimeout <= 0) {
		err = errors.New("--start-timeout and --stop-timeout: above 0")
	}
	if err != nil {
		fmt.Fprintln(m.Stderr, err)
		return errUsage
	}
	if err := os.MkdirAll(plan.data, 0o755); err != nil {
		return err
	}
	token, err := m.clusterToken(plan.data, *adminToken)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("this executable: %w", err)
	}
	c := &runningCluster{plan: plan, out: &lockedWriter{w: m.Stderr}, stopTimeout: *stopTimeout}
	if err := c.start(exe, append(os.Environ(), "KAQUAN_ADMIN_TOKEN="+token)); err != nil {
		return errors.Join(err, c.stop())
	}
	return c.run(ctx, m.Stdout, *startTimeout)
}

// newClusterPlan checks cluster up's flags.
func newClusterPlan(nodes, slots int, data, listen, name string, serveArguments []string) (clusterPlan, error) {
	host, port, err := net.SplitHostPort(listen)
	p, perr := strconv.Atoi(port)
	switch {
	case nodes < 1 || nodes > kaquan.ClusterNodesMax:
		return clusterPlan{}, fmt.Errorf("--nodes %d outside 1..%d", nodes, kaquan.ClusterNodesMax)
	case err != nil || host == "" || perr != nil || p < 1:
		return clusterPlan{}, fmt.Errorf("--listen %q: want HOST:PORT with a port above 0 (the nodes' ports follow from it)", listen)
	case p+peerPortOffset+2*(nodes-1)+clusterHealthPortOffset > 65535:
		return clusterPlan{}, fmt.Errorf("--listen %q: port too high for %d nodes (node-to-node ports reach PORT+%d)", listen, nodes, peerPortOffset+2*(nodes-1)+clusterHealthPortOffset)
	case data == "":
		return clusterPlan{}, errors.New("--data: empty")
	}
	plan := clusterPlan{host: host, port: p, nodes: nodes, slots: slots, data: data, name: name, serveArguments: serveArguments}
	// The layout is checked now as every node will check it, rather than N times over.
	opts := kaquan.ClusterOptions{Node: 0, Nodes: nodes, Slots: slots, Peers: strings.Split(plan.peers(), ","), Name: name, HealthPortOffset: clusterHealthPortOffset}
	if err := opts.Validate(); err != nil {
		return clusterPlan{}, fmt.Errorf("--nodes, --slots: %w", err)
	}
	return plan, nil
}

// clusterToken is the admin token every node gets: the one given, or the one in DIR/admin-token
// (made there, readable by this user only, at the first start without one). It says on stderr
// where the token is.
func (m Main) clusterToken(dir, given string) (string, error) {
	if given != "" {
		fmt.Fprintln(m.Stderr, "kaquan cluster: every node's admin token is the one given (--admin-token or KAQUAN_ADMIN_TOKEN)")
		return given, nil
	}
	path := filepath.Join(dir, adminTokenFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		given = strings.TrimSpace(string(b))
	case errors.Is(err, os.ErrNotExist):
		raw := make([]byte, 32)
		_, _ = rand.Read(raw) // never fails (crypto/rand)
		given = hex.EncodeToString(raw)
		if err := os.WriteFile(path, []byte(given+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("admin token: %w", err)
		}
	default:
		return "", fmt.Errorf("admin token: %w", err)
	}
	fmt.Fprintf(m.Stderr, "kaquan cluster: every node's admin token is in %s: export KAQUAN_ADMIN_TOKEN=$(cat %s)\n", path, path)
	return given, nil
}

// runningCluster is the nodes' processes.
type runningCluster struct {
	plan        clusterPlan
	out         *lockedWriter
	stopTimeout time.Duration
	cmds        []*exec.Cmd
	exits       chan nodeExit // one per started node, when it ends
	ended       map[int]bool
}

// nodeExit is how node ended.
type nodeExit struct {
	node int
	err  error  // nil: exit 0
	said string // its last "kaquan: ..." line, the error it stopped with
}

// start starts every node; after an error, the nodes already started are to be stopped.
func (c *runningCluster) start(exe string, env []string) error {
	c.exits, c.ended = make(chan nodeExit, c.plan.nodes), map[int]bool{}
	for i := range c.plan.nodes {
		cmd := exec.Command(exe, c.plan.serveArgs(i)...)
		w := &prefixWriter{out: c.out, prefix: fmt.Sprintf("node %d: ", i)}
		cmd.Env, cmd.Stdout, cmd.Stderr, cmd.SysProcAttr = env, w, w, nodeProcAttr()
		cmd.WaitDelay = outputWaitMax // a process the node left behind may hold its output open
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start node %d: %w", i, err)
		}
		c.cmds = append(c.cmds, cmd)
		c.out.writeLine("", fmt.Appendf(nil, "kaquan cluster: node %d pid %d: %s\n", i, cmd.Process.Pid, strings.Join(cmd.Args[1:6], " ")))
		go func() {
			err := cmd.Wait()
			w.flush()
			c.exits <- nodeExit{node: i, err: err, said: w.said()}
		}()
	}
	return nil
}

// run waits until every node serves and prints their addresses, then until ctx ends or a node
// exits; then it stops them all.
func (c *runningCluster) run(ctx context.Context, stdout io.Writer, startTimeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	serving := make(chan error, 1)
	go func() { serving <- c.waitServing(wctx) }()
	select {
	case x := <-c.exits:
		c.ended[x.node] = true
		return errors.Join(fmt.Errorf("node %d exited before all nodes served: %s", x.node, x.text()), c.stop())
	case err := <-serving:
		if ctx.Err() != nil {
			return c.stop() // stopped by a signal while starting
		}
		if err != nil {
			return errors.Join(fmt.Errorf("the nodes did not all serve within --start-timeout %s: %w", startTimeout, err), c.stop())
		}
	}
	for i := range c.plan.nodes {
		fmt.Fprintf(stdout, "node %d http://%s\n", i, c.plan.apiAddr(i))
	}
	select {
	case <-ctx.Done():
		return c.stop()
	case x := <-c.exits:
		c.ended[x.node] = true
		return errors.Join(fmt.Errorf("node %d exited: %s; stopping the others", x.node, x.text()), c.stop())
	}
}

// waitServing asks each node's gRPC health service until every one answers SERVING, or ctx ends.
func (c *runningCluster) waitServing(ctx context.Context) error {
	hc := &http.Client{Timeout: healthCheckMax}
	waiting := map[int]bool{}
	for i := range c.plan.nodes {
		waiting[i] = true
	}
	var last error
	for len(waiting) > 0 {
		for i := range waiting {
			res, err := grpchealth.NewClient(hc, "http://"+c.plan.apiAddr(i)).Check(ctx, &grpchealth.CheckRequest{})
			switch {
			case err == nil && res.Status == grpchealth.StatusServing:
				delete(waiting, i)
			case err == nil:
				last = fmt.Errorf("node %d: %s", i, res.Status)
			default:
				last = fmt.Errorf("node %d: %w", i, err)
			}
		}
		if len(waiting) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), last)
		case <-time.After(healthPollEvery):
		}
	}
	return nil
}

// stop sends SIGTERM to every node still running and waits for them all, up to stopTimeout; then
// it kills those left. It reports each node that did not exit 0.
func (c *runningCluster) stop() error {
	var errs []error
	for i, cmd := range c.cmds {
		if !c.ended[i] {
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
				errs = append(errs, fmt.Errorf("node %d: SIGTERM: %w", i, err))
			}
		}
	}
	deadline := time.After(c.stopTimeout)
	for len(c.ended) < len(c.cmds) {
		select {
		case x := <-c.exits:
			c.ended[x.node] = true
			if x.err != nil {
				errs = append(errs, fmt.Errorf("node %d stopped: %s", x.node, x.text()))
			}
		case <-deadline:
			for i, cmd := range c.cmds {
				if !c.ended[i] {
					_ = cmd.Process.Kill()
					errs = append(errs, fmt.Errorf("node %d did not stop within --stop-timeout %s: killed", i, c.stopTimeout))
				}
			}
			for len(c.ended) < len(c.cmds) {
				c.ended[(<-c.exits).node] = true
			}
		}
	}
	return errors.Join(errs...)
}

// text says how a node's process ended, and with what error if it said one.
func (x nodeExit) text() string {
	s := "exit 0"
	if x.err != nil {
		s = x.err.Error()
	}
	if x.said != "" {
		s += " (" + x.said + ")"
	}
	return s
}

// lockedWriter serializes whole lines from the nodes onto one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) writeLine(prefix string, line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, prefix)
	_, _ = l.w.Write(line)
}

// prefixWriter forwards a node's output line by line, each line prefixed. A line longer than
// nodeLineBytesMax is forwarded in pieces.
type prefixWriter struct {
	mu     sync.Mutex
	out    *lockedWriter
	prefix string
	buf    []byte
	last   string // the last line that began "kaquan: "
}

// said is the node's last "kaquan: ..." line without that prefix: the error a node stops with.
func (p *prefixWriter) said() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

func (p *prefixWriter) line(b []byte) {
	if rest, ok := bytes.CutPrefix(b, []byte("kaquan: ")); ok {
		p.last = string(bytes.TrimSpace(rest))
	}
	p.out.writeLine(p.prefix, b)
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 && len(p.buf) < nodeLineBytesMax {
			return len(b), nil
		}
		if i < 0 {
			p.line(append(p.buf, '\n'))
			p.buf = p.buf[:0]
			return len(b), nil
		}
		p.line(p.buf[:i+1])
		p.buf = append(p.buf[:0], p.buf[i+1:]...)
	}
}

// flush forwards a last line without its newline.
func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		p.line(append(p.buf, '\n'))
		p.buf = nil
	}
}

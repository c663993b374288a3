package main

import (
	"context"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kaquan/kaquan"
)

// TestServe_ClusterFlags checks serve's cluster flags: the options they make, and the usage
// errors of bad combinations.
func TestServe_ClusterFlags(t *testing.T) {
	three := "127.0.0.1:8070,127.0.0.1:8072,127.0.0.1:8074"
	peers := strings.Split(three, ",")
	for _, tc := range []struct {
		name string
		args []string
		want *kaquan.ClusterOptions
		err  string // a part of the usage error; "" for none
	}{
		{"SingleNode", nil, nil, ""},
		{"Cluster", []string{"--cluster", three, "--node", "2"},
			&kaquan.ClusterOptions{Node: 2, Nodes: 3, Slots: 64, Peers: peers, Name: "kaquan", HealthPortOffset: 1}, ""},
		{"AllFlags", []string{"--cluster", three, "--node", "0", "--slots", "32", "--cluster-name", "east", "--health-port-offset", "5"},
			&kaquan.ClusterOptions{Node: 0, Nodes: 3, Slots: 32, Peers: peers, Name: "east", HealthPortOffset: 5}, ""},
		{"OneNode", []string{"--cluster", "localhost:9000", "--node", "0"},
			&kaquan.ClusterOptions{Node: 0, Nodes: 1, Slots: 64, Peers: []string{"localhost:9000"}, Name: "kaquan", HealthPortOffset: 1}, ""},
		{"IPv6", []string{"--cluster", "[::1]:9000,[::1]:9002", "--node", "1"},
			&kaquan.ClusterOptions{Node: 1, Nodes: 2, Slots: 64, Peers: []string{"[::1]:9000", "[::1]:9002"}, Name: "kaquan", HealthPortOffset: 1}, ""},
		{"NodeWithoutCluster", []string{"--node", "1"}, nil, "--node needs --cluster"},
		{"SlotsWithoutCluster", []string{"--slots", "64"}, nil, "--slots needs --cluster"},
		{"NameWithoutCluster", []string{"--cluster-name", "x"}, nil, "--cluster-name needs --cluster"},
		{"OffsetWithoutCluster", []string{"--health-port-offset", "2"}, nil, "--health-port-offset needs --cluster"},
		{"ClusterWithoutNode", []string{"--cluster", three}, nil, "--cluster needs --node"},
		{"NodeOutside", []string{"--cluster", three, "--node", "3"}, nil, "--node 3: outside the --cluster list (0..2)"},
		{"NodeNegative", []string{"--cluster", three, "--node", "-1"}, nil, "--node -1: outside"},
		{"NoPort", []string{"--cluster", "127.0.0.1,127.0.0.1:8072", "--node", "0"}, nil, `address 0 "127.0.0.1": want host:port`},
		{"NoHost", []string{"--cluster", ":8070", "--node", "0"}, nil, `address 0 ":8070"`},
		{"PortZero", []string{"--cluster", "127.0.0.1:0", "--node", "0"}, nil, "want host:port"},
		{"PortTooHigh", []string{"--cluster", "127.0.0.1:70000", "--node", "0"}, nil, "want host:port"},
		{"EmptyEntry", []string{"--cluster", "127.0.0.1:8070,", "--node", "0"}, nil, `address 1 ""`},
		{"Duplicate", []string{"--cluster", "127.0.0.1:8070,127.0.0.1:8070", "--node", "0"}, nil, "is also address 0"},
		{"NoRoomForHealthPort", []string{"--cluster", "127.0.0.1:65535", "--node", "0"}, nil, "room for its health port"},
		{"SlotsNotPowerOfTwo", []string{"--cluster", three, "--node", "0", "--slots", "48"}, nil, "Cluster.Slots 48"},
		{"MoreNodesThanSlots", []string{"--cluster", three, "--node", "0", "--slots", "2"}, nil, "Cluster.Nodes 3"},
		{"OffsetZero", []string{"--cluster", three, "--node", "0", "--health-port-offset", "0"}, nil, "--health-port-offset 0"},
		{"EmptyName", []string{"--cluster", three, "--node", "0", "--cluster-name", ""}, nil, "--cluster-name: empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseClusterFlags(t, tc.args)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("got %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("got %v, want an error with %q", err, tc.err)
			case !reflect.DeepEqual(got, tc.want):
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("UsageExit", func(t *testing.T) { // before anything is opened
		var stderr strings.Builder
		data := filepath.Join(t.TempDir(), "data")
		code := Main{Stdout: io.Discard, Stderr: &stderr}.Run(context.Background(), []string{"serve", "--data", data, "--node", "1"})
		if code != ExitUsage || !strings.Contains(stderr.String(), "--node needs --cluster") {
			t.Errorf("exit %d, %q; want %d and the reason", code, stderr.String(), ExitUsage)
		}
		if _, err := os.Stat(data); err == nil {
			t.Errorf("a usage error created the data folder")
		}
	})
}

// TestServe_ClusterFlagsFromEnvironment: every cluster flag has its KAQUAN_ variable, and a flag
// on the command line wins.
func TestServe_ClusterFlagsFromEnvironment(t *testing.T) {
	t.Setenv("KAQUAN_CLUSTER", "127.0.0.1:8070,127.0.0.1:8072")
	t.Setenv("KAQUAN_NODE", "1")
	t.Setenv("KAQUAN_SLOTS", "16")
	t.Setenv("KAQUAN_CLUSTER_NAME", "west")
	t.Setenv("KAQUAN_HEALTH_PORT_OFFSET", "3")
	got, err := parseClusterFlags(t, nil)
	want := &kaquan.ClusterOptions{Node: 1, Nodes: 2, Slots: 16, Peers: []string{"127.0.0.1:8070", "127.0.0.1:8072"}, Name: "west", HealthPortOffset: 3}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("from the environment: %+v, %v; want %+v", got, err, want)
	}
	got, err = parseClusterFlags(t, []string{"--node", "0", "--slots", "8"})
	want.Node, want.Slots = 0, 8
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("flags over the environment: %+v, %v; want %+v", got, err, want)
	}
	t.Setenv("KAQUAN_CLUSTER", "")
	if _, err := parseClusterFlags(t, nil); err == nil || !strings.Contains(err.Error(), "needs --cluster") {
		t.Fatalf("KAQUAN_NODE without a cluster: %v", err)
	}
}

// parseClusterFlags parses args with serve's cluster flags.
func parseClusterFlags(t *testing.T, args []string) (*kaquan.ClusterOptions, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cf := addClusterFlags(fs)
	if err := parse(fs, args); err != nil {
		t.Fatal(err)
	}
	return cf.options(fs)
}

// TestServe_ClusterLayoutRefused starts node 0 of 3 with 64 slots, stops it, and restarts it with
// 32 slots, as another node and as a single node: each is refused, naming the layout.
func TestServe_ClusterLayoutRefused(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	peers := strings.Join(loopbackAddrs(t, 3), ",")
	lines, stop := startServeLines(t, data, 1, "--cluster", peers, "--node", "0", "--slots", "64")
	if !strings.HasPrefix(lines[0], "kaquan serving on ") {
		t.Fatalf("serve printed %q", lines[0])
	}
	if code := stop(); code != ExitOK {
		t.Fatalf("serve exit %d", code)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"OtherSlots", []string{"--cluster", peers, "--node", "0", "--slots", "32"}, "the folder is node 0 of 3, 64 slots, the options say node 0 of 3, 32 slots"},
		{"OtherNode", []string{"--cluster", peers, "--node", "1"}, "the folder is node 0 of 3, 64 slots, the options say node 1 of 3, 64 slots"},
		{"SingleNode", nil, "the folder is node 0 of 3, 64 slots; open it with Options.Cluster"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			args := append([]string{"serve", "--data", data, "--listen", "127.0.0.1:0", "--admin-token", testAdminToken}, tc.args...)
			code := Main{Stdout: io.Discard, Stderr: &stderr}.Run(context.Background(), args)
			if code != ExitFailure || !strings.Contains(stderr.String(), "cluster layout mismatch") || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d: %s\nwant exit %d naming the layout: %s", code, stderr.String(), ExitFailure, tc.want)
			}
		})
	}
	// The right layout still opens.
	lines, stop = startServeLines(t, data, 1, "--cluster", peers, "--node", "0", "--slots", "64")
	if code := stop(); code != ExitOK || !strings.HasPrefix(lines[0], "kaquan serving on ") {
		t.Fatalf("restart with the folder's layout: %q, exit %d", lines[0], code)
	}
}

// TestCluster_UpUsage: bad cluster up flags are usage errors, before anything starts.
func TestCluster_UpUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage: kaquan cluster up"},
		{[]string{"down"}, "usage: kaquan cluster up"},
		{[]string{"up", "--nodes", "0"}, "--nodes 0 outside 1..256"},
		{[]string{"up", "--nodes", "257"}, "--nodes 257 outside"},
		{[]string{"up", "--listen", "127.0.0.1:0"}, "with a port above 0"},
		{[]string{"up", "--listen", "7070"}, "want HOST:PORT"},
		{[]string{"up", "--listen", "127.0.0.1:64600"}, "port too high for 3 nodes"},
		{[]string{"up", "--slots", "2"}, "Cluster.Nodes 3"},
		{[]string{"up", "--stop-timeout", "0s"}, "above 0"},
		{[]string{"up", "stray"}, "unexpected arguments"},
	} {
		var stderr strings.Builder
		data := filepath.Join(t.TempDir(), "c")
		args := append([]string{"cluster"}, tc.args...)
		if len(tc.args) > 0 && tc.args[0] == "up" {
			args = append(args, "--data", data)
		}
		code := Main{Stdout: io.Discard, Stderr: &stderr}.Run(context.Background(), args)
		if code != ExitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want %d with %q", tc.args, code, stderr.String(), ExitUsage, tc.want)
		}
		if _, err := os.Stat(data); err == nil {
			t.Errorf("%v: a usage error created the folder", tc.args)
		}
	}
}

// loopbackAddrs are n free loopback addresses (free now).
func loopbackAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, ln.Addr().String())
		defer ln.Close()
	}
	return addrs
}

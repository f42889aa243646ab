package rke

import (
	"context"
	"net"
	"testing"

	"github.com/rancher/rke/hosts"
	"github.com/rancher/rke/types"
)

func TestPortDialer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	host := &hosts.Host{RKEConfigNode: types.RKEConfigNode{Address: "127.0.0.1"}}

	t.Run("direct", func(t *testing.T) {
		nd, _ := newNodeDialers(context.Background(), Dialers{Docker: refuse}, nil)
		dial, _ := nd.portFactory(host)
		conn, err := dial("tcp", "localhost:"+port) // a health check's target
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
	})
	t.Run("through the node", func(t *testing.T) {
		var gotAddress, gotTarget string
		through := func(_ context.Context, address, target string) (net.Conn, error) {
			gotAddress, gotTarget = address, target
			return net.Dial("tcp", l.Addr().String())
		}
		nd, _ := newNodeDialers(context.Background(), Dialers{Docker: refuse, Port: through}, nil)
		dial, _ := nd.portFactory(host)
		conn, err := dial("tcp", "localhost:10248")
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
		if gotAddress != "127.0.0.1" || gotTarget != "localhost:10248" {
			t.Errorf("dialed %s from %s, want localhost:10248 from the node", gotTarget, gotAddress)
		}
	})
}

func TestFromOutside(t *testing.T) {
	for target, want := range map[string]string{
		"localhost:6443":     "192.168.10.10:6443",
		"127.0.0.1:10248":    "192.168.10.10:10248",
		"[::1]:10256":        "192.168.10.10:10256",
		"192.168.10.11:2379": "192.168.10.11:2379",
		"garbage":            "garbage",
	} {
		if got := fromOutside("192.168.10.10", target); got != want {
			t.Errorf("fromOutside(%s) = %s, want %s", target, got, want)
		}
	}
}

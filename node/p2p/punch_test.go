package p2p

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"
)

// fakeConn is a connection with only an address, a direction and an
// opening time.
type fakeConn struct {
	network.Conn
	addr ma.Multiaddr
	stat network.ConnStats
}

func (c fakeConn) RemoteMultiaddr() ma.Multiaddr { return c.addr }
func (c fakeConn) Stat() network.ConnStats       { return c.stat }

func TestRelayedOnly(t *testing.T) {
	t0 := time.Now()
	circuit := ma.StringCast("/ip4/11.201.0.10/tcp/4101/p2p/12D3KooWEZr7nVQoCqnm3jhCyhviRN4aADrC2tEApBtk8wwSedTt/p2p-circuit")
	direct := ma.StringCast("/ip4/11.201.0.100/tcp/4101")
	conn := func(a ma.Multiaddr, dir network.Direction, opened time.Time) network.Conn {
		return fakeConn{addr: a, stat: network.ConnStats{Stats: network.Stats{Direction: dir, Opened: opened}}}
	}
	for _, c := range []struct {
		name   string
		conns  []network.Conn
		ok     bool
		opened time.Time
	}{
		{"none", nil, false, time.Time{}},
		{"relayed, dialed", []network.Conn{conn(circuit, network.DirOutbound, t0)}, true, t0},
		{"relayed, received", []network.Conn{conn(circuit, network.DirInbound, t0)}, false, time.Time{}},
		{"two relayed, the older received", []network.Conn{
			conn(circuit, network.DirOutbound, t0.Add(time.Second)), conn(circuit, network.DirInbound, t0)}, true, t0},
		{"relayed and direct", []network.Conn{
			conn(circuit, network.DirOutbound, t0), conn(direct, network.DirInbound, t0)}, false, time.Time{}},
	} {
		circuits, opened, ok := relayedOnly(c.conns)
		if ok != c.ok || (ok && (!opened.Equal(c.opened) || len(circuits) != len(c.conns))) {
			t.Errorf("%s: relayed only %v, opened %v, %d circuits; want %v, %v", c.name, ok, opened, len(circuits), c.ok, c.opened)
		}
	}
}

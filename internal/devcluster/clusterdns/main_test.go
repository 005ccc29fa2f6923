package main

import (
	"encoding/binary"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// query is a DNS query for name of type qtype.
func query(name string, qtype uint16) []byte {
	q := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		q = append(q, byte(len(l)))
		q = append(q, l...)
	}
	return append(q, 0, byte(qtype>>8), byte(qtype), 0, 1)
}

// parse returns the rcode and the A records of a response to query q.
func parse(t *testing.T, q, r []byte) (int, []string) {
	t.Helper()
	if len(r) < len(q) || r[0] != q[0] || r[1] != q[1] || r[2]&0x80 == 0 {
		t.Fatalf("not a response to the query: %x", r)
	}
	n := int(binary.BigEndian.Uint16(r[6:8]))
	var ips []string
	i := len(q)
	for k := 0; k < n; k++ {
		if i+16 > len(r) || r[i] != 0xc0 {
			t.Fatalf("answer %d malformed: %x", k, r[i:])
		}
		ips = append(ips, net.IP(r[i+12:i+16]).String())
		i += 16
	}
	return int(r[3] & 0x0f), ips
}

func TestAnswer(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		switch r.URL.RequestURI() {
		case "/api/v1/namespaces/store-shop/services/shop-server":
			w.Write([]byte(`{"spec":{"clusterIPs":["10.0.0.7"]}}`))
		case "/api/v1/namespaces/store-shop/services/shop-postgres":
			w.Write([]byte(`{"spec":{"clusterIPs":["None"]}}`))
		case "/apis/discovery.k8s.io/v1/namespaces/store-shop/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dshop-postgres":
			w.Write([]byte(`{"items":[{"endpoints":[
				{"addresses":["10.89.0.11"],"hostname":"shop-postgres-0","conditions":{"ready":true}},
				{"addresses":["10.89.0.12"],"hostname":"shop-postgres-1","conditions":{"ready":false}}]}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	api, token, *server, *upstream = srv.Client(), "tok", srv.URL, ""
	for _, c := range []struct {
		name  string
		qtype uint16
		rcode int
		ips   string
	}{
		{"shop-server.store-shop.svc.cluster.local.", typeA, rcodeOK, "10.0.0.7"},
		{"SHOP-server.store-shop.svc.cluster.local", typeA, rcodeOK, "10.0.0.7"},
		{"shop-server.store-shop.svc.cluster.local.", 28, rcodeOK, ""}, // AAAA: the name exists, no IPv6
		{"shop-postgres.store-shop.svc.cluster.local.", typeA, rcodeOK, "10.89.0.11"},
		{"shop-postgres-0.shop-postgres.store-shop.svc.cluster.local.", typeA, rcodeOK, "10.89.0.11"},
		{"shop-postgres-1.shop-postgres.store-shop.svc.cluster.local.", typeA, rcodeNX, ""},
		{"nothing.store-shop.svc.cluster.local.", typeA, rcodeNX, ""},
		{"shop-server.store-shop.svc.cluster.local.store-shop.svc.cluster.local.", typeA, rcodeNX, ""},
		{"cluster.local.", typeA, rcodeNX, ""},
		{"example.com.", typeA, rcodeFail, ""}, // no upstream here
	} {
		q := query(c.name, c.qtype)
		r := answer(q, "udp")
		rcode, ips := parse(t, q, r)
		if rcode != c.rcode || strings.Join(ips, ",") != c.ips {
			t.Errorf("%s (type %d): rcode %d, %v; want %d, %s", c.name, c.qtype, rcode, ips, c.rcode, c.ips)
		}
	}
	// Not a query: dropped.
	if r := answer([]byte{1, 2, 0x80}, "udp"); r != nil {
		t.Errorf("answered %x", r)
	}
}

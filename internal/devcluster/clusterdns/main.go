// cluster-dns: the DNS server of storeops' real development node (see
// internal/devcluster/clusterdns.go). Standard library only.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

var (
	listen    = flag.String("listen", "", "address to serve on (UDP and TCP), e.g. 10.89.0.1:53")
	server    = flag.String("server", "", "API server URL")
	caFile    = flag.String("ca", "", "API server CA certificate")
	tokenFile = flag.String("token-file", "", "bearer token file")
	domain    = flag.String("domain", "cluster.local", "cluster domain")
	upstream  = flag.String("upstream", "", "resolver of other names (default: the first nameserver of /etc/resolv.conf)")
)

var api *http.Client
var token string

const (
	typeA     = 1
	rcodeOK   = 0
	rcodeFail = 2
	rcodeNX   = 3
	ttl       = 5
)

func main() {
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	ca, err := os.ReadFile(*caFile)
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	tok, err := os.ReadFile(*tokenFile)
	if err != nil {
		log.Fatal(err)
	}
	token = strings.TrimSpace(string(tok))
	api = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if *upstream == "" {
		*upstream = hostResolver()
	}
	pc, err := net.ListenPacket("udp4", *listen)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp4", *listen)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("serving %s on %s, other names through %s", *domain, *listen, *upstream)
	go serveTCP(ln)
	buf := make([]byte, 4096)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			log.Fatal(err)
		}
		q := append([]byte(nil), buf[:n]...)
		go func() {
			if resp := answer(q, "udp"); resp != nil {
				_, _ = pc.WriteTo(resp, addr)
			}
		}()
	}
}

func serveTCP(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			var l [2]byte
			if _, err := io.ReadFull(c, l[:]); err != nil {
				return
			}
			q := make([]byte, binary.BigEndian.Uint16(l[:]))
			if _, err := io.ReadFull(c, q); err != nil {
				return
			}
			resp := answer(q, "tcp")
			if resp == nil {
				return
			}
			binary.BigEndian.PutUint16(l[:], uint16(len(resp)))
			_, _ = c.Write(append(l[:], resp...))
		}()
	}
}

func hostResolver() string {
	b, _ := os.ReadFile("/etc/resolv.conf")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			return net.JoinHostPort(f[1], "53")
		}
	}
	return ""
}

// answer returns the response to the query q, or nil to drop it.
func answer(q []byte, network string) []byte {
	if len(q) < 12 || q[2]&0x80 != 0 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil
	}
	name, end, ok := question(q)
	if !ok {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[end-4 : end-2])
	lower := strings.ToLower(strings.TrimSuffix(name, "."))
	zone := "." + *domain
	if !strings.HasSuffix(lower, zone) && lower != *domain {
		return forward(q, network)
	}
	ips, err := lookup(strings.TrimSuffix(lower, zone))
	switch {
	case err != nil:
		log.Printf("%s: %v", lower, err)
		return reply(q, end, rcodeFail, nil)
	case ips == nil:
		return reply(q, end, rcodeNX, nil)
	case qtype != typeA:
		return reply(q, end, rcodeOK, nil) // the name exists, with IPv4 addresses only
	default:
		return reply(q, end, rcodeOK, ips)
	}
}

// question parses the question of q: its name and where it ends.
func question(q []byte) (string, int, bool) {
	var labels []string
	i := 12
	for {
		if i >= len(q) {
			return "", 0, false
		}
		l := int(q[i])
		if l == 0 {
			i++
			break
		}
		if l&0xc0 != 0 || i+1+l > len(q) {
			return "", 0, false
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+4 > len(q) {
		return "", 0, false
	}
	return strings.Join(labels, ".") + ".", i + 4, true
}

func reply(q []byte, end, rcode int, ips []net.IP) []byte {
	r := make([]byte, 12, end+16*len(ips))
	copy(r, q[:2])
	r[2] = 0x84 | q[2]&0x79 // QR, AA, the query's opcode and RD
	r[3] = 0x80 | byte(rcode)
	binary.BigEndian.PutUint16(r[4:], 1)
	binary.BigEndian.PutUint16(r[6:], uint16(len(ips)))
	r = append(r, q[12:end]...)
	for _, ip := range ips {
		r = append(r, 0xc0, 12, 0, typeA, 0, 1, 0, 0, 0, ttl, 0, 4)
		r = append(r, ip.To4()...)
	}
	return r
}

func forward(q []byte, network string) []byte {
	if *upstream == "" {
		_, end, _ := question(q)
		return reply(q, end, rcodeFail, nil)
	}
	c, err := net.DialTimeout(network, *upstream, 2*time.Second)
	if err != nil {
		return nil
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(4 * time.Second))
	if network == "tcp" {
		var l [2]byte
		binary.BigEndian.PutUint16(l[:], uint16(len(q)))
		if _, err := c.Write(append(l[:], q...)); err != nil {
			return nil
		}
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return nil
		}
		resp := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, resp); err != nil {
			return nil
		}
		return resp
	}
	if _, err := c.Write(q); err != nil {
		return nil
	}
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

var errNotFound = errors.New("not found")

// lookup returns the addresses of a name inside the cluster domain, nil if
// there is no such name.
func lookup(name string) ([]net.IP, error) {
	parts := strings.Split(name, ".")
	var host, svc, ns string
	switch {
	case len(parts) == 3 && parts[2] == "svc":
		svc, ns = parts[0], parts[1]
	case len(parts) == 4 && parts[3] == "svc":
		host, svc, ns = parts[0], parts[1], parts[2]
	default:
		return nil, nil
	}
	var s struct {
		Spec struct {
			ClusterIPs []string `json:"clusterIPs"`
		} `json:"spec"`
	}
	if err := get("/api/v1/namespaces/"+url.PathEscape(ns)+"/services/"+url.PathEscape(svc), &s); err != nil {
		if errors.Is(err, errNotFound) {
			return nil, nil
		}
		return nil, err
	}
	ips := []net.IP{}
	if host == "" && len(s.Spec.ClusterIPs) > 0 && s.Spec.ClusterIPs[0] != "None" {
		for _, a := range s.Spec.ClusterIPs {
			if ip := net.ParseIP(a).To4(); ip != nil {
				ips = append(ips, ip)
			}
		}
		return ips, nil
	}
	var slices struct {
		Items []struct {
			Endpoints []struct {
				Addresses  []string `json:"addresses"`
				Hostname   string   `json:"hostname"`
				Conditions struct {
					Ready *bool `json:"ready"`
				} `json:"conditions"`
			} `json:"endpoints"`
		} `json:"items"`
	}
	sel := url.QueryEscape("kubernetes.io/service-name=" + svc)
	if err := get("/apis/discovery.k8s.io/v1/namespaces/"+url.PathEscape(ns)+"/endpointslices?labelSelector="+sel, &slices); err != nil {
		return nil, err
	}
	for _, sl := range slices.Items {
		for _, e := range sl.Endpoints {
			if (e.Conditions.Ready != nil && !*e.Conditions.Ready) || (host != "" && e.Hostname != host) {
				continue
			}
			for _, a := range e.Addresses {
				if ip := net.ParseIP(a).To4(); ip != nil {
					ips = append(ips, ip)
				}
			}
		}
	}
	if len(ips) == 0 {
		return nil, nil
	}
	return ips, nil
}

func get(path string, v any) error {
	req, err := http.NewRequest(http.MethodGet, strings.TrimSuffix(*server, "/")+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := api.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return errNotFound
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

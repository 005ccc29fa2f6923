package devcluster

import _ "embed"

// ClusterDNS is the file name of the real node's DNS server in NodeBinDir.
// The kubelet gives pods RealNodeIP as their nameserver and ClusterDomain
// as their search domain, as a cluster with CoreDNS would: the server
// answers A queries for <service>.<namespace>.svc.cluster.local with the
// Service's ClusterIP (a headless Service: the ready addresses of its
// EndpointSlices, and <hostname>.<service>.<namespace>.svc.cluster.local
// for each of them), asking the API server at each query, and forwards
// every other name to the host's resolver.
const (
	ClusterDNS    = "cluster-dns"
	ClusterDomain = "cluster.local"
)

// clusterDNSSource is the DNS server: a standard-library program, built
// static like pause.
//
//go:embed clusterdns/main.go
var clusterDNSSource string

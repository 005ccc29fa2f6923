package devcluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Files in the state directory written by writePKI.
const (
	caCertFile      = "pki/ca.crt"
	caKeyFile       = "pki/ca.key"
	servingCertFile = "pki/apiserver.crt"
	servingKeyFile  = "pki/apiserver.key"
	saKeyFile       = "pki/sa.key"
	saPubFile       = "pki/sa.pub"
	tokenFile       = "pki/tokens.csv"
)

// Users of the token file. Every component authenticates with its own
// token as a member of system:masters; only the admin token is handed out.
var tokenUsers = []string{"admin", "kube-controller-manager", "kube-scheduler", "kwok"}

// ensurePKI writes a CA, a serving certificate for 127.0.0.1 and localhost,
// a service-account signing key and a token file into dir, unless they are
// there from an earlier run. It returns the tokens by user.
func ensurePKI(dir string) (map[string]string, error) {
	if _, err := os.Stat(filepath.Join(dir, tokenFile)); err == nil {
		return readTokens(filepath.Join(dir, tokenFile))
	}
	if err := os.MkdirAll(filepath.Join(dir, "pki"), 0o700); err != nil {
		return nil, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "storeops-devcluster-ca"},
		NotBefore:             now,
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now,
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.ParseIP("10.96.0.1")},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		caCertFile:      pemBlock("CERTIFICATE", caDER),
		servingCertFile: pemBlock("CERTIFICATE", srvDER),
		saKeyFile:       pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(saKey)),
		saPubFile:       pemBlock("PUBLIC KEY", saPub),
	}
	for name, key := range map[string]*ecdsa.PrivateKey{caKeyFile: caKey, servingKeyFile: srvKey} {
		der, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, err
		}
		files[name] = pemBlock("EC PRIVATE KEY", der)
	}
	tokens := map[string]string{}
	var csv strings.Builder
	for _, user := range tokenUsers {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		tokens[user] = hex.EncodeToString(b)
		fmt.Fprintf(&csv, "%s,%s,%s,\"system:masters\"\n", tokens[user], user, user)
	}
	files[tokenFile] = []byte(csv.String())
	for name, data := range files {
		if name == tokenFile {
			continue // written last: its presence marks a complete PKI
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, tokenFile), files[tokenFile], 0o600); err != nil {
		return nil, err
	}
	return tokens, nil
}

func readTokens(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tokens := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Split(line, ",")
		if len(f) >= 2 {
			tokens[f[1]] = f[0]
		}
	}
	for _, u := range tokenUsers {
		if tokens[u] == "" {
			return nil, errors.New(path + ": no token for " + u)
		}
	}
	return tokens, nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

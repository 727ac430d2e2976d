// Command certgen writes a self-signed ECDSA P-256 certificate for
// 127.0.0.1 and its key, as cert.pem and key.pem in -dir, for the TLS
// listeners of bench/compare when openssl is not installed. The
// certificate is good for a week and for benchmarks only: load generators
// do not verify it.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

func main() {
	dir := flag.String("dir", ".", "directory to write cert.pem and key.pem to")
	flag.Parse()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		log.Fatal(err)
	}
	write(filepath.Join(*dir, "cert.pem"), &pem.Block{Type: "CERTIFICATE", Bytes: der})
	write(filepath.Join(*dir, "key.pem"), &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

func write(path string, b *pem.Block) {
	if err := os.WriteFile(path, pem.EncodeToMemory(b), 0o600); err != nil {
		log.Fatal(err)
	}
}

package compattests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// secPKI is a certificate authority made at test time, with the broker's
// key store and clients' certificates written as PEM files in dir. No key
// is ever committed.
type secPKI struct {
	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	CA     string // ca.pem
	Broker string // broker.pem: key and chain in one file (ssl.keystore.location)
}

func newSecPKI(t testing.TB) *secPKI {
	t.Helper()
	p := &secPKI{dir: t.TempDir()}
	p.caKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "StreamHouse test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.caCert, _ = x509.ParseCertificate(der)
	p.CA = p.write(t, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	cert, key := p.issue(t, pkix.Name{CommonName: "localhost"}, false, time.Now().Add(24*time.Hour))
	p.Broker = p.write(t, "broker.pem", append(key, cert...))
	return p
}

func (p *secPKI) write(t testing.TB, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue signs a certificate for subject valid until notAfter.
func (p *secPKI) issue(t testing.TB, subject pkix.Name, client bool, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: subject, NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// client writes a client certificate and key for subject CN=cn and returns
// their paths.
func (p *secPKI) client(t testing.TB, cn string, notAfter time.Time) (cert, key string) {
	t.Helper()
	c, k := p.issue(t, pkix.Name{CommonName: cn, OrganizationalUnit: []string{"apps"}}, true, notAfter)
	return p.write(t, cn+".crt", c), p.write(t, cn+".key", k)
}

// tlsConfig is a client TLS config trusting the CA, with the client
// certificate when cert is set.
func (p *secPKI) tlsConfig(t testing.TB, cert, key string) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(p.caCert)
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if cert != "" {
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	return cfg
}

// secBroker is the binary with named listeners.
type secBroker struct {
	*proc
	addrs map[string]string // by listener name
}

// startSecure starts the binary with the given listeners (name to
// protocol) on free loopback ports, and extra flags.
func startSecure(t testing.TB, listeners [][2]string, extra ...string) *secBroker {
	t.Helper()
	dir := t.TempDir()
	b := &secBroker{addrs: map[string]string{}}
	var ls, pm []string
	for _, l := range listeners {
		a := freePort(t)
		b.addrs[l[0]] = a
		ls = append(ls, l[0]+"://"+a)
		pm = append(pm, l[0]+":"+l[1])
	}
	args := append([]string{"--listeners=" + strings.Join(ls, ","), "--listener.security.protocol.map=" + strings.Join(pm, ","),
		"--data-dir", dir, "--log-format", "text", "--http-listen", "", "--schema-registry-listen", ""}, dfGuardArgs(extra)...)
	p := &proc{t: t, addr: b.addrs[listeners[0][0]], dir: dir, done: make(chan error, 1), logs: &syncBuffer{}}
	p.cmd = exec.Command(binary(t), args...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	b.proc = p
	for _, a := range b.addrs {
		deadline := time.Now().Add(20 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", a, 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			select {
			case err := <-p.done:
				t.Fatalf("streamhouse exited before listening: %v\n%s", err, p.logs.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("streamhouse did not listen on %s within 20s\n%s", a, p.logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return b
}

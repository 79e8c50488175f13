package auth

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
	"testing"
	"time"
)

// testCA makes a CA and certificates signed by it, at run time.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a certificate and key (PEM) for subject.
func (ca *testCA) issue(t *testing.T, subject pkix.Name, client bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// handshake runs a TLS handshake between the server config and a client
// config over a pipe, and returns the server's view.
func handshake(t *testing.T, srv, cli *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	// Loopback TCP, not net.Pipe: a pipe has no buffer, and a server
	// writing its alert while the client writes its certificate would
	// wait for the deadline.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	errc := make(chan error, 1)
	go func() {
		b, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			errc <- err
			return
		}
		defer b.Close()
		c := tls.Client(b, cli)
		errc <- c.Handshake()
		c.Close()
	}()
	a, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	s := tls.Server(a, srv)
	a.SetDeadline(time.Now().Add(5 * time.Second))
	err = s.Handshake()
	if err == nil {
		err = <-errc
	}
	return s.ConnectionState(), err
}

func TestTLSKeystoreAndReload(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	dir := t.TempDir()
	ks := filepath.Join(dir, "broker.pem")
	ts := filepath.Join(dir, "ca.pem")
	c, k := ca.issue(t, pkix.Name{CommonName: "broker-1"}, false)
	os.WriteFile(ks, append(k, c...), 0o600)
	os.WriteFile(ts, ca.pem, 0o600)
	tl, err := NewTLS(TLSSettings{KeystoreLocation: ks, TruststoreLocation: ts, ClientAuth: "required"})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	cc, ck := ca.issue(t, pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"eng"}}, true)
	clientCert, _ := tls.X509KeyPair(cc, ck)
	st, err := handshake(t, tl.Config(), &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{clientCert}})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := ParsePrincipalMappingRules("DEFAULT")
	if p, err := m.CertificatePrincipal(st.PeerCertificates[0]); err != nil || p != "User:CN=alice,OU=eng" {
		t.Fatalf("principal %q, %v", p, err)
	}
	// Without a client certificate: refused (required).
	if _, err := handshake(t, tl.Config(), &tls.Config{RootCAs: pool, ServerName: "localhost"}); err == nil {
		t.Fatal("a client without a certificate passed ssl.client.auth=required")
	}
	// A certificate from another CA: refused.
	other := newTestCA(t)
	oc, ok := other.issue(t, pkix.Name{CommonName: "mallory"}, true)
	otherCert, _ := tls.X509KeyPair(oc, ok)
	if _, err := handshake(t, tl.Config(), &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{otherCert}}); err == nil {
		t.Fatal("an untrusted client certificate was accepted")
	}
	// Renew the broker's certificate: a handshake after the once-a-second
	// check finds the file changed and serves the new one, with no call
	// to Reload.
	c2, k2 := ca.issue(t, pkix.Name{CommonName: "broker-1-renewed"}, false)
	os.WriteFile(ks, append(k2, c2...), 0o600)
	tl.mu.Lock()
	tl.checked = time.Now().Add(-2 * time.Second) // as if a second had passed
	tl.mu.Unlock()
	var seen string
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{clientCert},
		VerifyConnection: func(cs tls.ConnectionState) error { seen = cs.PeerCertificates[0].Subject.CommonName; return nil }}
	if _, err := handshake(t, tl.Config(), cfg); err != nil || seen != "broker-1-renewed" {
		t.Fatalf("after the file changed: %q, %v", seen, err)
	}
	// A broken file keeps the old certificates in service and is
	// reported.
	var reported error
	tl.OnReloadError = func(err error) { reported = err }
	os.WriteFile(ks, []byte("not PEM"), 0o600)
	tl.mu.Lock()
	tl.checked = time.Now().Add(-2 * time.Second)
	tl.mu.Unlock()
	if _, err := handshake(t, tl.Config(), cfg); err != nil || seen != "broker-1-renewed" || reported == nil {
		t.Fatalf("after a broken file: %q, %v, reported %v", seen, err, reported)
	}
}

func TestTLSEncryptedKeyFromOpenSSL(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	ca := newTestCA(t)
	dir := t.TempDir()
	c, k := ca.issue(t, pkix.Name{CommonName: "broker"}, false)
	plain := filepath.Join(dir, "key.pem")
	os.WriteFile(plain, k, 0o600)
	enc := filepath.Join(dir, "enc.pem")
	out, err := exec.Command("openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", plain, "-out", enc, "-passout", "pass:kpw").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl: %v: %s", err, out)
	}
	ek, _ := os.ReadFile(enc)
	if _, err := NewTLS(TLSSettings{KeystoreCertChain: string(c), KeystoreKey: string(ek), KeyPassword: "kpw"}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewTLS(TLSSettings{KeystoreCertChain: string(c), KeystoreKey: string(ek), KeyPassword: "wrong"}); err == nil {
		t.Fatal("a wrong ssl.key.password loaded the key")
	}
	if _, err := NewTLS(TLSSettings{KeystoreCertChain: string(c), KeystoreKey: string(ek)}); err == nil {
		t.Fatal("an encrypted key loaded without ssl.key.password")
	}
}

func TestPrincipalMappingRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rules, dn, want string
		err             bool
	}{
		{"DEFAULT", "CN=alice,OU=eng", "CN=alice,OU=eng", false},
		{"", "CN=alice", "CN=alice", false},
		{`RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT`, "CN=kafka-app,OU=ServiceUsers,O=Example", "kafka-app", false},
		{`RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT`, "CN=bob,OU=People", "CN=bob,OU=People", false},
		{`RULE:^CN=(.*?),OU=(.*?)$/$1@$2/L`, "CN=Alice,OU=ENG", "alice@eng", false},
		{`RULE:^CN=(.*?),OU=(.*?)$/$1@$2/U`, "CN=Alice,OU=eng", "ALICE@ENG", false},
		{`RULE:^cn=(.*)$/$1/`, "CN=alice", "", true},
		{`RULE:^CN=(.*)$/a\/b$1/`, "CN=x", "a/bx", false},
		{`RULE:broken`, "CN=x", "", true},
		{`NOPE`, "CN=x", "", true},
	} {
		m, err := ParsePrincipalMappingRules(tc.rules)
		var got string
		if err == nil {
			got, err = m.Map(tc.dn)
		}
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%q on %q: %q, %v; want %q (error %v)", tc.rules, tc.dn, got, err, tc.want, tc.err)
		}
	}
}

func TestTLSProtocolsAndSuites(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	c, k := ca.issue(t, pkix.Name{CommonName: "broker"}, false)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	only13, err := NewTLS(TLSSettings{KeystoreCertChain: string(c), KeystoreKey: string(k), Protocols: []string{"TLSv1.3"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handshake(t, only13.Config(), &tls.Config{RootCAs: pool, ServerName: "localhost", MaxVersion: tls.VersionTLS12}); err == nil {
		t.Fatal("a TLS 1.2 client passed ssl.enabled.protocols=TLSv1.3")
	}
	st, err := handshake(t, only13.Config(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil || st.Version != tls.VersionTLS13 {
		t.Fatalf("TLS 1.3 client: %v %x", err, st.Version)
	}
	suite := "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
	one, err := NewTLS(TLSSettings{KeystoreCertChain: string(c), KeystoreKey: string(k), Protocols: []string{"TLSv1.2"}, CipherSuites: []string{suite}})
	if err != nil {
		t.Fatal(err)
	}
	st, err = handshake(t, one.Config(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil || tls.CipherSuiteName(st.CipherSuite) != suite {
		t.Fatalf("suite %s, %v", tls.CipherSuiteName(st.CipherSuite), err)
	}
	for name, s := range map[string]TLSSettings{
		"unknown suite":       {KeystoreCertChain: string(c), KeystoreKey: string(k), CipherSuites: []string{"TLS_RSA_WITH_RC4_128_SHA"}},
		"TLSv1.1":             {KeystoreCertChain: string(c), KeystoreKey: string(k), Protocols: []string{"TLSv1.1"}},
		"no key store":        {},
		"client auth no CAs":  {KeystoreCertChain: string(c), KeystoreKey: string(k), ClientAuth: "required"},
		"truststore inline":   {KeystoreCertChain: string(c), KeystoreKey: string(k), ClientAuth: "required", TruststoreCerts: "not PEM"},
		"bad client auth":     {KeystoreCertChain: string(c), KeystoreKey: string(k), ClientAuth: "always"},
		"key without a chain": {KeystoreKey: string(k)},
	} {
		if _, err := NewTLS(s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The trust store given inline works as a file does.
	if _, err := NewTLS(TLSSettings{KeystoreCertChain: string(c), KeystoreKey: string(k), ClientAuth: "required", TruststoreCerts: string(ca.pem)}); err != nil {
		t.Fatal(err)
	}
}

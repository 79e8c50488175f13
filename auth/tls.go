package auth

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// TLSSettings are Kafka's PEM ssl.* settings of one listener.
type TLSSettings struct {
	// KeystoreLocation is a PEM file holding the private key and the
	// certificate chain (ssl.keystore.location); or KeystoreCertChain and
	// KeystoreKey hold them inline (ssl.keystore.certificate.chain,
	// ssl.keystore.key).
	KeystoreLocation  string
	KeystoreCertChain string
	KeystoreKey       string
	// KeyPassword decrypts an encrypted PKCS#8 key (ssl.key.password).
	KeyPassword string
	// TruststoreLocation (a PEM file) or TruststoreCerts (inline PEM) are
	// the CAs that client certificates must chain to.
	TruststoreLocation string
	TruststoreCerts    string
	// ClientAuth is ssl.client.auth: none, requested or required.
	ClientAuth string
	// Protocols is ssl.enabled.protocols (TLSv1.2, TLSv1.3).
	Protocols []string
	// CipherSuites is ssl.cipher.suites by IANA name (as Java names them);
	// empty: Go's defaults.
	CipherSuites []string
}

// TLS is a listener's TLS configuration whose certificates are read again
// when their files change (checked at most once a second, at a handshake),
// so that a renewed certificate is served without a restart. A file that
// fails to load keeps the previous certificates in service and the error
// is reported through OnReloadError.
type TLS struct {
	s             TLSSettings
	base          *tls.Config
	OnReloadError func(error)

	mu      sync.Mutex // guards the fields below
	cur     *tls.Config
	stamps  []fileStamp
	checked time.Time
}

type fileStamp struct {
	path string
	mod  time.Time
	size int64
}

// NewTLS checks the settings and loads the certificates.
func NewTLS(s TLSSettings) (*TLS, error) {
	if s.KeystoreLocation == "" && (s.KeystoreCertChain == "" || s.KeystoreKey == "") {
		return nil, errors.New("tls: ssl.keystore.location, or ssl.keystore.certificate.chain and ssl.keystore.key, are required")
	}
	if s.KeystoreLocation != "" && (s.KeystoreCertChain != "" || s.KeystoreKey != "") {
		return nil, errors.New("tls: ssl.keystore.location and ssl.keystore.certificate.chain/ssl.keystore.key are exclusive")
	}
	if s.TruststoreLocation != "" && s.TruststoreCerts != "" {
		return nil, errors.New("tls: ssl.truststore.location and ssl.truststore.certificates are exclusive")
	}
	// Full-size records from the first byte: the dynamic sizing that helps
	// a browser paint early only costs a broker streaming fetches.
	base := &tls.Config{MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS12, DynamicRecordSizingDisabled: true}
	for _, p := range s.Protocols {
		var v uint16
		switch p {
		case "TLSv1.2":
			v = tls.VersionTLS12
		case "TLSv1.3":
			v = tls.VersionTLS13
		default:
			return nil, fmt.Errorf("tls: ssl.enabled.protocols: %s is not served (TLSv1.2, TLSv1.3)", p)
		}
		base.MinVersion, base.MaxVersion = min(base.MinVersion, v), max(base.MaxVersion, v)
	}
	if len(s.Protocols) == 0 {
		base.MinVersion, base.MaxVersion = tls.VersionTLS12, tls.VersionTLS13
	}
	if len(s.CipherSuites) > 0 {
		byName := map[string]uint16{}
		for _, cs := range tls.CipherSuites() {
			byName[cs.Name] = cs.ID
		}
		for _, n := range s.CipherSuites {
			id, ok := byName[n]
			if !ok {
				return nil, fmt.Errorf("tls: ssl.cipher.suites: %s is not a secure suite Go serves", n)
			}
			base.CipherSuites = append(base.CipherSuites, id)
		}
	}
	switch s.ClientAuth {
	case "", "none":
		base.ClientAuth = tls.NoClientCert
	case "requested":
		base.ClientAuth = tls.VerifyClientCertIfGiven
	case "required":
		base.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, fmt.Errorf("tls: ssl.client.auth %q is not none, requested or required", s.ClientAuth)
	}
	if base.ClientAuth != tls.NoClientCert && s.TruststoreLocation == "" && s.TruststoreCerts == "" {
		return nil, errors.New("tls: ssl.client.auth " + s.ClientAuth + " needs a trust store (ssl.truststore.location or ssl.truststore.certificates)")
	}
	t := &TLS{s: s, base: base}
	cfg, stamps, err := t.load()
	if err != nil {
		return nil, err
	}
	t.cur, t.stamps, t.checked = cfg, stamps, time.Now()
	return t, nil
}

// Config returns the tls.Config to serve with: each handshake gets the
// current certificates.
func (t *TLS) Config() *tls.Config {
	return &tls.Config{
		MinVersion: t.base.MinVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.current(), nil
		},
	}
}

// Reload reads the files again now, whether or not they changed.
func (t *TLS) Reload() error {
	cfg, stamps, err := t.load()
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.cur, t.stamps, t.checked = cfg, stamps, time.Now()
	t.mu.Unlock()
	return nil
}

func (t *TLS) current() *tls.Config {
	t.mu.Lock()
	defer t.mu.Unlock()
	if time.Since(t.checked) < time.Second {
		return t.cur
	}
	t.checked = time.Now()
	changed := false
	for _, st := range t.stamps {
		fi, err := os.Stat(st.path)
		if err != nil || !fi.ModTime().Equal(st.mod) || fi.Size() != st.size {
			changed = true
			break
		}
	}
	if !changed {
		return t.cur
	}
	cfg, stamps, err := t.load()
	if err != nil {
		if t.OnReloadError != nil {
			t.OnReloadError(err)
		}
		return t.cur
	}
	t.cur, t.stamps = cfg, stamps
	return t.cur
}

func (t *TLS) load() (*tls.Config, []fileStamp, error) {
	var stamps []fileStamp
	read := func(path string) ([]byte, error) {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		stamps = append(stamps, fileStamp{path: path, mod: fi.ModTime(), size: fi.Size()})
		return b, nil
	}
	var chainPEM, keyPEM []byte
	if t.s.KeystoreLocation != "" {
		b, err := read(t.s.KeystoreLocation)
		if err != nil {
			return nil, nil, fmt.Errorf("tls: ssl.keystore.location: %w", err)
		}
		chainPEM, keyPEM = b, b
	} else {
		chainPEM, keyPEM = []byte(t.s.KeystoreCertChain), []byte(t.s.KeystoreKey)
	}
	cert, err := keyPair(chainPEM, keyPEM, t.s.KeyPassword)
	if err != nil {
		return nil, nil, err
	}
	cfg := t.base.Clone()
	cfg.Certificates = []tls.Certificate{cert}
	var trust []byte
	switch {
	case t.s.TruststoreLocation != "":
		if trust, err = read(t.s.TruststoreLocation); err != nil {
			return nil, nil, fmt.Errorf("tls: ssl.truststore.location: %w", err)
		}
	case t.s.TruststoreCerts != "":
		trust = []byte(t.s.TruststoreCerts)
	}
	if trust != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(trust) {
			return nil, nil, errors.New("tls: the trust store holds no PEM certificate")
		}
		cfg.ClientCAs = pool
	}
	return cfg, stamps, nil
}

// keyPair builds the certificate from a PEM chain and a PEM key, which
// may be an encrypted PKCS#8 key (ENCRYPTED PRIVATE KEY) when password
// is set.
func keyPair(chainPEM, keyPEM []byte, password string) (tls.Certificate, error) {
	var chain, key bytes.Buffer
	for rest := chainPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			pem.Encode(&chain, b)
		}
	}
	for rest := keyPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch b.Type {
		case "ENCRYPTED PRIVATE KEY":
			if password == "" {
				return tls.Certificate{}, errors.New("tls: the key is encrypted and ssl.key.password is not set")
			}
			der, err := decryptPKCS8(b.Bytes, []byte(password))
			if err != nil {
				return tls.Certificate{}, fmt.Errorf("tls: decrypt key: %w", err)
			}
			pem.Encode(&key, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			pem.Encode(&key, b)
		}
	}
	if chain.Len() == 0 {
		return tls.Certificate{}, errors.New("tls: the key store holds no PEM certificate")
	}
	if key.Len() == 0 {
		return tls.Certificate{}, errors.New("tls: the key store holds no PEM private key")
	}
	cert, err := tls.X509KeyPair(chain.Bytes(), key.Bytes())
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: %w", err)
	}
	return cert, nil
}

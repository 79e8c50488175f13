package main

// Client security, as Kafka's tools take it: a properties file
// (--command-config client.properties: security.protocol, sasl.mechanism,
// sasl.jaas.config or sasl.username/sasl.password, ssl.truststore.location,
// ssl.keystore.location, and librdkafka's ssl.ca.location,
// ssl.certificate.location, ssl.key.location) or flags (--security-protocol,
// --sasl-mechanism, --sasl-username, --tls-ca, --tls-cert, --tls-key); flags
// win over the file. The password comes from the file, from
// STREAMHOUSE_SASL_PASSWORD, or from a prompt on the terminal, never from a
// flag (it would show in ps).

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"golang.org/x/sys/unix"
)

const passwordEnv = "STREAMHOUSE_SASL_PASSWORD"

// secFlags are the security flags every command takes.
type secFlags struct {
	commandConfig string
	protocol      string
	mechanism     string
	username      string
	ca, cert, key string
}

// declare adds the security flags to fs, with their values so far as
// defaults (they may come before or after the command).
func (s *secFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&s.commandConfig, "command-config", s.commandConfig, "a Kafka client properties `file` (security.protocol, sasl.mechanism, sasl.jaas.config, ssl.truststore.location, ...)")
	fs.StringVar(&s.protocol, "security-protocol", s.protocol, "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
	fs.StringVar(&s.mechanism, "sasl-mechanism", s.mechanism, "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&s.username, "sasl-username", s.username, "the SASL user (password from "+passwordEnv+" or a prompt)")
	fs.StringVar(&s.ca, "tls-ca", s.ca, "PEM `file` of the CAs to trust (TLS on)")
	fs.StringVar(&s.cert, "tls-cert", s.cert, "PEM `file` of the client certificate (mTLS)")
	fs.StringVar(&s.key, "tls-key", s.key, "PEM `file` of the client key (mTLS)")
}

// secFlagNames are the names declare gives, for isGlobal.
var secFlagNames = []string{"command-config", "security-protocol", "sasl-mechanism", "sasl-username", "tls-ca", "tls-cert", "tls-key"}

// clientSecurity is what the flags and the properties file make of the
// connection's security.
type clientSecurity struct {
	protocol           string
	mechanism          string
	username, password string
	ca, cert, key      string
}

// readProperties parses a Java properties file: key=value or key: value,
// # and ! comments, blank lines; backslash line continuations are joined.
func readProperties(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	var pending string
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if pending != "" {
			line = pending + line
			pending = ""
		}
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			pending = strings.TrimSuffix(line, `\`)
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			out[line] = ""
			continue
		}
		out[strings.TrimSpace(line[:i])] = strings.TrimSpace(line[i+1:])
	}
	return out, sc.Err()
}

var jaasOption = regexp.MustCompile(`(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"`)

// parseJAAS reads username and password from a sasl.jaas.config value
// (org.apache.kafka.common.security.scram.ScramLoginModule required
// username="alice" password="...";).
func parseJAAS(v string) (user, pass string) {
	for _, m := range jaasOption.FindAllStringSubmatch(v, -1) {
		val := strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(m[2])
		switch m[1] {
		case "username":
			user = val
		case "password":
			pass = val
		}
	}
	return user, pass
}

// security resolves the connection's security from the file, the flags,
// the environment and, for a password still missing, the terminal.
func (a *app) security(getenv func(string) string) (clientSecurity, error) {
	var s clientSecurity
	f := a.sec
	if f.commandConfig != "" {
		fh, err := os.Open(f.commandConfig)
		if err != nil {
			return s, fmt.Errorf("--command-config: %w", err)
		}
		props, err := readProperties(fh)
		fh.Close()
		if err != nil {
			return s, fmt.Errorf("--command-config %s: %w", f.commandConfig, err)
		}
		s.protocol = strings.ToUpper(props["security.protocol"])
		s.mechanism = props["sasl.mechanism"]
		if s.mechanism == "" {
			s.mechanism = props["sasl.mechanisms"] // librdkafka's name
		}
		s.username, s.password = parseJAAS(props["sasl.jaas.config"])
		if v := props["sasl.username"]; v != "" {
			s.username = v
		}
		if v := props["sasl.password"]; v != "" {
			s.password = v
		}
		for _, k := range []string{"ssl.truststore.location", "ssl.ca.location"} {
			if v := props[k]; v != "" {
				s.ca = v
			}
		}
		if v := props["ssl.keystore.location"]; v != "" {
			s.cert, s.key = v, v // PEM: key and chain in one file
		}
		if v := props["ssl.certificate.location"]; v != "" {
			s.cert = v
		}
		if v := props["ssl.key.location"]; v != "" {
			s.key = v
		}
		for _, k := range []string{"ssl.truststore.type", "ssl.keystore.type"} {
			if v := props[k]; v != "" && !strings.EqualFold(v, "PEM") {
				return s, fmt.Errorf("--command-config %s: %s=%s: streamctl reads PEM only", f.commandConfig, k, v)
			}
		}
	}
	if f.protocol != "" {
		s.protocol = strings.ToUpper(f.protocol)
	}
	if f.mechanism != "" {
		s.mechanism = f.mechanism
	}
	if f.username != "" {
		s.username = f.username
	}
	if f.ca != "" {
		s.ca = f.ca
	}
	if f.cert != "" {
		s.cert = f.cert
	}
	if f.key != "" {
		s.key = f.key
	}
	if s.protocol == "" {
		s.protocol = "PLAINTEXT"
		if s.ca != "" || s.cert != "" {
			s.protocol = "SSL"
		}
		if s.username != "" {
			s.protocol = "SASL_" + map[bool]string{true: "SSL", false: "PLAINTEXT"}[s.protocol == "SSL"]
		}
	}
	switch s.protocol {
	case "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL":
	default:
		return s, fmt.Errorf("security protocol %q is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", s.protocol)
	}
	if strings.HasPrefix(s.protocol, "SASL_") {
		if s.mechanism == "" {
			s.mechanism = "SCRAM-SHA-512"
		}
		if s.username == "" {
			return s, errors.New("SASL needs a user: --sasl-username or sasl.jaas.config")
		}
		if s.password == "" {
			s.password = getenv(passwordEnv)
		}
		if s.password == "" {
			pw, err := a.promptPassword(s.username)
			if err != nil {
				return s, err
			}
			s.password = pw
		}
	}
	return s, nil
}

// promptPassword reads a password from the terminal without echo.
func (a *app) promptPassword(user string) (string, error) {
	f, ok := a.stdin.(*os.File)
	if !ok {
		return "", fmt.Errorf("no password for %s: set %s", user, passwordEnv)
	}
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", fmt.Errorf("no password for %s: set %s (standard input is not a terminal)", user, passwordEnv)
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	fmt.Fprintf(a.stderr, "Password for %s: ", user)
	line, err := bufio.NewReader(f).ReadString('\n')
	fmt.Fprintln(a.stderr)
	if err != nil && line == "" {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// opts turns the security into kgo options.
func (s clientSecurity) opts() ([]kgo.Opt, error) {
	var out []kgo.Opt
	if strings.HasSuffix(s.protocol, "SSL") {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if s.ca != "" {
			b, err := os.ReadFile(s.ca)
			if err != nil {
				return nil, fmt.Errorf("CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(b) {
				return nil, fmt.Errorf("CA file %s holds no PEM certificate", s.ca)
			}
			cfg.RootCAs = pool
		}
		if s.cert != "" || s.key != "" {
			cert, err := loadKeyPair(s.cert, s.key)
			if err != nil {
				return nil, err
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		out = append(out, kgo.DialTLSConfig(cfg))
	}
	if strings.HasPrefix(s.protocol, "SASL_") {
		var m sasl.Mechanism
		switch s.mechanism {
		case "PLAIN":
			m = plain.Auth{User: s.username, Pass: s.password}.AsMechanism()
		case "SCRAM-SHA-256":
			m = scram.Auth{User: s.username, Pass: s.password}.AsSha256Mechanism()
		case "SCRAM-SHA-512":
			m = scram.Auth{User: s.username, Pass: s.password}.AsSha512Mechanism()
		default:
			return nil, fmt.Errorf("SASL mechanism %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.mechanism)
		}
		out = append(out, kgo.SASL(m))
	}
	return out, nil
}

// loadKeyPair reads a client certificate and key, which may be one PEM
// file holding both.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	if keyFile == "" {
		keyFile = certFile
	}
	if certFile == "" {
		certFile = keyFile
	}
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("client certificate: %w", err)
	}
	var kb []byte
	if keyFile != certFile {
		if kb, err = os.ReadFile(keyFile); err != nil {
			return tls.Certificate{}, fmt.Errorf("client key: %w", err)
		}
	}
	var certs, keys []byte
	for _, b := range [][]byte{cb, kb} {
		for rest := b; ; {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			if blk.Type == "CERTIFICATE" {
				certs = append(certs, pem.EncodeToMemory(blk)...)
			} else if strings.HasSuffix(blk.Type, "PRIVATE KEY") {
				keys = append(keys, pem.EncodeToMemory(blk)...)
			}
		}
	}
	return tls.X509KeyPair(certs, keys)
}

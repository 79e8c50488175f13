package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// ParseOAuthBearerInitial returns the token of an OAUTHBEARER client
// initial response (RFC 7628 section 3.1, as Kafka's
// OAuthBearerClientInitialResponse reads it):
//
//	gs2-header %x01 "auth=Bearer " token %x01 *(key "=" value %x01) %x01
//
// The gs2 header is "n,," or "n,a=authzid,"; channel binding is refused.
func ParseOAuthBearerInitial(msg []byte) (authzid, token string, err error) {
	s := string(msg)
	if !strings.HasPrefix(s, "n,") {
		return "", "", failf("oauthbearer: bad gs2 header")
	}
	authz, rest, ok := strings.Cut(s[2:], ",")
	if !ok || authz != "" && !strings.HasPrefix(authz, "a=") {
		return "", "", failf("oauthbearer: bad gs2 header")
	}
	if !strings.HasPrefix(rest, "\x01") || !strings.HasSuffix(rest, "\x01\x01") || len(rest) < 3 {
		return "", "", failf("oauthbearer: bad key-value framing")
	}
	for _, kv := range strings.Split(rest[1:len(rest)-2], "\x01") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return "", "", failf("oauthbearer: bad key-value pair")
		}
		for i := 0; i < len(k); i++ {
			if c := k[i]; c < 'A' || c > 'Z' && c < 'a' || c > 'z' {
				return "", "", failf("oauthbearer: bad key")
			}
		}
		if k == "auth" {
			t, ok := strings.CutPrefix(v, "Bearer ")
			if !ok || token != "" || t == "" {
				return "", "", failf("oauthbearer: bad auth value")
			}
			token = t
		}
	}
	if token == "" {
		return "", "", failf("oauthbearer: no token")
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "", "", failf("oauthbearer: token is not a compact JWS")
		}
	}
	if authz != "" {
		if authzid, err = decodeSaslName(authz[2:]); err != nil {
			return "", "", failf("oauthbearer: bad authzid")
		}
	}
	return authzid, token, nil
}

// OAuthConfig is Kafka's sasl.oauthbearer.* broker settings.
type OAuthConfig struct {
	JWKSURL         string        // sasl.oauthbearer.jwks.endpoint.url: https://, http:// or file:
	Refresh         time.Duration // sasl.oauthbearer.jwks.endpoint.refresh.ms
	Audience        []string      // sasl.oauthbearer.expected.audience; empty: not checked
	Issuer          string        // sasl.oauthbearer.expected.issuer; empty: not checked
	SubClaim        string        // sasl.oauthbearer.sub.claim.name; default "sub"
	ScopeClaim      string        // sasl.oauthbearer.scope.claim.name; default "scope"
	ClockSkew       time.Duration // sasl.oauthbearer.clock.skew.seconds
	Logger          *slog.Logger
	Now             func() time.Time
	HTTPClient      *http.Client
	RefreshMissing  time.Duration // least time between refreshes for an unknown kid; default 10 s
	AlgorithmsAllow []string      // default: RS256/384/512, PS256/384/512, ES256/384/512, EdDSA
	// Unsecured accepts unsigned tokens (alg "none", empty signature), as
	// Kafka's OAuthBearerUnsecuredValidatorCallbackHandler does: for
	// development only, anyone can then log in as anyone. Their claims
	// are checked as a signed token's are. Off unless asked for.
	Unsecured bool
}

// OAuth validates OAUTHBEARER tokens: JWTs signed by a key of the JWKS
// (refreshed in the background and when a token names a key it does not
// have), with an algorithm from the allow-list (never "none", never an
// HMAC: a JWKS holds public keys, and a symmetric key taken from one would
// let anyone who can read it sign), exp required, nbf and iat honoured with
// the clock skew, and the expected audience and issuer when configured.
// Without keys it refuses every token: it fails closed.
type OAuth struct {
	cfg OAuthConfig

	mu          sync.Mutex // guards keys, fetched, lastErr
	keys        []jwk
	fetched     time.Time
	lastAttempt time.Time
	lastErr     error
}

type jwk struct {
	kid string
	alg string
	key crypto.PublicKey
}

// NewOAuth returns a validator; Start fetches the JWKS and refreshes it.
func NewOAuth(cfg OAuthConfig) (*OAuth, error) {
	if cfg.JWKSURL == "" && !cfg.Unsecured {
		return nil, errors.New("oauthbearer: sasl.oauthbearer.jwks.endpoint.url is required")
	}
	if cfg.SubClaim == "" {
		cfg.SubClaim = "sub"
	}
	if cfg.ScopeClaim == "" {
		cfg.ScopeClaim = "scope"
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Hour
	}
	if cfg.RefreshMissing <= 0 {
		cfg.RefreshMissing = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if len(cfg.AlgorithmsAllow) == 0 {
		cfg.AlgorithmsAllow = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
	}
	for _, a := range cfg.AlgorithmsAllow {
		if a == "none" || strings.HasPrefix(a, "HS") {
			return nil, fmt.Errorf("oauthbearer: algorithm %s may not be allowed", a)
		}
	}
	return &OAuth{cfg: cfg}, nil
}

// Run fetches the JWKS now and every Refresh until ctx ends. A failed
// fetch keeps the previous keys and is logged.
func (o *OAuth) Run(ctx context.Context) {
	t := time.NewTicker(o.cfg.Refresh)
	defer t.Stop()
	for {
		if err := o.Refresh(ctx); err != nil {
			o.cfg.Logger.Warn("oauthbearer: JWKS refresh failed; keeping the keys held", "url", o.cfg.JWKSURL, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Refresh fetches the JWKS once.
func (o *OAuth) Refresh(ctx context.Context) error {
	if o.cfg.JWKSURL == "" {
		return nil // unsecured only: no keys to fetch
	}
	o.mu.Lock()
	o.lastAttempt = o.cfg.Now()
	o.mu.Unlock()
	body, err := o.fetch(ctx)
	if err == nil {
		var keys []jwk
		if keys, err = ParseJWKS(body); err == nil {
			o.mu.Lock()
			o.keys, o.fetched, o.lastErr = keys, o.cfg.Now(), nil
			o.mu.Unlock()
			return nil
		}
	}
	o.mu.Lock()
	o.lastErr = err
	o.mu.Unlock()
	return err
}

func (o *OAuth) fetch(ctx context.Context) ([]byte, error) {
	u, err := url.Parse(o.cfg.JWKSURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "file" {
		return os.ReadFile(u.Path)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.cfg.JWKSURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := o.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", o.cfg.JWKSURL, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

// ParseJWKS reads the public keys of a JSON Web Key Set (RFC 7517): RSA,
// EC (P-256, P-384, P-521) and OKP (Ed25519). Symmetric ("oct") keys and
// keys for encryption only are left out.
func ParseJWKS(body []byte) ([]jwk, error) {
	var set struct {
		Keys []struct {
			Kty, Kid, Alg, Use, N, E, Crv, X, Y string
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	b64 := base64.RawURLEncoding
	var out []jwk
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Kty {
		case "RSA":
			n, err1 := b64.DecodeString(k.N)
			e, err2 := b64.DecodeString(k.E)
			if err1 != nil || err2 != nil || len(n) < 256 || len(e) == 0 || len(e) > 4 {
				continue // under 2048 bits, or malformed
			}
			var ei int
			for _, b := range e {
				ei = ei<<8 | int(b)
			}
			out = append(out, jwk{kid: k.Kid, alg: k.Alg, key: &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: ei}})
		case "EC":
			var curve elliptic.Curve
			switch k.Crv {
			case "P-256":
				curve = elliptic.P256()
			case "P-384":
				curve = elliptic.P384()
			case "P-521":
				curve = elliptic.P521()
			default:
				continue
			}
			x, err1 := b64.DecodeString(k.X)
			y, err2 := b64.DecodeString(k.Y)
			if err1 != nil || err2 != nil {
				continue
			}
			size := (curve.Params().BitSize + 7) / 8
			if len(x) != size || len(y) != size {
				continue
			}
			raw := append(append([]byte{4}, x...), y...)
			pub, err := ecdsa.ParseUncompressedPublicKey(curve, raw)
			if err != nil {
				continue
			}
			out = append(out, jwk{kid: k.Kid, alg: k.Alg, key: pub})
		case "OKP":
			x, err := b64.DecodeString(k.X)
			if k.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
				continue
			}
			out = append(out, jwk{kid: k.Kid, alg: k.Alg, key: ed25519.PublicKey(x)})
		}
	}
	return out, nil
}

// Claims are what a validated token says.
type Claims struct {
	Subject string
	Expiry  time.Time
	Scope   []string
}

// Validate checks a compact JWS and returns its principal name (the sub
// claim, or SubClaim) and its expiry.
func (o *OAuth) Validate(ctx context.Context, token string) (string, time.Time, error) {
	c, err := o.ValidateClaims(ctx, token)
	return c.Subject, c.Expiry, err
}

// ValidateClaims is Validate returning every claim it reads.
func (o *OAuth) ValidateClaims(ctx context.Context, token string) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, failf("oauthbearer: not a compact JWS")
	}
	b64 := base64.RawURLEncoding
	hdrJSON, err := b64.DecodeString(parts[0])
	if err != nil {
		return Claims{}, failf("oauthbearer: header encoding")
	}
	var hdr struct {
		Alg, Kid string
		Crit     []string
	}
	if err := json.Unmarshal(hdrJSON, &hdr); err != nil {
		return Claims{}, failf("oauthbearer: header: %v", err)
	}
	if len(hdr.Crit) > 0 {
		return Claims{}, failf("oauthbearer: critical header parameters not understood")
	}
	if o.cfg.Unsecured && hdr.Alg == "none" {
		if parts[2] != "" {
			return Claims{}, failf("oauthbearer: an unsecured token carries a signature")
		}
		return o.claimsOf(parts[1])
	}
	if !slices.Contains(o.cfg.AlgorithmsAllow, hdr.Alg) {
		return Claims{}, failf("oauthbearer: algorithm %q not allowed", hdr.Alg)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || len(sig) == 0 {
		return Claims{}, failf("oauthbearer: signature encoding")
	}
	keys := o.candidates(hdr.Kid, hdr.Alg)
	if len(keys) == 0 && hdr.Kid != "" {
		// A key rotated in since the last refresh: fetch again, at
		// most every RefreshMissing.
		o.mu.Lock()
		due := o.cfg.Now().Sub(o.lastAttempt) >= o.cfg.RefreshMissing
		o.mu.Unlock()
		if due {
			if err := o.Refresh(ctx); err != nil {
				o.cfg.Logger.Warn("oauthbearer: JWKS refresh for an unknown key failed", "kid", hdr.Kid, "err", err)
			}
			keys = o.candidates(hdr.Kid, hdr.Alg)
		}
	}
	if len(keys) == 0 {
		return Claims{}, failf("oauthbearer: no key in the JWKS for kid %q and alg %s", hdr.Kid, hdr.Alg)
	}
	signed := []byte(parts[0] + "." + parts[1])
	verified := false
	for _, k := range keys {
		if verify(hdr.Alg, k.key, signed, sig) {
			verified = true
			break
		}
	}
	if !verified {
		return Claims{}, failf("oauthbearer: signature does not verify")
	}
	return o.claimsOf(parts[1])
}

// claimsOf decodes and checks a token's payload.
func (o *OAuth) claimsOf(part string) (Claims, error) {
	payload, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return Claims{}, failf("oauthbearer: payload encoding")
	}
	var claims map[string]any
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return Claims{}, failf("oauthbearer: payload: %v", err)
	}
	return o.checkClaims(claims)
}

func (o *OAuth) candidates(kid, alg string) []jwk {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []jwk
	for _, k := range o.keys {
		if kid != "" && k.kid != kid || k.alg != "" && k.alg != alg || !keyFits(alg, k.key) {
			continue
		}
		out = append(out, k)
	}
	return out
}

func keyFits(alg string, key crypto.PublicKey) bool {
	switch key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		return strings.HasPrefix(alg, "ES")
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

func verify(alg string, key crypto.PublicKey, signed, sig []byte) bool {
	var h crypto.Hash
	switch alg[len(alg)-3:] {
	case "256":
		h = crypto.SHA256
	case "384":
		h = crypto.SHA384
	case "512":
		h = crypto.SHA512
	}
	digest := func() []byte {
		switch h {
		case crypto.SHA256:
			d := sha256.Sum256(signed)
			return d[:]
		case crypto.SHA384:
			d := sha512.Sum384(signed)
			return d[:]
		case crypto.SHA512:
			d := sha512.Sum512(signed)
			return d[:]
		}
		return nil
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if strings.HasPrefix(alg, "RS") {
			return rsa.VerifyPKCS1v15(k, h, digest(), sig) == nil
		}
		return rsa.VerifyPSS(k, h, digest(), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k, digest(), r, s)
	case ed25519.PublicKey:
		return ed25519.Verify(k, signed, sig)
	}
	return false
}

func (o *OAuth) checkClaims(c map[string]any) (Claims, error) {
	now := o.cfg.Now()
	skew := o.cfg.ClockSkew
	num := func(name string) (time.Time, bool, error) {
		v, ok := c[name]
		if !ok {
			return time.Time{}, false, nil
		}
		n, ok := v.(json.Number)
		if !ok {
			return time.Time{}, true, failf("oauthbearer: claim %s is not a number", name)
		}
		f, err := n.Float64()
		if err != nil {
			return time.Time{}, true, failf("oauthbearer: claim %s: %v", name, err)
		}
		return time.UnixMilli(int64(f * 1000)), true, nil
	}
	exp, ok, err := num("exp")
	if err != nil {
		return Claims{}, err
	}
	if !ok {
		return Claims{}, failf("oauthbearer: no exp claim")
	}
	if !now.Before(exp.Add(skew)) {
		return Claims{}, failf("oauthbearer: token expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if nbf, ok, err := num("nbf"); err != nil {
		return Claims{}, err
	} else if ok && now.Add(skew).Before(nbf) {
		return Claims{}, failf("oauthbearer: token not valid before %s", nbf.UTC().Format(time.RFC3339))
	}
	if iat, ok, err := num("iat"); err != nil {
		return Claims{}, err
	} else if ok && now.Add(skew).Before(iat) {
		return Claims{}, failf("oauthbearer: token issued in the future")
	}
	if o.cfg.Issuer != "" {
		if iss, _ := c["iss"].(string); iss != o.cfg.Issuer {
			return Claims{}, failf("oauthbearer: issuer %q is not the expected one", iss)
		}
	}
	if len(o.cfg.Audience) > 0 {
		var auds []string
		switch a := c["aud"].(type) {
		case string:
			auds = []string{a}
		case []any:
			for _, v := range a {
				if s, ok := v.(string); ok {
					auds = append(auds, s)
				}
			}
		}
		if !slices.ContainsFunc(auds, func(a string) bool { return slices.Contains(o.cfg.Audience, a) }) {
			return Claims{}, failf("oauthbearer: audience %q is not an expected one", auds)
		}
	}
	sub, _ := c[o.cfg.SubClaim].(string)
	if strings.TrimSpace(sub) == "" {
		return Claims{}, failf("oauthbearer: no %s claim", o.cfg.SubClaim)
	}
	out := Claims{Subject: sub, Expiry: exp}
	switch sc := c[o.cfg.ScopeClaim].(type) {
	case string:
		out.Scope = strings.Fields(sc)
	case []any:
		for _, v := range sc {
			if s, ok := v.(string); ok {
				out.Scope = append(out.Scope, s)
			}
		}
	}
	return out, nil
}

package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

const (
	sessionCookie = "streamhouse_console"
	csrfCookie    = "streamhouse_console_csrf"
	// maxSessions bounds the logins held at once; the least recently
	// used goes first.
	maxSessions = 1000
	// sessionMax is how long a login lasts at most, used or not.
	sessionMax = 12 * time.Hour
)

// session is a logged-in user: the Kafka client that authenticates as
// them, and the CSRF token of their forms.
type session struct {
	id      string
	user    string
	pass    string // for the schema registry's basic authentication
	csrf    string
	pool    *clientPool
	created time.Time

	last time.Time // guarded by sessions.mu
}

// sessions are the logins, by cookie value.
type sessions struct {
	mu sync.Mutex
	m  map[string]*session // guarded by mu
}

// get returns the request's session, nil when it has none or it expired.
func (ss *sessions) get(r *http.Request, idle time.Duration) *session {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	now := time.Now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[ck.Value]
	if s == nil {
		return nil
	}
	if now.Sub(s.last) > idle || now.Sub(s.created) > sessionMax {
		delete(ss.m, s.id)
		go s.pool.close()
		return nil
	}
	s.last = now
	return s
}

func (ss *sessions) add(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.m) >= maxSessions {
		var oldest *session
		for _, o := range ss.m {
			if oldest == nil || o.last.Before(oldest.last) {
				oldest = o
			}
		}
		delete(ss.m, oldest.id)
		go oldest.pool.close()
	}
	ss.m[s.id] = s
}

func (ss *sessions) remove(id string) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[id]
	delete(ss.m, id)
	return s
}

func (ss *sessions) closeAll() {
	ss.mu.Lock()
	all := ss.m
	ss.m = map[string]*session{}
	ss.mu.Unlock()
	for _, s := range all {
		s.pool.close()
	}
}

func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Login == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	c.render(w, r, nil, http.StatusOK, "login", "Log in", "", map[string]string{"Next": safeNext(r.FormValue("next"))})
}

// loginPost checks the credentials the way the broker checks any
// client's: a Kafka client authenticates with them and asks for the
// cluster's metadata.
func (c *Console) loginPost(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Login == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	user, pass := r.PostFormValue("username"), r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	if !sameOrigin(r) {
		http.Error(w, "cross-origin login refused", http.StatusForbidden)
		return
	}
	fail := func(status int, msg string) {
		c.render(w, r, nil, status, "login", "Log in", "", map[string]string{"Next": next, "Error": msg, "User": user})
	}
	if user == "" || pass == "" {
		fail(http.StatusBadRequest, "Enter a user name and a password.")
		return
	}
	pool := newClientPool(c.clientOpts(c.cfg.Login(user, pass)), c.cfg.IdleClose)
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	err := pool.do(func(adm *kadm.Client) error {
		_, err := adm.BrokerMetadata(ctx)
		return err
	})
	if err != nil {
		pool.close()
		c.log.Info("console: login failed", "user", user, "remote", r.RemoteAddr, "err", err)
		if errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.IllegalSaslState) || errors.Is(err, kerr.UnsupportedSaslMechanism) {
			fail(http.StatusUnauthorized, "Login failed: wrong user name or password.")
			return
		}
		fail(http.StatusBadGateway, "Login failed: the broker could not be reached: "+err.Error())
		return
	}
	s := &session{id: randomToken(), user: user, pass: pass, csrf: randomToken(), pool: pool, created: time.Now(), last: time.Now()}
	c.sessions.add(s)
	c.log.Info("console: login", "principal", "User:"+user, "remote", r.RemoteAddr)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.id, Path: "/", HttpOnly: true,
		Secure: c.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(sessionCookie)
	if err == nil {
		if s := c.sessions.get(r, c.cfg.SessionIdle); s != nil {
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) != 1 {
				http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
				return
			}
			c.sessions.remove(ck.Value)
			s.pool.close()
			c.log.Info("console: logout", "principal", "User:"+s.user, "remote", r.RemoteAddr)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: c.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a post-login destination on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

// anonCSRF returns the CSRF token of a browser on a console without
// login: an HMAC of a random cookie it is given on its first page, so the
// token is bound to that browser and needs no server state.
func (c *Console) anonCSRF(w http.ResponseWriter, r *http.Request) string {
	ck, err := r.Cookie(csrfCookie)
	v := ""
	if err == nil && len(ck.Value) == 43 {
		v = ck.Value
	} else {
		v = randomToken()
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", HttpOnly: true,
			Secure: c.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
		// The form of this very response must match the cookie set
		// with it.
		r.AddCookie(&http.Cookie{Name: csrfCookie, Value: v})
	}
	m := hmac.New(sha256.New, c.key[:])
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var (
	errCSRF        = &userError{http.StatusForbidden, "Refused: the form's CSRF token is missing or wrong. Reload the page and try again."}
	errCrossOrigin = &userError{http.StatusForbidden, "Refused: a change from another site."}
)

// checkCSRF refuses a change whose form does not carry the token of the
// page that showed it, or that comes from another origin.
func (c *Console) checkCSRF(r *http.Request, st *reqState) error {
	if !sameOrigin(r) {
		return errCrossOrigin
	}
	got := r.PostFormValue("csrf")
	if got == "" {
		got = r.Header.Get("X-CSRF-Token")
	}
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(st.csrf)) != 1 {
		return errCSRF
	}
	return nil
}

// sameOrigin reports whether a request's Origin (or, without one, its
// Sec-Fetch-Site) says it comes from this site; requests without either
// (curl, older browsers) pass, the CSRF token still guards them.
func sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o) // "null" (a sandboxed or privacy-sensitive context) has no host
		return err == nil && u.Host == r.Host
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return false
	}
	return true
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

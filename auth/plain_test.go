package auth

import (
	"errors"
	"testing"
)

func TestParsePlain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, msg  string
		user, pass string
		ok         bool
	}{
		{"no authzid", "\x00alice\x00pw", "alice", "pw", true},
		{"authzid is the user", "alice\x00alice\x00pw", "alice", "pw", true},
		{"authzid of another user", "bob\x00alice\x00pw", "", "", false},
		{"empty password", "\x00alice\x00", "", "", false},
		{"empty user", "\x00\x00pw", "", "", false},
		{"two fields", "alice\x00pw", "", "", false},
		{"four fields", "\x00alice\x00pw\x00x", "", "", false},
		{"empty", "", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, user, pass, err := ParsePlain([]byte(tc.msg))
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrAuthentication) {
				t.Fatalf("err %v does not wrap ErrAuthentication", err)
			}
			if user != tc.user || pass != tc.pass {
				t.Fatalf("got %q %q", user, pass)
			}
		})
	}
}

func TestPasswords(t *testing.T) {
	t.Parallel()
	u := newUsers(t, map[string]string{"alice": "s3cret"})
	only256, err := NewRandomCredential(ScramSHA256, "pw256", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	u["carol"] = map[Mechanism]Credential{ScramSHA256: only256}
	p := &Passwords{Lookup: u.lookup, Secret: NewSecret()}
	for _, tc := range []struct {
		name, user, pass string
		ok               bool
	}{
		{"right password", "alice", "s3cret", true},
		{"SCRAM-SHA-256 credential only", "carol", "pw256", true},
		{"wrong password", "alice", "s3cret!", false},
		{"prefix of the password", "alice", "s3cre", false},
		{"empty password", "alice", "", false},
		{"unknown user", "mallory", "s3cret", false},
		{"unknown user empty password", "mallory", "", false},
		{"empty user", "", "s3cret", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Check(t.Context(), tc.user, tc.pass)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrAuthentication) {
				t.Fatalf("err %v does not wrap ErrAuthentication", err)
			}
		})
	}
}

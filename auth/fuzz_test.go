package auth

import (
	"encoding/base64"
	"strings"
	"testing"
)

// FuzzScramClientFirst: the parser never panics; what it accepts has the
// shape the RFC gives (gs2 header of "n" or "y", a non-empty user and a
// printable nonce) and re-parses the same from its parts.
func FuzzScramClientFirst(f *testing.F) {
	for _, s := range []string{"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", "y,a=bob,n=bob,r=x", "n,,n=a=2Cb,r=1,ext=v", "p=tls-unique,,n=a,r=b", "n,,m=x,n=a,r=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		cf, err := ParseClientFirst(msg)
		if err != nil {
			return
		}
		if cf.GS2Header+cf.Bare != msg {
			t.Fatalf("header %q + bare %q != %q", cf.GS2Header, cf.Bare, msg)
		}
		if cf.GS2Header[0] != 'n' && cf.GS2Header[0] != 'y' {
			t.Fatalf("flag %q accepted", cf.GS2Header)
		}
		if cf.User == "" || !printableNonce(cf.Nonce) {
			t.Fatalf("accepted user %q nonce %q", cf.User, cf.Nonce)
		}
		again := cf.GS2Header + "n=" + EncodeSaslName(cf.User) + ",r=" + cf.Nonce
		if rest := strings.TrimPrefix(cf.Bare, "n="); true {
			_, ext, _ := strings.Cut(rest, ",r=")
			if i := strings.IndexByte(ext, ','); i >= 0 {
				again += ext[i:]
			}
		}
		cf2, err := ParseClientFirst(again)
		if err != nil || cf2.User != cf.User || cf2.Nonce != cf.Nonce || cf2.AuthzID != cf.AuthzID {
			t.Fatalf("re-encoded %q: %+v, %v; first %+v", again, cf2, err, cf)
		}
	})
}

// FuzzScramClientFinal: the parser never panics; what it accepts splits
// into the part without the proof and a proof that re-encodes to what was
// sent.
func FuzzScramClientFinal(f *testing.F) {
	for _, s := range []string{"c=biws,r=abc,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "c=biws,r=a,x=y,p=AA==", "c=,r=,p="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		fm, err := ParseClientFinal(msg)
		if err != nil {
			return
		}
		if got := fm.WithoutProof + ",p=" + base64.StdEncoding.EncodeToString(fm.Proof); got != msg {
			t.Fatalf("re-encoded %q, sent %q", got, msg)
		}
		if !strings.HasPrefix(fm.WithoutProof, "c="+fm.ChannelBinding+",r="+fm.Nonce) {
			t.Fatalf("parts %+v of %q", fm, msg)
		}
	})
}

// FuzzACLFilter: ACLs and a request made from the input; the index decides
// as the scan over the ACLs (through Filter.Matches with MATCH) does.
func FuzzACLFilter(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}, "app-orders", false)
	f.Add([]byte{7, 7, 7, 1, 1, 1}, "*", true)
	f.Fuzz(func(t *testing.T, data []byte, name string, allowIfNone bool) {
		var acls []ACL
		for len(data) >= 7 {
			d := data[:7]
			data = data[7:]
			acls = append(acls, ACL{
				ResourceType: ResourceType(2 + d[0]%6),
				ResourceName: testNames[int(d[1])%len(testNames)],
				PatternType:  PatternType(3 + d[2]%2),
				Principal:    testPrincipals[int(d[3])%len(testPrincipals)],
				Host:         testHosts[int(d[4])%len(testHosts)],
				Operation:    Operation(2 + d[5]%13),
				Permission:   Permission(2 + d[6]%2),
			})
		}
		cfg := AuthorizerConfig{AllowIfNoACL: allowIfNone}
		a := NewAuthorizer(cfg)
		a.Set(acls)
		for _, p := range testPrincipals[:2] {
			for rt := ResourceTopic; rt <= ResourceUser; rt++ {
				for op := OpRead; op <= OpDescribeTokens; op++ {
					if got, want := a.Authorize(p, "10.0.0.1", op, rt, name), naiveAuthorize(cfg, acls, p, "10.0.0.1", op, rt, name); got != want {
						t.Fatalf("%s %s %s %q: index %v, scan %v", p, op, rt, name, got, want)
					}
				}
			}
		}
		// Describe with a MATCH filter returns exactly the ACLs Matches
		// selects.
		flt := Filter{ResourceType: ResourceAny, ResourceName: &name, PatternType: PatternMatch, Operation: OpAny, Permission: PermissionAny}
		n := 0
		for _, acl := range acls {
			if flt.Matches(acl) {
				n++
			}
		}
		if got := len(a.Describe(flt)); got != n {
			t.Fatalf("Describe returned %d, Matches selects %d", got, n)
		}
	})
}

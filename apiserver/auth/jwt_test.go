package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

func newKeys(t testing.TB) (*Keys, ed25519.PrivateKey) {
	t.Helper()
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return NewKeys("codequest", "codequest-api", k), k
}

func TestIssueParse(t *testing.T) {
	keys, _ := newKeys(t)
	id := uuid.New()
	tok, exp, err := keys.Issue(id, RoleInstructor, 0, map[string]string{"o1": "owner"})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(exp); d < 14*time.Minute || d > 15*time.Minute {
		t.Errorf("expires in %v", d)
	}
	c, err := keys.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != id.String() || c.Role != RoleInstructor || c.Orgs["o1"] != "owner" {
		t.Errorf("claims = %+v", c)
	}
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, &Claims{})
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["alg"] != "EdDSA" || parsed.Header["kid"] != KeyID(keys.sign.Public().(ed25519.PublicKey)) {
		t.Errorf("header = %v", parsed.Header)
	}
}

func TestParseRefuses(t *testing.T) {
	keys, _ := newKeys(t)
	other, _ := newKeys(t)
	id := uuid.New()
	good, _, _ := keys.Issue(id, RoleLearner, 0, nil)
	wrongKey, _, _ := other.Issue(id, RoleLearner, 0, nil)

	past, _ := newKeys(t)
	past.sign, past.signKID, past.verify = keys.sign, keys.signKID, keys.verify
	past.WithClock(func() time.Time { return time.Now().Add(-time.Hour) })
	expired, _, _ := past.Issue(id, RoleLearner, 0, nil)

	otherAud := NewKeys("codequest", "someone-else", keys.sign)
	wrongAud, _, _ := otherAud.Issue(id, RoleLearner, 0, nil)

	// alg: none, with this key's kid and valid claims.
	parts := strings.Split(good, ".")
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"` + keys.signKID + `","typ":"JWT"}`))
	algNone := noneHeader + "." + parts[1] + "."
	// HS256 signed with the public key as the HMAC secret (key confusion).
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": id.String(), "iss": "codequest", "aud": "codequest-api", "exp": time.Now().Add(time.Hour).Unix(), "role": "admin",
	})
	hs.Header["kid"] = keys.signKID
	confused, _ := hs.SignedString([]byte(keys.sign.Public().(ed25519.PublicKey)))
	// A valid signature over a tampered payload.
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"`+id.String()+`","role":"admin"}`)) + "." + parts[2]

	for name, tok := range map[string]string{
		"wrong key": wrongKey, "expired": expired, "alg none": algNone, "hs256 confusion": confused,
		"tampered": tampered, "wrong audience": wrongAud, "empty": "", "garbage": "a.b.c",
	} {
		if _, err := keys.Parse(tok); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRotation(t *testing.T) {
	old, oldKey := newKeys(t)
	tok, _, _ := old.Issue(uuid.New(), RoleLearner, 0, nil)
	_, newKey, _ := ed25519.GenerateKey(nil)
	rotated := NewKeys("codequest", "codequest-api", newKey, oldKey.Public().(ed25519.PublicKey))
	if _, err := rotated.Parse(tok); err != nil {
		t.Errorf("token of the retired key refused: %v", err)
	}
	fresh := NewKeys("codequest", "codequest-api", newKey)
	if _, err := fresh.Parse(tok); err == nil {
		t.Errorf("token of an unknown key accepted")
	}
}

func FuzzParse(f *testing.F) {
	keys, _ := newKeys(f)
	good, _, _ := keys.Issue(uuid.New(), RoleLearner, 0, nil)
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := keys.Parse(tok)
		if err == nil && tok != good {
			// Only a token this key signed may verify.
			if _, perr := uuid.Parse(c.Subject); perr != nil {
				t.Fatalf("accepted %q with subject %q", tok, c.Subject)
			}
			t.Fatalf("accepted a token that was not issued: %q", tok)
		}
	})
}

func TestPasswordHash(t *testing.T) {
	h := Hasher{Params: OWASPParams}
	enc, err := h.Hash("Abcdefg1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash = %s", enc)
	}
	for _, tc := range []struct {
		pw         string
		params     Argon2Params
		ok, rehash bool
	}{
		{"Abcdefg1", OWASPParams, true, false},
		{"Abcdefg2", OWASPParams, false, false},
		{"Abcdefg1", Argon2Params{MemoryKiB: 65536, Iterations: 3, Parallelism: 1, SaltLen: 16, KeyLen: 32}, true, true},
	} {
		ok, rehash, err := Hasher{Params: tc.params}.Verify(tc.pw, enc)
		if err != nil || ok != tc.ok || rehash != tc.rehash {
			t.Errorf("Verify(%q) with %+v = %v, %v, %v; want %v, %v", tc.pw, tc.params, ok, rehash, err, tc.ok, tc.rehash)
		}
	}
	if _, _, err := h.Verify("x", "$argon2i$v=19$m=1,t=1,p=1$AA$AA"); err == nil {
		t.Error("argon2i hash accepted")
	}
}

func TestPasswordPolicy(t *testing.T) {
	for pw, ok := range map[string]bool{
		"Zebra-Kettle7": true, "abcdefg1": false, "ABCDEFG1": false, "Abcdefgh": false, "Abc1": false,
		strings.Repeat("Aa1", 43): false, "Ünïcödé1x": true, "Password1": false, "Abcdefg1": false,
	} {
		if got := PasswordProblem(pw, "") == ""; got != ok {
			t.Errorf("PasswordProblem(%q) ok = %v, want %v", pw, got, ok)
		}
	}
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"a@b.co", " A@B.CO ", "x", "a@b", "\"q\"@x.io", "<a@b.co>", "Name <a@b.co>",
		"ａｄａ@example.com", "ad\u200ba@example.com", "аda@example.com", "ada@exаmple.com", "ada@bücher.de"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, ok := NormalizeEmail(s)
		if !ok {
			return
		}
		if e != strings.ToLower(e) || len(e) > 254 || !strings.Contains(e, "@") || strings.ContainsAny(e, " <>\r\n") || !isASCII(e) {
			t.Fatalf("accepted %q as %q", s, e)
		}
		if again, ok2 := NormalizeEmail(e); !ok2 || again != e {
			t.Fatalf("not idempotent: %q → %q → %q", s, e, again)
		}
	})
}

func isASCII(s string) bool {
	for _, r := range s {
		if r > 127 {
			return false
		}
	}
	return true
}

// Look-alike and invisible characters never make a second spelling of an
// address.
func TestNormalizeEmailConfusables(t *testing.T) {
	for in, want := range map[string]string{
		"Ada@Example.com":       "ada@example.com",
		"ａｄａ@example.com":       "ada@example.com",        // full-width letters fold (NFKC)
		"ada@bücher.de":         "ada@xn--bcher-kva.de",   // IDN domains in their ASCII form
		"ad\u200ba@example.com": "",                       // zero-width space: refused
		"\u0430da@example.com":  "",                       // Cyrillic a: refused
		"ada@ex\u0430mple.com":  "ada@xn--exmple-4nf.com", // a look-alike domain is visibly another
	} {
		got, ok := NormalizeEmail(in)
		if want == "" {
			if ok {
				t.Errorf("NormalizeEmail(%q) = %q, accepted", in, got)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

package token

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	secret := []byte("super-secret-jwt-token-with-at-least-32-characters")
	other := []byte("another-secret-jwt-token-with-at-least-32-chars")
	now := time.Now()
	good, _ := Sign(secret, Claims{"role": "authenticated", "sub": "u1", "exp": now.Add(time.Hour).Unix(), "aud": "authenticated"})
	v := &Verifier{Secrets: [][]byte{secret}}
	c, err := v.Verify(good)
	if err != nil || c.Role() != "authenticated" || c.Sub() != "u1" {
		t.Fatalf("good token: %v %v", c, err)
	}
	if c.Exp().Unix() != now.Add(time.Hour).Unix() {
		t.Fatalf("exp = %v", c.Exp())
	}

	expired, _ := Sign(secret, Claims{"role": "anon", "exp": now.Add(-time.Hour).Unix()})
	noExp, _ := Sign(secret, Claims{"role": "anon"})
	wrong, _ := Sign(other, Claims{"role": "anon", "exp": now.Add(time.Hour).Unix()})
	future, _ := Sign(secret, Claims{"role": "anon", "exp": now.Add(2 * time.Hour).Unix(), "nbf": now.Add(time.Hour).Unix()})
	// alg none: header {"alg":"none","typ":"JWT"}
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"role":"service_role","exp":9999999999}`)) + "."
	// HS512 signed with the right secret is still refused: alg is pinned.
	hs512 := signWith(t, "HS512", secret)
	withJKU := signJKU(t, secret)

	for name, tc := range map[string]struct {
		tok  string
		want error
	}{
		"expired":   {expired, ErrExpired},
		"no exp":    {noExp, ErrNoExpiry},
		"wrong key": {wrong, ErrSignature},
		"alg none":  {none, ErrSignature},
		"hs512":     {hs512, ErrSignature},
		"nbf":       {future, ErrClaims},
		"garbage":   {"a.b", ErrMalformed},
	} {
		if _, err := v.Verify(tc.tok); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
	// A jku header is ignored, not fetched: the token verifies on our secret alone.
	if _, err := v.Verify(withJKU); err != nil {
		t.Errorf("jku token: %v", err)
	}

	// Audience and issuer when configured.
	va := &Verifier{Secrets: [][]byte{secret}, Audience: "other"}
	if _, err := va.Verify(good); !errors.Is(err, ErrClaims) {
		t.Errorf("wrong aud: %v", err)
	}
	vi := &Verifier{Secrets: [][]byte{secret}, Issuer: "https://x"}
	if _, err := vi.Verify(good); !errors.Is(err, ErrClaims) {
		t.Errorf("wrong iss: %v", err)
	}
	// Rotation grace: both secrets accepted.
	vr := &Verifier{Secrets: [][]byte{other, secret}}
	if _, err := vr.Verify(good); err != nil {
		t.Errorf("old secret in grace: %v", err)
	}
}

func TestAPIKeyAndRef(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	k, err := APIKey(secret, "alpha", "anon", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if UnverifiedRef(k) != "alpha" {
		t.Fatalf("ref = %q", UnverifiedRef(k))
	}
	c, err := (&Verifier{Secrets: [][]byte{secret}}).Verify(k)
	if err != nil || c.Role() != "anon" || c.Ref() != "alpha" || c["iss"] != "madbase" {
		t.Fatalf("%v %v", c, err)
	}
	if UnverifiedRef("x.y.z") != "" || UnverifiedRef("nope") != "" {
		t.Fatal("garbage has a ref")
	}
	p := NewOpaqueKey(PublishablePrefix)
	if !IsOpaque(p) || len(p) != len(PublishablePrefix)+32 || IsOpaque(k) {
		t.Fatalf("opaque key %q", p)
	}
}

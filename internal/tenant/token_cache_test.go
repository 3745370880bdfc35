package tenant

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/token"
)

func cacheProject() *control.Project {
	return &control.Project{Ref: "alpha", Status: control.StatusActive, JWTSecret: "secret-a-0123456789-0123456789-01"}
}

func sign(t *testing.T, secret string, c token.Claims) string {
	t.Helper()
	tok, err := token.Sign([]byte(secret), c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func userClaims(exp time.Time) token.Claims {
	return token.Claims{"role": "authenticated", "sub": "u1", "ref": "alpha", "exp": exp.Unix()}
}

func wantUnauthorized(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: accepted", what)
	}
	if e := httpx.As(err); e.Status != http.StatusUnauthorized {
		t.Fatalf("%s: %v, want 401", what, err)
	}
}

func TestTokenCacheServesRepeatsAndNeverAnotherSignature(t *testing.T) {
	c := newTokenCache()
	p := cacheProject()
	tok := sign(t, p.JWTSecret, userClaims(time.Now().Add(time.Hour)))
	v1, err := c.verify(p, tok)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := c.verify(p, tok)
	if err != nil || v2 != v1 {
		t.Fatalf("second verify: %p %v, want the cached %p", v2, err, v1)
	}
	if v1.json != v1.claims.JSON() || v1.claims.Sub() != "u1" {
		t.Fatalf("cached entry: %s %v", v1.json, v1.claims)
	}
	// The same claims signed with another key, and the cached token with its
	// signature altered, are verified in full and refused.
	forged := sign(t, "another-secret-0123456789-0123456789", userClaims(time.Now().Add(time.Hour)))
	_, err = c.verify(p, forged)
	wantUnauthorized(t, err, "token signed with a wrong key")
	sig := []byte(tok)
	sig[len(sig)-2] ^= 1
	_, err = c.verify(p, string(sig))
	wantUnauthorized(t, err, "altered signature")
	// Refusals are not remembered: the forged token stays refused.
	_, err = c.verify(p, forged)
	wantUnauthorized(t, err, "token signed with a wrong key, again")
	if n := len(c.projects["alpha"].tokens); n != 1 {
		t.Fatalf("%d cached tokens, want 1", n)
	}
}

func TestTokenCacheRespectsExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTokenCache()
		p := cacheProject()
		tok := sign(t, p.JWTSecret, userClaims(time.Now().Add(2*time.Second)))
		if _, err := c.verify(p, tok); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if _, err := c.verify(p, tok); err != nil {
			t.Fatalf("before exp: %v", err)
		}
		time.Sleep(time.Second) // now == exp: expired for the verifier too
		_, err := c.verify(p, tok)
		wantUnauthorized(t, err, "expired token")
		if !errors.Is(err, token.ErrExpired) {
			t.Fatalf("err = %v, want token.ErrExpired", err)
		}
	})
}

func TestTokenCacheKeyRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTokenCache()
		p := cacheProject()
		tok := sign(t, p.JWTSecret, userClaims(time.Now().Add(time.Hour)))
		if _, err := c.verify(p, tok); err != nil {
			t.Fatal(err)
		}
		// Rotation with a grace window: the old token verifies until the
		// window ends, not until its own exp.
		rotated := *p
		rotated.JWTSecret, rotated.OldJWTSecret, rotated.OldJWTSecretUntil = "secret-b-0123456789-0123456789-01", p.JWTSecret, time.Now().Add(10*time.Second)
		if _, err := c.verify(&rotated, tok); err != nil {
			t.Fatalf("in the grace window: %v", err)
		}
		time.Sleep(9 * time.Second)
		if _, err := c.verify(&rotated, tok); err != nil {
			t.Fatalf("in the grace window: %v", err)
		}
		time.Sleep(time.Second)
		_, err := c.verify(&rotated, tok)
		wantUnauthorized(t, err, "old-secret token after the grace window")
		// Rotation without a grace window refuses the old token at once.
		if _, err := c.verify(p, tok); err != nil {
			t.Fatal(err)
		}
		hard := *p
		hard.JWTSecret = "secret-c-0123456789-0123456789-01"
		_, err = c.verify(&hard, tok)
		wantUnauthorized(t, err, "token of the replaced secret")
	})
}

func TestTokenCacheProjectSettingsChange(t *testing.T) {
	c := newTokenCache()
	p := cacheProject()
	tok := sign(t, p.JWTSecret, userClaims(time.Now().Add(time.Hour)))
	if _, err := c.verify(p, tok); err != nil {
		t.Fatal(err)
	}
	strict := *p
	strict.Settings = map[string]json.RawMessage{"jwt": json.RawMessage(`{"aud":"authenticated"}`)}
	_, err := c.verify(&strict, tok)
	wantUnauthorized(t, err, "token without the now required aud")
	// Another project with the same secret does not see alpha's entries.
	beta := *p
	beta.Ref = "beta"
	_, err = c.verify(&beta, tok)
	wantUnauthorized(t, err, "alpha's token at beta")
	// Invalidate empties the cache.
	if _, err := c.verify(p, tok); err != nil {
		t.Fatal(err)
	}
	c.drop("alpha")
	if c.projects["alpha"] != nil {
		t.Fatal("drop kept alpha's tokens")
	}
}

func TestTokenCacheIsBounded(t *testing.T) {
	c := newTokenCache()
	p := cacheProject()
	exp := time.Now().Add(time.Hour)
	for i := range tokenCacheSize + 100 {
		cl := userClaims(exp)
		cl["sub"] = fmt.Sprint(i)
		if _, err := c.verify(p, sign(t, p.JWTSecret, cl)); err != nil {
			t.Fatal(err)
		}
		if n := len(c.projects["alpha"].tokens); n > tokenCacheSize {
			t.Fatalf("%d cached tokens, bound is %d", n, tokenCacheSize)
		}
	}
}

func TestTokenCacheOpaqueKeysAreNotCached(t *testing.T) {
	c := newTokenCache()
	p := cacheProject()
	p.PublishableKey = token.NewOpaqueKey(token.PublishablePrefix)
	v, err := c.verify(p, p.PublishableKey)
	if err != nil || v.claims.Role() != RoleAnon {
		t.Fatalf("publishable key: %v %v", v, err)
	}
	_, err = c.verify(p, token.NewOpaqueKey(token.PublishablePrefix))
	wantUnauthorized(t, err, "unknown sb_ key")
	if len(c.projects) != 0 {
		t.Fatal("opaque keys were cached")
	}
}

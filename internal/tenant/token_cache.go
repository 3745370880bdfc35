package tenant

import (
	"sync"
	"time"

	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/token"
)

// tokenCacheSize bounds the verified JWTs remembered per project.
const tokenCacheSize = 1024

// tokenCache remembers the claims of JWTs that verified against a project.
// supabase-js sends the same apikey (and the same session token) with every
// request; verifying it costs an HMAC, base64 and two JSON decodes each time,
// and encoding its claims for the transaction prelude another. An entry is
// keyed by the exact token string and only successful verifications are
// stored, so a token with another signature or payload is always verified in
// full. Entries are served only while the token is still unexpired and the
// project's verification inputs (secrets, grace window, aud/iss settings) are
// the ones it was verified with; any change to them empties the project's
// entries.
type tokenCache struct {
	mu       sync.Mutex
	projects map[string]*projectTokens
}

type projectTokens struct {
	in     verifyInputs
	tokens map[string]*verifiedToken
}

// verifiedToken is one cached verification.
type verifiedToken struct {
	claims token.Claims // shared by every request that presents the token: read only
	json   string       // claims.JSON()
	until  time.Time    // served while now is before it
}

// verifyInputs is everything about a project that VerifyToken's verdict
// depends on besides the token and the clock.
type verifyInputs struct {
	ref, secret, oldSecret string
	oldUntil               time.Time
	jwt                    string // the raw "jwt" settings section (aud, iss)
}

func inputsOf(p *control.Project) verifyInputs {
	return verifyInputs{ref: p.Ref, secret: p.JWTSecret, oldSecret: p.OldJWTSecret, oldUntil: p.OldJWTSecretUntil,
		jwt: string(p.Settings["jwt"])}
}

func (a verifyInputs) equal(b verifyInputs) bool {
	return a.ref == b.ref && a.secret == b.secret && a.oldSecret == b.oldSecret && a.oldUntil.Equal(b.oldUntil) && a.jwt == b.jwt
}

func newTokenCache() *tokenCache {
	return &tokenCache{projects: map[string]*projectTokens{}}
}

// verify is VerifyToken with the cache in front; it also returns the claims'
// JSON. Opaque sb_ keys are compared directly and never cached.
func (c *tokenCache) verify(p *control.Project, tok string) (*verifiedToken, error) {
	if token.IsOpaque(tok) {
		claims, err := VerifyToken(p, tok)
		if err != nil {
			return nil, err
		}
		return &verifiedToken{claims: claims}, nil
	}
	now := time.Now()
	in := inputsOf(p)
	c.mu.Lock()
	pt := c.projects[p.Ref]
	if pt != nil && pt.in.equal(in) {
		if v := pt.tokens[tok]; v != nil {
			if now.Before(v.until) {
				c.mu.Unlock()
				return v, nil
			}
			delete(pt.tokens, tok)
		}
	}
	c.mu.Unlock()

	claims, err := VerifyToken(p, tok)
	if err != nil {
		return nil, err
	}
	v := &verifiedToken{claims: claims, json: claims.JSON(), until: claims.Exp()}
	// A token verified with the pre-rotation secret stops verifying when
	// its grace window ends; so does, conservatively, every entry.
	if in.oldSecret != "" && now.Before(in.oldUntil) && in.oldUntil.Before(v.until) {
		v.until = in.oldUntil
	}
	if !now.Before(v.until) {
		return v, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	pt = c.projects[p.Ref]
	if pt == nil || !pt.in.equal(in) {
		pt = &projectTokens{in: in, tokens: map[string]*verifiedToken{}}
		c.projects[p.Ref] = pt
	}
	if len(pt.tokens) >= tokenCacheSize {
		for k, e := range pt.tokens {
			if !now.Before(e.until) {
				delete(pt.tokens, k)
			}
		}
		// Still full: drop an arbitrary eighth (map order), so the sweep
		// above does not run again on every insert.
		for k := range pt.tokens {
			if len(pt.tokens) < tokenCacheSize-tokenCacheSize/8 {
				break
			}
			delete(pt.tokens, k)
		}
	}
	pt.tokens[tok] = v
	return v, nil
}

// drop forgets ref's tokens ("" = every project's).
func (c *tokenCache) drop(ref string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ref == "" {
		c.projects = map[string]*projectTokens{}
		return
	}
	delete(c.projects, ref)
}

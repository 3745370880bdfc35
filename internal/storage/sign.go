package storage

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/tenant"
	"github.com/madbase/madbase/internal/token"
)

// Signed-URL scopes: a token only serves the operation it was made for.
const (
	scopeDownload = "download"
	scopeUpload   = "upload"
	// uploadURLTTL is how long a signed upload URL lasts (Supabase's docs: 2 h).
	uploadURLTTL = 2 * time.Hour
	maxSignPaths = 1000
)

func (c *call) signToken(claims token.Claims, ttl time.Duration) (string, time.Time, error) {
	now := c.s.now()
	exp := now.Add(ttl)
	claims["iat"] = now.Unix()
	claims["ref"] = c.a.Project.Ref // routes the URL on hosts that name no project
	claims["exp"] = exp.Unix()
	tok, err := token.Sign([]byte(c.a.Project.JWTSecret), claims)
	return tok, exp, err
}

// verifySigned checks a signed-URL token: signature, expiry, that it names
// bucket/name and that it was made for scope.
func (c *call) verifySigned(bucketID, name, scope string) (token.Claims, error) {
	tok := c.r.URL.Query().Get("token")
	if tok == "" {
		return nil, errInvalid("querystring must have required property 'token'")
	}
	v := tenant.Verifier(c.a.Project, c.s.now())
	v.Audience, v.Issuer = "", ""
	v.Now = c.s.now
	claims, err := v.Verify(tok)
	if err != nil {
		return nil, serr(400, "InvalidJWT", "InvalidJWT", jwtMessage(tok, err)).With(err)
	}
	if u, _ := claims["url"].(string); u != bucketID+"/"+name {
		return nil, errInvalidSignature("Invalid signature")
	}
	if s, _ := claims["scope"].(string); s != scope {
		return nil, errInvalidSignature("Token is not scoped for " + scope)
	}
	return claims, nil
}

type signBody struct {
	ExpiresIn json.Number     `json:"expiresIn"`
	Paths     []string        `json:"paths"`
	Transform json.RawMessage `json:"transform"`
}

func (sb *signBody) ttl() (time.Duration, error) {
	n, err := sb.ExpiresIn.Int64()
	if err != nil || n < 1 {
		return 0, errInvalid("body/expiresIn must be >= 1")
	}
	// Keep the absolute expiry representable.
	n = min(n, 100*365*24*3600)
	return time.Duration(n) * time.Second, nil
}

func hasTransform(raw json.RawMessage) bool {
	var m map[string]any
	return len(raw) > 0 && json.Unmarshal(raw, &m) == nil && len(m) > 0
}

func (c *call) signedURL(bucketID, name string, ttl time.Duration) (string, error) {
	tok, _, err := c.signToken(token.Claims{"url": bucketID + "/" + name, "scope": scopeDownload}, ttl)
	if err != nil {
		return "", err
	}
	return "/object/sign/" + bucketID + "/" + name + "?token=" + tok, nil
}

func (c *call) sign(bucketID, name string) error {
	var body signBody
	if err := decodeBody(c.r, &body); err != nil {
		return err
	}
	ttl, err := body.ttl()
	if err != nil {
		return err
	}
	if hasTransform(body.Transform) {
		return errNotEnabled("Image transformation")
	}
	if _, err := c.findObject(c.r.Context(), bucketID, name, false); err != nil {
		return err
	}
	u, err := c.signedURL(bucketID, name, ttl)
	if err != nil {
		return err
	}
	httpx.WriteJSON(c.w, http.StatusOK, map[string]string{"signedURL": u})
	return nil
}

type signedEntry struct {
	Error     *string `json:"error"`
	Path      string  `json:"path"`
	SignedURL *string `json:"signedURL"`
}

func (c *call) signMany(bucketID string) error {
	var body signBody
	if err := decodeBody(c.r, &body); err != nil {
		return err
	}
	ttl, err := body.ttl()
	if err != nil {
		return err
	}
	if len(body.Paths) < 1 || len(body.Paths) > maxSignPaths {
		return errInvalid("body/paths must have between 1 and 1000 items")
	}
	visible := map[string]bool{}
	err = c.tx(c.r.Context(), tenant.TxOptions{ReadOnly: true}, func(ctx context.Context, q tenant.Querier) error {
		rows, err := q.Query(ctx, `select name from storage.objects where bucket_id = $1 and name = any($2)`, bucketID, body.Paths)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return err
			}
			visible[n] = true
		}
		return rows.Err()
	})
	if err != nil {
		return dbErr(err, nil)
	}
	out := make([]signedEntry, 0, len(body.Paths))
	for _, p := range body.Paths {
		e := signedEntry{Path: p}
		if visible[p] {
			u, err := c.signedURL(bucketID, p, ttl)
			if err != nil {
				return err
			}
			e.SignedURL = &u
		} else {
			msg := "Either the object does not exist or you do not have access to it"
			e.Error = &msg
		}
		out = append(out, e)
	}
	httpx.WriteJSON(c.w, http.StatusOK, out)
	return nil
}

// getSigned serves GET /object/sign/…?token=: the token authorises, so the
// object is read as the system.
func (c *call) getSigned(w http.ResponseWriter, bucketID, name string) error {
	claims, err := c.verifySigned(bucketID, name, scopeDownload)
	if err != nil {
		return err
	}
	if _, err := c.lookupBucket(c.r.Context(), bucketID); err != nil {
		return err
	}
	o, err := c.findObject(c.r.Context(), bucketID, name, true)
	if err != nil {
		return err
	}
	exp := claims.Exp()
	return c.serve(w, o, &exp)
}

// signUpload makes a signed upload URL; the caller must be allowed to
// insert (and, with x-upsert, to update) the object now.
func (c *call) signUpload(bucketID, name string) error {
	if err := checkKey(name); err != nil {
		return err
	}
	b, err := c.lookupBucket(c.r.Context(), bucketID)
	if err != nil {
		return err
	}
	upsert := c.r.Header.Get("x-upsert") == "true"
	owner, ownerID := ownerOf(c.a.Claims.Sub())
	row := &objectRow{bucket: b.ID, name: name, owner: owner, ownerID: ownerID, version: newUUID(), metadata: map[string]any{}}
	err = c.tx(c.r.Context(), tenant.TxOptions{Rollback: true}, func(ctx context.Context, q tenant.Querier) error {
		_, _, err := writeRow(ctx, q, row, upsert)
		return err
	})
	if err != nil {
		return dbErr(err, errKeyExists)
	}
	claims := token.Claims{"url": bucketID + "/" + name, "scope": scopeUpload, "upsert": upsert}
	if sub := c.a.Claims.Sub(); sub != "" {
		claims["owner"] = sub
	}
	tok, _, err := c.signToken(claims, uploadURLTTL)
	if err != nil {
		return err
	}
	httpx.WriteJSON(c.w, http.StatusOK, map[string]string{
		"url":   "/object/upload/sign/" + bucketID + "/" + name + "?token=" + tok,
		"token": tok,
	})
	return nil
}

// uploadSigned stores an upload authorised by a signed upload token, as
// the system with the token's owner and upsert flag.
func (c *call) uploadSigned(w http.ResponseWriter, bucketID, name string) error {
	claims, err := c.verifySigned(bucketID, name, scopeUpload)
	if err != nil {
		return err
	}
	b, err := c.lookupBucket(c.r.Context(), bucketID)
	if err != nil {
		return err
	}
	in, err := readUpload(c.r)
	if err != nil {
		return err
	}
	owner, _ := claims["owner"].(string)
	upsert, _ := claims["upsert"].(bool)
	if _, err := c.put(sysAuth(c.a.Project, owner), b, name, in, upsert); err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"Key": b.ID + "/" + name})
	return nil
}

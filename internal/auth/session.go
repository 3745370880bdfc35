package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/token"
)

// refreshTokenLen is the length of our opaque refresh tokens: 18 random
// (or HMAC) bytes in base64url.
const refreshTokenLen = 24

// sessionJSON is GoTrue's session response (compat/auth-functions.md §3.1).
type sessionJSON struct {
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type"`
	ExpiresIn    int       `json:"expires_in"`
	ExpiresAt    int64     `json:"expires_at"`
	RefreshToken string    `json:"refresh_token"`
	User         *userJSON `json:"user"`

	sessionID string
	reused    bool
}

type amrEntry struct {
	Method    string `json:"method"`
	Timestamp int64  `json:"timestamp"`
}

func randomToken() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// childToken is the refresh token that replaces parent: an HMAC under the
// session's key, so the server can hand the same child to a client that
// retries with the parent without ever storing a token in clear.
func childToken(key, parent string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(parent))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// hashToken is how refresh tokens are stored.
func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

func validRefreshFormat(t string) bool {
	if len(t) != refreshTokenLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(t)
	return err == nil
}

func inetOrNil(ip string) any {
	if net.ParseIP(ip) == nil {
		return nil
	}
	return ip
}

// issueSession starts a session for u (signed in by method) in tx: the
// session row, its amr claim, the first refresh token and last_sign_in_at.
func (s *Service) issueSession(ctx context.Context, tx pgx.Tx, c *call, u *user, method string) (*sessionJSON, error) {
	sid, key := newUUID(), hex.EncodeToString([]byte(randomToken()))
	if _, err := tx.Exec(ctx, `insert into auth.sessions (id, user_id, created_at, updated_at, aal, refreshed_at, user_agent, ip,
		refresh_token_hmac_key, refresh_token_counter) values ($1, $2, now(), now(), 'aal1', now(), $3, $4, $5, 0)`,
		sid, u.ID, c.r.UserAgent(), inetOrNil(clientIP(c.r, c.st)), key); err != nil {
		return nil, fmt.Errorf("auth: insert session: %w", err)
	}
	if _, err := tx.Exec(ctx, `insert into auth.mfa_amr_claims (id, session_id, created_at, updated_at, authentication_method)
		values ($1, $2, now(), now(), $3)`, newUUID(), sid, method); err != nil {
		return nil, fmt.Errorf("auth: insert amr claim: %w", err)
	}
	rt := randomToken()
	if _, err := tx.Exec(ctx, `insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, session_id)
		values ($1, $2, $3, false, now(), now(), $4)`, nilUUID, hashToken(rt), u.ID, sid); err != nil {
		return nil, fmt.Errorf("auth: insert refresh token: %w", err)
	}
	if _, err := tx.Exec(ctx, `update auth.users set last_sign_in_at = now(), updated_at = now() where id = $1`, u.ID); err != nil {
		return nil, fmt.Errorf("auth: update last sign in: %w", err)
	}
	if _, err := tx.Exec(ctx, `update auth.identities set last_sign_in_at = now() where user_id = $1`, u.ID); err != nil {
		return nil, fmt.Errorf("auth: update identity sign in: %w", err)
	}
	return s.sessionFor(ctx, tx, c, u.ID, sid, rt)
}

// sessionFor reloads the user and mints an access token for session sid
// with refresh token rt.
func (s *Service) sessionFor(ctx context.Context, q querier, c *call, userID, sid, rt string) (*sessionJSON, error) {
	u, err := fullUser(ctx, q, userID)
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `select authentication_method, extract(epoch from created_at)::bigint
		from auth.mfa_amr_claims where session_id = $1 order by created_at desc`, sid)
	if err != nil {
		return nil, fmt.Errorf("auth: load amr: %w", err)
	}
	amr, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (amrEntry, error) {
		var a amrEntry
		return a, r.Scan(&a.Method, &a.Timestamp)
	})
	if err != nil {
		return nil, fmt.Errorf("auth: load amr: %w", err)
	}
	at, exp, err := s.accessToken(c, u, sid, amr)
	if err != nil {
		return nil, err
	}
	return &sessionJSON{AccessToken: at, TokenType: "bearer", ExpiresIn: c.st.JWTExp, ExpiresAt: exp,
		RefreshToken: rt, User: u.json(), sessionID: sid}, nil
}

// accessToken signs GoTrue's access-token claims (§5.1) with the project
// secret; iss is the project's public auth URL and ref its ref.
func (s *Service) accessToken(c *call, u *user, sid string, amr []amrEntry) (string, int64, error) {
	now := s.now()
	exp := now.Add(time.Duration(c.st.JWTExp) * time.Second).Unix()
	if amr == nil {
		amr = []amrEntry{}
	}
	claims := token.Claims{
		"iss": s.authURL(c.p), "sub": u.ID, "aud": u.Aud, "exp": exp, "iat": now.Unix(),
		"email": u.Email, "phone": u.Phone, "app_metadata": u.AppMeta, "user_metadata": u.UserMeta,
		"role": u.Role, "aal": "aal1", "amr": amr, "session_id": sid, "is_anonymous": u.IsAnonymous, "ref": c.p.Ref,
	}
	tok, err := token.Sign([]byte(c.p.JWTSecret), claims)
	if err != nil {
		return "", 0, fmt.Errorf("auth: sign access token: %w", err)
	}
	return tok, exp, nil
}

// writeSession answers with a session and GoTrue's informational headers.
func writeSession(w http.ResponseWriter, sess *sessionJSON, body any) error {
	h := w.Header()
	h.Set("Sb-Auth-User-Id", sess.User.ID)
	h.Set("Sb-Auth-Session-Id", sess.sessionID)
	if len(sess.RefreshToken) >= 5 {
		h.Set("Sb-Auth-Refresh-Token-Prefix", sess.RefreshToken[:5])
	}
	if body == nil {
		body = sess
	}
	return writeJSON(w, body)
}

// refresh runs the refresh_token grant (§5.4). Refreshes of one session are
// serialised by a row lock on it. A rotated token that is an ancestor of the
// session's active token gets that active token back: always for the
// direct parent (a client that lost the answer), within the reuse interval
// for older ones; any other reuse revokes the whole family.
func (s *Service) refresh(ctx context.Context, c *call, rt string) (*sessionJSON, error) {
	if !validRefreshFormat(rt) {
		return nil, errRefreshInvalid
	}
	h := hashToken(rt)
	var out *sessionJSON
	var outErr error
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		var sid string
		err := tx.QueryRow(ctx, `select session_id::text from auth.refresh_tokens where token = $1`, h).Scan(&sid)
		if errors.Is(err, pgx.ErrNoRows) {
			outErr = errRefreshNotFound
			return nil
		}
		if err != nil {
			return fmt.Errorf("auth: find refresh token: %w", err)
		}
		var userID, key string
		err = tx.QueryRow(ctx, `select user_id::text, coalesce(refresh_token_hmac_key, '') from auth.sessions where id = $1 for update`,
			sid).Scan(&userID, &key)
		if errors.Is(err, pgx.ErrNoRows) {
			outErr = errRefreshNotFound
			return nil
		}
		if err != nil {
			return fmt.Errorf("auth: lock session: %w", err)
		}
		var rowID int64
		var revoked bool
		var revokedAt time.Time
		err = tx.QueryRow(ctx, `select id, coalesce(revoked, false), coalesce(updated_at, now()) from auth.refresh_tokens where token = $1`,
			h).Scan(&rowID, &revoked, &revokedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			outErr = errRefreshNotFound
			return nil
		}
		if err != nil {
			return fmt.Errorf("auth: reload refresh token: %w", err)
		}
		u, err := userByID(ctx, tx, userID)
		if err != nil {
			if errors.Is(err, errNoUser) {
				outErr = errRefreshNotFound
				return nil
			}
			return err
		}
		if u.banned(s.now()) {
			outErr = errBanned
			return nil
		}
		issued := ""
		reused := false
		if !revoked {
			issued = childToken(key, rt)
			if _, err := tx.Exec(ctx, `update auth.refresh_tokens set revoked = true, updated_at = now() where id = $1`, rowID); err != nil {
				return fmt.Errorf("auth: revoke refresh token: %w", err)
			}
			if _, err := tx.Exec(ctx, `insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, parent, session_id)
				values ($1, $2, $3, false, now(), now(), $4, $5)`, nilUUID, hashToken(issued), userID, h, sid); err != nil {
				return fmt.Errorf("auth: insert refresh token: %w", err)
			}
			if _, err := tx.Exec(ctx, `update auth.sessions set refreshed_at = now(), updated_at = now(),
				refresh_token_counter = coalesce(refresh_token_counter, 0) + 1 where id = $1`, sid); err != nil {
				return fmt.Errorf("auth: touch session: %w", err)
			}
			if err := audit(ctx, tx, c, u, "token_refreshed", "token", nil); err != nil {
				return err
			}
		} else {
			var active string
			err := tx.QueryRow(ctx, `select token from auth.refresh_tokens where session_id = $1 and not coalesce(revoked, false)
				order by id desc limit 1`, sid).Scan(&active)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("auth: find active refresh token: %w", err)
			}
			depth, cur := 0, rt
			if active != "" {
				for i := 1; i <= 64; i++ {
					cur = childToken(key, cur)
					if hashToken(cur) == active {
						depth = i
						break
					}
				}
			}
			if depth == 1 || depth > 1 && s.now().Sub(revokedAt) < c.st.reuseInterval() {
				issued, reused = cur, true
			} else {
				tag, err := tx.Exec(ctx, `update auth.refresh_tokens set revoked = true, updated_at = now()
					where session_id = $1 and not coalesce(revoked, false)`, sid)
				if err != nil {
					return fmt.Errorf("auth: revoke token family: %w", err)
				}
				if tag.RowsAffected() > 0 {
					if err := audit(ctx, tx, c, u, "token_revoked", "token", map[string]any{"reason": "refresh token reused"}); err != nil {
						return err
					}
				}
				outErr = errRefreshUsed
				return nil
			}
		}
		sess, err := s.sessionFor(ctx, tx, c, userID, sid, issued)
		if err != nil {
			return err
		}
		sess.reused = reused
		out = sess
		return nil
	})
	if err != nil {
		return nil, internal(err)
	}
	if outErr != nil {
		return nil, outErr
	}
	return out, nil
}

// caller is the signed-in user of a user-scoped request.
type caller struct {
	user      *user
	sessionID string
}

// requireUser checks the bearer token names an existing user and, when it
// carries a session_id, a live session (GoTrue's checks on U routes).
func (s *Service) requireUser(ctx context.Context, c *call) (*caller, error) {
	if c.r.Header.Get("Authorization") == "" {
		return nil, errNoAuthorization
	}
	sub := c.a.Claims.Sub()
	if sub == "" {
		return nil, errMissingSub
	}
	if !isUUID(sub) {
		return nil, bad("bad_jwt", "invalid claim: sub claim must be a UUID")
	}
	u, err := userByID(ctx, c.pool, sub)
	if errors.Is(err, errNoUser) {
		return nil, errUserNotFoundJWT
	}
	if err != nil {
		return nil, internal(err)
	}
	sid := c.a.Claims.SessionID()
	if sid != "" {
		if !isUUID(sid) {
			return nil, errSessionNotFound
		}
		var ok bool
		if err := c.pool.QueryRow(ctx, `select exists (select 1 from auth.sessions where id = $1 and user_id = $2)`,
			sid, u.ID).Scan(&ok); err != nil {
			return nil, internal(fmt.Errorf("auth: find session: %w", err))
		}
		if !ok {
			return nil, errSessionNotFound
		}
	}
	if u.banned(s.now()) {
		return nil, forbid("user_banned", "User is banned")
	}
	return &caller{user: u, sessionID: sid}, nil
}

func (s *Service) requireAdmin(c *call) error {
	if !c.a.IsService() {
		return errNotAdmin
	}
	return nil
}

// tx runs fn in a platform transaction on the project's database.
func tx(ctx context.Context, c *call, fn func(pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, c.pool, fn)
	if err == nil {
		return nil
	}
	var he *httpx.Error
	if errors.As(err, &he) {
		return he
	}
	return internal(err)
}

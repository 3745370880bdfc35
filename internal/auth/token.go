package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/password"
)

// POST /token?grant_type=password|refresh_token|pkce.
func (s *Service) token(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.limitIP(c, "token", limitOr(c.st.RateLimitTokenRefresh, 150), 5*time.Minute, 30); err != nil {
		return err
	}
	switch r.URL.Query().Get("grant_type") {
	case "password":
		return s.passwordGrant(w, r, c)
	case "refresh_token":
		var req struct {
			RefreshToken string `json:"refresh_token"`
		}
		if err := decode(r, &req); err != nil {
			return err
		}
		if req.RefreshToken == "" {
			return oauthError("invalid_request", "refresh_token required")
		}
		sess, err := s.refresh(r.Context(), c, req.RefreshToken)
		if err != nil {
			return err
		}
		w.Header().Set("Sb-Auth-Refresh-Token-Reuse", map[bool]string{true: "true", false: "false"}[sess.reused])
		return writeSession(w, sess, nil)
	case "pkce":
		return s.pkceGrant(w, r, c)
	}
	return bad("invalid_credentials", "unsupported_grant_type")
}

type weakPasswordJSON struct {
	Message string   `json:"message"`
	Reasons []string `json:"reasons"`
}

// passwordGrant signs in with email (or phone) and password. An unknown
// address costs a dummy hash so it answers in the time a wrong password
// does.
func (s *Service) passwordGrant(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Email    string `json:"email"`
		Phone    string `json:"phone"`
		Password string `json:"password"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	var u *user
	var err error
	switch {
	case req.Email != "":
		u, err = userByEmail(ctx, c.pool, strings.ToLower(strings.TrimSpace(req.Email)), "authenticated")
	case req.Phone != "":
		u, err = findUser(ctx, c.pool, "phone = $1", strings.TrimPrefix(strings.TrimSpace(req.Phone), "+"))
	default:
		return validation("missing email or phone")
	}
	if err != nil && !errors.Is(err, errNoUser) {
		return internal(err)
	}
	if u == nil || u.EncryptedPassword == "" || req.Password == "" {
		if err := s.hasher.DummyVerify(ctx); err != nil {
			return internal(err)
		}
		return errInvalidCredentials
	}
	ok, rehash, err := s.hasher.Verify(ctx, req.Password, u.EncryptedPassword)
	if err != nil {
		if errors.Is(err, password.ErrUnknownFormat) {
			s.log.WarnContext(ctx, "auth: stored password hash in an unknown format", "project", c.p.Ref, "user", u.ID)
			return errInvalidCredentials
		}
		return internal(err)
	}
	if !ok {
		return errInvalidCredentials
	}
	if u.banned(s.now()) {
		return errBanned
	}
	if req.Email != "" && !u.emailConfirmed() && !c.st.AllowUnverifiedEmailSignIns {
		return errEmailNotConfirmed
	}
	if req.Phone != "" && u.PhoneConfirmedAt == nil {
		return bad("phone_not_confirmed", "Phone not confirmed")
	}
	newHash := ""
	if rehash {
		if newHash, err = s.hasher.Hash(ctx, req.Password); err != nil {
			return internal(err)
		}
	}
	var weak *weakPasswordJSON
	if reasons, msg := password.Weakness(req.Password, c.st.PasswordMinLength, c.st.PasswordRequiredCharacters); len(reasons) > 0 {
		weak = &weakPasswordJSON{Message: msg, Reasons: reasons}
	}
	var sess *sessionJSON
	err = tx(ctx, c, func(tx pgx.Tx) error {
		if newHash != "" {
			// Upgrade bcrypt (or stale argon2) hashes now that we know the password.
			if _, err := tx.Exec(ctx, `update auth.users set encrypted_password = $1 where id = $2`, newHash, u.ID); err != nil {
				return err
			}
		}
		provider := "email"
		if req.Email == "" {
			provider = "phone"
		}
		var err error
		if sess, err = s.issueSession(ctx, tx, c, u, "password"); err != nil {
			return err
		}
		return audit(ctx, tx, c, u, "login", "account", map[string]any{"provider": provider})
	})
	if err != nil {
		return err
	}
	return writeSession(w, sess, struct {
		*sessionJSON
		WeakPassword *weakPasswordJSON `json:"weak_password"`
	}{sess, weak})
}

// pkceGrant exchanges an auth code from a verified PKCE email link for a
// session.
func (s *Service) pkceGrant(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		AuthCode     string `json:"auth_code"`
		CodeVerifier string `json:"code_verifier"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.AuthCode == "" || req.CodeVerifier == "" {
		return validation("invalid request: both auth code and code verifier should be non-empty")
	}
	ctx := r.Context()
	var sess *sessionJSON
	err := tx(ctx, c, func(tx pgx.Tx) error {
		var id, userID, method, challenge, authMethod string
		var issued time.Time
		err := tx.QueryRow(ctx, `select id::text, coalesce(user_id::text, ''), code_challenge_method::text, code_challenge,
			authentication_method, coalesce(auth_code_issued_at, created_at) from auth.flow_state where auth_code = $1 for update`,
			req.AuthCode).Scan(&id, &userID, &method, &challenge, &authMethod, &issued)
		if errors.Is(err, pgx.ErrNoRows) {
			return errFlowNotFound
		}
		if err != nil {
			return err
		}
		if s.now().Sub(issued) > time.Duration(c.st.FlowStateExpiry)*time.Second {
			return errFlowExpired
		}
		if !pkceMatches(method, challenge, req.CodeVerifier) {
			return errBadCodeVerifier
		}
		u, err := userByID(ctx, tx, userID)
		if errors.Is(err, errNoUser) {
			return errFlowNotFound
		}
		if err != nil {
			return err
		}
		if u.banned(s.now()) {
			return errBanned
		}
		if _, err := tx.Exec(ctx, `delete from auth.flow_state where id = $1`, id); err != nil {
			return err
		}
		if sess, err = s.issueSession(ctx, tx, c, u, authMethod); err != nil {
			return err
		}
		return audit(ctx, tx, c, u, "login", "account", map[string]any{"provider": "email", "flow": "pkce"})
	})
	if err != nil {
		return err
	}
	return writeSession(w, sess, nil)
}

func pkceMatches(method, challenge, verifier string) bool {
	want := verifier
	if method == "s256" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

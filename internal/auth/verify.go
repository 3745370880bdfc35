package auth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/httpx"
)

// verifyColumns lists the token columns a verify type may match.
func verifyColumns(typ string) ([]string, error) {
	switch typ {
	case "signup", "invite":
		return []string{"confirmation_token"}, nil
	case "magiclink", "recovery":
		return []string{"recovery_token"}, nil
	case "email":
		return []string{"confirmation_token", "recovery_token"}, nil
	case "email_change":
		return []string{"email_change_token_new", "email_change_token_current"}, nil
	case "sms", "phone_change":
		return nil, bad("phone_provider_disabled", "Unsupported phone provider")
	case "":
		return nil, validation("Verify requires a verification type")
	}
	return nil, validation("Unsupported verification type")
}

func (u *user) tokenColumn(col string) (string, *time.Time) {
	switch col {
	case "confirmation_token":
		return u.ConfirmationToken, u.ConfirmationSentAt
	case "recovery_token":
		return u.RecoveryToken, u.RecoverySentAt
	case "email_change_token_new":
		return u.EmailChangeTokenNew, u.EmailChangeSentAt
	case "email_change_token_current":
		return u.EmailChangeTokenCurrent, u.EmailChangeSentAt
	}
	return "", nil
}

// verified is the outcome of following a link or entering a code.
type verified struct {
	sess    *sessionJSON
	pkce    bool   // the token was issued to a PKCE flow
	code    string // PKCE auth code (GET only)
	message string // half of a secure email change
	typ     string
}

// verify checks a token (by hash, or by email and code) and applies what it
// confirms. wantCode asks for a PKCE auth code instead of a session when the
// token belongs to a PKCE flow (the GET link flow).
func (s *Service) verify(ctx context.Context, c *call, typ, hash, email, otp string, wantCode bool) (*verified, error) {
	cols, err := verifyColumns(typ)
	if err != nil {
		return nil, err
	}
	expired := errLinkExpired
	if hash == "" {
		expired = errOTPExpired
	}
	var out *verified
	err = tx(ctx, c, func(tx pgx.Tx) error {
		var u *user
		matched := ""
		if hash != "" {
			conds := make([]string, len(cols))
			for i, col := range cols {
				conds[i] = col + " = $1"
			}
			u, err = findUser(ctx, tx, "("+strings.Join(conds, " or ")+") for update", hash)
			if errors.Is(err, errNoUser) {
				return expired
			}
			if err != nil {
				return err
			}
			for _, col := range cols {
				if v, _ := u.tokenColumn(col); v == hash {
					matched = col
					break
				}
			}
		} else {
			addr := strings.ToLower(strings.TrimSpace(email))
			u, err = findUser(ctx, tx, "(lower(email) = $1 or lower(email_change) = $1) and not is_sso_user for update", addr)
			if errors.Is(err, errNoUser) {
				return expired
			}
			if err != nil {
				return err
			}
			h := tokenHash(addr, otp)
			for _, col := range cols {
				if v, _ := u.tokenColumn(col); v != "" && (v == h || v == "pkce_"+h) {
					matched = col
					break
				}
			}
		}
		if matched == "" {
			return expired
		}
		stored, sentAt := u.tokenColumn(matched)
		if sentAt == nil || s.now().Sub(*sentAt) > time.Duration(c.st.OTPExp)*time.Second {
			return expired
		}
		if u.banned(s.now()) {
			return forbid("user_banned", "User is banned")
		}
		out = &verified{pkce: strings.HasPrefix(stored, "pkce_"), typ: typ}
		method := "otp"
		switch matched {
		case "confirmation_token":
			if _, err := tx.Exec(ctx, `update auth.users set confirmation_token = '' where id = $1`, u.ID); err != nil {
				return err
			}
			if err := markEmailVerified(ctx, tx, u.ID); err != nil {
				return err
			}
			if err := clearOneTimeToken(ctx, tx, u.ID, "confirmation_token"); err != nil {
				return err
			}
			action := "user_signedup"
			if u.InvitedAt != nil {
				action = "user_invited"
			}
			if err := audit(ctx, tx, c, u, action, "team", map[string]any{"provider": "email"}); err != nil {
				return err
			}
		case "recovery_token":
			if _, err := tx.Exec(ctx, `update auth.users set recovery_token = '' where id = $1`, u.ID); err != nil {
				return err
			}
			if !u.emailConfirmed() {
				if err := markEmailVerified(ctx, tx, u.ID); err != nil {
					return err
				}
			}
			if err := clearOneTimeToken(ctx, tx, u.ID, "recovery_token"); err != nil {
				return err
			}
		default: // email change
			other := "email_change_token_current"
			if matched == other {
				other = "email_change_token_new"
			}
			if _, err := tx.Exec(ctx, "update auth.users set "+matched+" = '' where id = $1", u.ID); err != nil {
				return err
			}
			if err := clearOneTimeToken(ctx, tx, u.ID, matched); err != nil {
				return err
			}
			if v, _ := u.tokenColumn(other); v != "" {
				if _, err := tx.Exec(ctx, `update auth.users set email_change_confirm_status = 1 where id = $1`, u.ID); err != nil {
					return err
				}
				out.message = "Confirmation link accepted. Please proceed to confirm link sent to the other email"
				return nil
			}
			if _, err := tx.Exec(ctx, `update auth.users set email = email_change, email_change = '', email_change_token_new = '',
				email_change_token_current = '', email_change_confirm_status = 0, email_confirmed_at = now(), updated_at = now()
				where id = $1`, u.ID); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `update auth.identities set identity_data = identity_data || jsonb_build_object('email', $2::text),
				updated_at = now() where user_id = $1 and provider = 'email'`, u.ID, u.EmailChange); err != nil {
				return err
			}
			if err := audit(ctx, tx, c, u, "user_modified", "user", map[string]any{"email_changed": u.EmailChange}); err != nil {
				return err
			}
		}
		if out.pkce && wantCode {
			err := tx.QueryRow(ctx, `update auth.flow_state set auth_code_issued_at = now(), updated_at = now()
				where id = (select id from auth.flow_state where user_id = $1 order by created_at desc limit 1)
				returning auth_code`, u.ID).Scan(&out.code)
			if errors.Is(err, pgx.ErrNoRows) {
				return errFlowNotFound
			}
			return err
		}
		if out.sess, err = s.issueSession(ctx, tx, c, u, method); err != nil {
			return err
		}
		return audit(ctx, tx, c, u, "login", "account", map[string]any{"provider": "email", "via": typ})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// POST /verify (verifyOtp): 200 session, or {msg, code} for the first half
// of a secure email change.
func (s *Service) verifyPost(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Type      string `json:"type"`
		Token     string `json:"token"`
		TokenHash string `json:"token_hash"`
		Email     string `json:"email"`
		Phone     string `json:"phone"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := s.limitVerify(c); err != nil {
		return err
	}
	switch {
	case req.Token == "" && req.TokenHash == "", req.Token != "" && req.TokenHash != "":
		return validation("Verify requires either a token or a token hash")
	case req.TokenHash != "" && (req.Email != "" || req.Phone != ""):
		return validation("Only the token_hash and type should be provided")
	case req.Token != "" && req.Email == "" && req.Phone == "":
		if _, err := verifyColumns(req.Type); err != nil {
			return err
		}
		return validation("Only an email address or phone number should be provided on verify")
	}
	if req.Phone != "" {
		return bad("phone_provider_disabled", "Unsupported phone provider")
	}
	v, err := s.verify(r.Context(), c, req.Type, req.TokenHash, req.Email, req.Token, false)
	if err != nil {
		return err
	}
	if v.message != "" {
		return writeJSON(w, map[string]any{"msg": v.message, "code": http.StatusOK})
	}
	return writeSession(w, v.sess, nil)
}

// GET /verify: the emailed link. Always a 303 to the redirect URL, with the
// session (implicit flow) or error in the fragment, or ?code= for PKCE.
func (s *Service) verifyGet(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	typ, tok := q.Get("type"), q.Get("token")
	if typ == "" {
		return validation("Verify requires a verification type")
	}
	if err := s.limitVerify(c); err != nil {
		return err
	}
	redirect := redirectTo(c)
	isPKCE := strings.HasPrefix(tok, "pkce_")
	var v *verified
	var err error
	if tok == "" {
		err = errLinkExpired
	} else {
		v, err = s.verify(r.Context(), c, typ, tok, "", "", true)
	}
	if err != nil {
		e := httpx.As(err)
		if e.Internal() {
			return err
		}
		vals := url.Values{"error": {oauthErrorName(e.Status)}, "error_code": {e.Code}, "error_description": {e.Message}, "sb": {""}}
		if isPKCE {
			redirect = withQuery(redirect, vals)
		}
		http.Redirect(w, r, withFragment(redirect, vals), http.StatusSeeOther)
		return nil
	}
	switch {
	case v.message != "":
		http.Redirect(w, r, withFragment(redirect, url.Values{"message": {v.message}, "sb": {""}}), http.StatusSeeOther)
	case v.code != "":
		http.Redirect(w, r, withQuery(redirect, url.Values{"code": {v.code}}), http.StatusSeeOther)
	default:
		sess := v.sess
		h := w.Header()
		h.Set("Sb-Auth-User-Id", sess.User.ID)
		h.Set("Sb-Auth-Session-Id", sess.sessionID)
		h.Set("Sb-Auth-Refresh-Token-Prefix", sess.RefreshToken[:5])
		http.Redirect(w, r, withFragment(redirect, url.Values{
			"access_token": {sess.AccessToken}, "expires_at": {strconv.FormatInt(sess.ExpiresAt, 10)},
			"expires_in": {strconv.Itoa(sess.ExpiresIn)}, "refresh_token": {sess.RefreshToken}, "sb": {""},
			"token_type": {"bearer"}, "type": {typ},
		}), http.StatusSeeOther)
	}
	return nil
}

func oauthErrorName(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request"
	case http.StatusUnauthorized:
		return "unauthorized_client"
	case http.StatusForbidden:
		return "access_denied"
	}
	return "server_error"
}

// withFragment replaces u's fragment with the encoded values (sorted keys,
// as GoTrue's).
func withFragment(u string, v url.Values) string {
	if i := strings.IndexByte(u, '#'); i >= 0 {
		u = u[:i]
	}
	return u + "#" + v.Encode()
}

func withQuery(raw string, v url.Values) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	for k, vs := range v {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}

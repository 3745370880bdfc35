package auth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/mail"
)

// GET /user.
func (s *Service) getUser(w http.ResponseWriter, r *http.Request, c *call) error {
	cl, err := s.requireUser(r.Context(), c)
	if err != nil {
		return err
	}
	u, err := withIdentities(r.Context(), c.pool, cl.user)
	if err != nil {
		return internal(err)
	}
	return writeJSON(w, u.json())
}

type putUserReq struct {
	Email               string         `json:"email"`
	Phone               string         `json:"phone"`
	Password            *string        `json:"password"`
	Nonce               string         `json:"nonce"`
	Data                map[string]any `json:"data"`
	AppMetadata         map[string]any `json:"app_metadata"`
	CodeChallenge       string         `json:"code_challenge"`
	CodeChallengeMethod string         `json:"code_challenge_method"`
}

// PUT /user: metadata merge, password change (other sessions revoked),
// email change (confirmed by mail unless the user is anonymous and the
// project autoconfirms).
func (s *Service) putUser(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	cl, err := s.requireUser(ctx, c)
	if err != nil {
		return err
	}
	var req putUserReq
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.AppMetadata != nil {
		return forbid("not_admin", "Updating app_metadata requires admin privileges")
	}
	if req.Phone != "" {
		return bad("phone_provider_disabled", "Unsupported phone provider")
	}
	u := cl.user
	newHash := ""
	if req.Password != nil {
		pw := *req.Password
		if err := checkPassword(c.st, pw); err != nil {
			return err
		}
		if c.st.UpdatePasswordRequireReauthentication {
			if req.Nonce == "" {
				return bad("reauthentication_needed", "Password update requires reauthentication")
			}
		}
		if req.Nonce != "" {
			if u.ReauthToken == "" || u.ReauthToken != tokenHash(u.Email, req.Nonce) ||
				u.ReauthSentAt == nil || s.now().Sub(*u.ReauthSentAt) > time.Duration(c.st.OTPExp)*time.Second {
				return unproc("reauthentication_not_valid", "Requested nonce is invalid")
			}
		}
		if u.EncryptedPassword != "" {
			same, _, err := s.hasher.Verify(ctx, pw, u.EncryptedPassword)
			if err == nil && same {
				return errSamePassword
			}
		}
		if newHash, err = s.hasher.Hash(ctx, pw); err != nil {
			return internal(err)
		}
	}
	var newEmail string
	if req.Email != "" {
		if newEmail, err = normalEmail(req.Email); err != nil {
			return err
		}
		if newEmail == u.Email {
			newEmail = ""
		}
	}
	pk, err := parsePKCE(req.CodeChallenge, req.CodeChallengeMethod)
	if err != nil {
		return err
	}
	if newEmail != "" {
		if err := s.limitOTP(c); err != nil {
			return err
		}
	}
	redirect := redirectTo(c)
	var out *userJSON
	err = tx(ctx, c, func(tx pgx.Tx) error {
		if req.Data != nil {
			if _, err := tx.Exec(ctx, `update auth.users set raw_user_meta_data = $1, updated_at = now() where id = $2`,
				mergeMeta(u.UserMeta, req.Data), u.ID); err != nil {
				return err
			}
			if err := audit(ctx, tx, c, u, "user_modified", "user", nil); err != nil {
				return err
			}
		}
		if newHash != "" {
			if _, err := tx.Exec(ctx, `update auth.users set encrypted_password = $1, reauthentication_token = '',
				updated_at = now() where id = $2`, newHash, u.ID); err != nil {
				return err
			}
			if cl.sessionID != "" {
				if _, err := tx.Exec(ctx, `delete from auth.sessions where user_id = $1 and id <> $2`, u.ID, cl.sessionID); err != nil {
					return err
				}
			}
			if err := audit(ctx, tx, c, u, "user_updated_password", "user", nil); err != nil {
				return err
			}
		}
		if newEmail != "" {
			taken, err := userByEmail(ctx, tx, newEmail, u.Aud)
			if err != nil && !errors.Is(err, errNoUser) {
				return err
			}
			if taken != nil {
				return errEmailExists
			}
			if u.IsAnonymous && c.st.Autoconfirm {
				if _, err := tx.Exec(ctx, `update auth.users set email = $1, email_confirmed_at = now(), updated_at = now()
					where id = $2`, newEmail, u.ID); err != nil {
					return err
				}
			} else if err := s.startEmailChange(ctx, tx, c, u, newEmail, redirect, pk); err != nil {
				return err
			}
		}
		fresh, err := fullUser(ctx, tx, u.ID)
		if err != nil {
			return err
		}
		out = fresh.json()
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, out)
}

// emailChange is a prepared email change: the codes and stored hashes for
// the new address and (secure change) the current one.
type emailChange struct {
	otpNew, hashNew, otpCur, hashCur string
}

// prepareEmailChange stores the tokens of an email change of u to newEmail.
// With secure email change on and a confirmed current address both
// addresses must confirm; force skips the per-user send window.
func (s *Service) prepareEmailChange(ctx context.Context, tx pgx.Tx, c *call, u *user, newEmail string, pk *pkceParams, force bool) (*emailChange, error) {
	if at := u.EmailChangeSentAt; at != nil && !force {
		if wait := c.st.maxFrequency() - s.now().Sub(*at); wait > 0 {
			return nil, tooSoon(wait)
		}
	}
	prefix := ""
	if pk != nil {
		prefix = "pkce_"
		if err := createFlowState(ctx, tx, u.ID, pk, "email_change"); err != nil {
			return nil, err
		}
	}
	ec := &emailChange{otpNew: randomDigits(c.st.OTPLength)}
	ec.hashNew = prefix + tokenHash(newEmail, ec.otpNew)
	if c.st.secureEmailChange() && u.Email != "" && u.emailConfirmed() {
		ec.otpCur = randomDigits(c.st.OTPLength)
		ec.hashCur = prefix + tokenHash(u.Email, ec.otpCur)
	}
	if _, err := tx.Exec(ctx, `update auth.users set email_change = $1, email_change_token_new = $2, email_change_token_current = $3,
		email_change_confirm_status = 0, email_change_sent_at = now(), updated_at = now() where id = $4`,
		newEmail, ec.hashNew, ec.hashCur, u.ID); err != nil {
		return nil, err
	}
	if err := s.recordOneTimeToken(ctx, tx, u.ID, "email_change_token_new", ec.hashNew, newEmail); err != nil {
		return nil, err
	}
	if ec.hashCur != "" {
		if err := s.recordOneTimeToken(ctx, tx, u.ID, "email_change_token_current", ec.hashCur, u.Email); err != nil {
			return nil, err
		}
	}
	return ec, audit(ctx, tx, c, u, "user_modified", "user", map[string]any{"email_change": newEmail})
}

// startEmailChange prepares an email change and mails its link(s).
func (s *Service) startEmailChange(ctx context.Context, tx pgx.Tx, c *call, u *user, newEmail, redirect string, pk *pkceParams) error {
	ec, err := s.prepareEmailChange(ctx, tx, c, u, newEmail, pk, false)
	if err != nil {
		return err
	}
	link := func(h string) string { return mailLink(s.authURL(c.p), h, "email_change", redirect) }
	if err := s.send(ctx, c, mail.EmailChange, newEmail, mail.Data{SiteURL: c.st.SiteURL, ConfirmationURL: link(ec.hashNew),
		Email: u.Email, NewEmail: newEmail, Token: ec.otpNew, TokenHash: ec.hashNew, RedirectTo: redirect, Data: u.UserMeta}); err != nil {
		return err
	}
	if ec.hashCur != "" {
		return s.send(ctx, c, mail.EmailChange, u.Email, mail.Data{SiteURL: c.st.SiteURL, ConfirmationURL: link(ec.hashCur),
			Email: u.Email, NewEmail: newEmail, Token: ec.otpCur, TokenHash: ec.hashCur, RedirectTo: redirect, Data: u.UserMeta})
	}
	return nil
}

func mailLink(authURL, hash, typ, redirect string) string {
	return mail.ConfirmationURL(authURL, hash, typ, redirect)
}

// POST /logout?scope=global|local|others → 204.
func (s *Service) logout(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	scope := r.URL.Query().Get("scope")
	switch scope {
	case "", "global", "local", "others":
	default:
		return validation(`Unsupported logout scope "` + scope + `"`)
	}
	cl, err := s.requireUser(ctx, c)
	if err != nil {
		return err
	}
	if cl.sessionID == "" {
		scope = "global"
	}
	err = tx(ctx, c, func(tx pgx.Tx) error {
		var err error
		switch scope {
		case "local":
			_, err = tx.Exec(ctx, `delete from auth.sessions where id = $1`, cl.sessionID)
		case "others":
			_, err = tx.Exec(ctx, `delete from auth.sessions where user_id = $1 and id <> $2`, cl.user.ID, cl.sessionID)
		default:
			_, err = tx.Exec(ctx, `delete from auth.sessions where user_id = $1`, cl.user.ID)
		}
		if err != nil {
			return err
		}
		return audit(ctx, tx, c, cl.user, "logout", "account", map[string]any{"scope": scope})
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

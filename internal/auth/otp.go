package auth

import (
	"errors"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/mail"
)

type otpReq struct {
	Email               string         `json:"email"`
	Phone               string         `json:"phone"`
	Data                map[string]any `json:"data"`
	CreateUser          *bool          `json:"create_user"`
	CodeChallenge       string         `json:"code_challenge"`
	CodeChallengeMethod string         `json:"code_challenge_method"`
	Channel             string         `json:"channel"`
}

// POST /otp (and legacy /magiclink): a magic link (with its 6-digit code)
// for a confirmed user; an unknown or unconfirmed address is signed up and
// sent a confirmation instead. Always {} on success.
func (s *Service) otp(w http.ResponseWriter, r *http.Request, c *call) error {
	var req otpReq
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Phone != "" {
		return bad("phone_provider_disabled", "Unsupported phone provider")
	}
	if req.Channel != "" && req.Channel != "sms" {
		return validation("Channel can only be used with phone")
	}
	email, err := normalEmail(req.Email)
	if err != nil {
		return err
	}
	pk, err := parsePKCE(req.CodeChallenge, req.CodeChallengeMethod)
	if err != nil {
		return err
	}
	if err := s.limitOTP(c); err != nil {
		return err
	}
	ctx := r.Context()
	redirect := redirectTo(c)
	err = tx(ctx, c, func(tx pgx.Tx) error {
		u, err := userByEmail(ctx, tx, email, "authenticated")
		if err != nil && !errors.Is(err, errNoUser) {
			return err
		}
		if u == nil {
			if req.CreateUser != nil && !*req.CreateUser {
				return errOTPDisabled
			}
			if c.st.DisableSignup {
				return errSignupDisabled
			}
			meta := mergeMeta(req.Data, nil)
			id := newUUID()
			meta["sub"], meta["email"], meta["email_verified"], meta["phone_verified"] = id, email, c.st.Autoconfirm, false
			u, err = createUser(ctx, tx, newUser{ID: id, Email: email, Confirmed: c.st.Autoconfirm,
				AppMeta: map[string]any{"provider": "email", "providers": []string{"email"}}, UserMeta: meta})
			if err != nil {
				return err
			}
			if err := audit(ctx, tx, c, u, "user_signedup", "team", map[string]any{"provider": "email"}); err != nil {
				return err
			}
		}
		if !u.emailConfirmed() {
			if err := s.sendOTP(ctx, tx, c, u, kindConfirm, redirect, pk); err != nil {
				return err
			}
			return audit(ctx, tx, c, u, "user_confirmation_requested", "user", map[string]any{"provider": "email"})
		}
		if err := s.sendOTP(ctx, tx, c, u, kindMagic, redirect, pk); err != nil {
			return err
		}
		return audit(ctx, tx, c, u, "user_recovery_requested", "user", map[string]any{"provider": "email", "channel": "magiclink"})
	})
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{})
}

// POST /recover: a recovery mail; {} whether or not the address exists.
func (s *Service) recover(w http.ResponseWriter, r *http.Request, c *call) error {
	var req otpReq
	if err := decode(r, &req); err != nil {
		return err
	}
	email, err := normalEmail(req.Email)
	if err != nil {
		return err
	}
	pk, err := parsePKCE(req.CodeChallenge, req.CodeChallengeMethod)
	if err != nil {
		return err
	}
	if err := s.limitOTP(c); err != nil {
		return err
	}
	ctx := r.Context()
	redirect := redirectTo(c)
	err = tx(ctx, c, func(tx pgx.Tx) error {
		u, err := userByEmail(ctx, tx, email, "authenticated")
		if errors.Is(err, errNoUser) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.sendOTP(ctx, tx, c, u, kindRecovery, redirect, pk); err != nil {
			return err
		}
		return audit(ctx, tx, c, u, "user_recovery_requested", "user", nil)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{})
}

// POST /resend: the confirmation or email-change mail again; {} without
// sending when there is nothing pending.
func (s *Service) resend(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Email               string `json:"email"`
		Phone               string `json:"phone"`
		Type                string `json:"type"`
		CodeChallenge       string `json:"code_challenge"`
		CodeChallengeMethod string `json:"code_challenge_method"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	switch req.Type {
	case "signup", "email_change":
	case "sms", "phone_change":
		return bad("phone_provider_disabled", "Unsupported phone provider")
	default:
		return validation("Missing one of these types: signup, email_change, sms, phone_change")
	}
	email, err := normalEmail(req.Email)
	if err != nil {
		return err
	}
	pk, err := parsePKCE(req.CodeChallenge, req.CodeChallengeMethod)
	if err != nil {
		return err
	}
	if err := s.limitOTP(c); err != nil {
		return err
	}
	ctx := r.Context()
	redirect := redirectTo(c)
	err = tx(ctx, c, func(tx pgx.Tx) error {
		u, err := userByEmail(ctx, tx, email, "authenticated")
		if errors.Is(err, errNoUser) {
			return nil
		}
		if err != nil {
			return err
		}
		if req.Type == "signup" {
			if u.emailConfirmed() {
				return nil
			}
			return s.sendOTP(ctx, tx, c, u, kindConfirm, redirect, pk)
		}
		if u.EmailChange == "" {
			return nil
		}
		return s.startEmailChange(ctx, tx, c, u, u.EmailChange, redirect, pk)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{})
}

// GET /reauthenticate: a code (the nonce for a password change) by email.
func (s *Service) reauthenticate(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	cl, err := s.requireUser(ctx, c)
	if err != nil {
		return err
	}
	u := cl.user
	if u.Email == "" {
		return validation("Reauthentication requires the user to have an email or a phone number")
	}
	if !u.emailConfirmed() {
		return unproc("email_not_confirmed", "Please verify your email first.")
	}
	err = tx(ctx, c, func(tx pgx.Tx) error {
		o, err := s.prepareOTP(ctx, tx, c, u, kindReauth, nil, false)
		if err != nil {
			return err
		}
		if err := audit(ctx, tx, c, u, "user_reauthenticate_requested", "user", nil); err != nil {
			return err
		}
		return s.send(ctx, c, mail.Reauthentication, u.Email, mail.Data{SiteURL: c.st.SiteURL, Email: u.Email,
			Token: o.otp, Data: u.UserMeta})
	})
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]any{})
}

// POST /invite (admin): create the user (or re-invite an unconfirmed one)
// and mail the invite link.
func (s *Service) invite(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.requireAdmin(c); err != nil {
		return err
	}
	var req struct {
		Email string         `json:"email"`
		Data  map[string]any `json:"data"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	email, err := normalEmail(req.Email)
	if err != nil {
		return err
	}
	ctx := r.Context()
	redirect := redirectTo(c)
	var out *userJSON
	err = tx(ctx, c, func(tx pgx.Tx) error {
		u, err := s.invitee(ctx, tx, c, email, req.Data)
		if err != nil {
			return err
		}
		if err := s.sendOTP(ctx, tx, c, u, kindInvite, redirect, nil); err != nil {
			return err
		}
		if u, err = fullUser(ctx, tx, u.ID); err != nil {
			return err
		}
		out = u.json()
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, out)
}

package auth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/password"
)

type signupReq struct {
	Email               string         `json:"email"`
	Phone               string         `json:"phone"`
	Password            string         `json:"password"`
	Data                map[string]any `json:"data"`
	CodeChallenge       string         `json:"code_challenge"`
	CodeChallengeMethod string         `json:"code_challenge_method"`
}

// checkPassword applies GoTrue's length cap and the project's policy.
func checkPassword(st *Settings, pw string) error {
	if len(pw) > password.MaxLength {
		return errPasswordTooLong
	}
	if reasons, msg := password.Weakness(pw, st.PasswordMinLength, st.PasswordRequiredCharacters); len(reasons) > 0 {
		return weakPassword(reasons, msg)
	}
	return nil
}

// POST /signup (compat/auth-functions.md §2.3, §3.3).
func (s *Service) signup(w http.ResponseWriter, r *http.Request, c *call) error {
	var req signupReq
	if err := decode(r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	if c.st.DisableSignup {
		return errSignupDisabled
	}
	if req.Email == "" && req.Phone == "" {
		return s.signupAnonymous(w, ctx, c, req.Data)
	}
	if req.Email != "" && req.Phone != "" {
		return validation("Only an email address or phone number should be provided on signup.")
	}
	if req.Phone != "" {
		return bad("phone_provider_disabled", "Phone signups are disabled")
	}
	if err := s.limitOTP(c); err != nil {
		return err
	}
	email, err := normalEmail(req.Email)
	if err != nil {
		return err
	}
	if req.Password == "" {
		return validation("Signup requires a valid password")
	}
	if err := checkPassword(c.st, req.Password); err != nil {
		return err
	}
	pk, err := parsePKCE(req.CodeChallenge, req.CodeChallengeMethod)
	if err != nil {
		return err
	}
	// Hash before looking the address up, so a duplicate costs the same.
	hash, err := s.hasher.Hash(ctx, req.Password)
	if err != nil {
		return internal(err)
	}
	redirect := redirectTo(c)
	var sess *sessionJSON
	var bare any
	err = tx(ctx, c, func(tx pgx.Tx) error {
		// confirm mails u a confirmation and answers with u, as GoTrue
		// does for a sign-up awaiting confirmation.
		confirm := func(u *user) error {
			if err := s.sendOTP(ctx, tx, c, u, kindConfirm, redirect, pk); err != nil {
				return err
			}
			if err := audit(ctx, tx, c, u, "user_confirmation_requested", "user", map[string]any{"provider": "email"}); err != nil {
				return err
			}
			u, err := fullUser(ctx, tx, u.ID)
			if err != nil {
				return err
			}
			bare = u.json()
			return nil
		}
		u, err := userByEmail(ctx, tx, email, "authenticated")
		switch {
		case errors.Is(err, errNoUser):
		case err != nil:
			return err
		case c.st.Autoconfirm:
			return errUserAlreadyExists
		case u.emailConfirmed():
			// Confirmations on: answer as for a new user so the address's
			// existence does not leak (clients look at identities == []).
			if err := audit(ctx, tx, c, u, "user_repeated_signup", "user", map[string]any{"provider": "email"}); err != nil {
				return err
			}
			bare = fakeUser(email, req.Data, s.now())
			return nil
		default:
			// Known but unconfirmed: send the confirmation again.
			return confirm(u)
		}
		meta := mergeMeta(req.Data, map[string]any{"sub": "", "email": email, "email_verified": c.st.Autoconfirm, "phone_verified": false})
		id := newUUID()
		meta["sub"] = id
		u, err = createUser(ctx, tx, newUser{ID: id, Email: email, Hash: hash, Confirmed: c.st.Autoconfirm,
			AppMeta: map[string]any{"provider": "email", "providers": []string{"email"}}, UserMeta: meta})
		if err != nil {
			return err
		}
		if err := audit(ctx, tx, c, u, "user_signedup", "team", map[string]any{"provider": "email"}); err != nil {
			return err
		}
		if c.st.Autoconfirm {
			sess, err = s.issueSession(ctx, tx, c, u, "password")
			if err != nil {
				return err
			}
			return audit(ctx, tx, c, u, "login", "account", map[string]any{"provider": "email"})
		}
		return confirm(u)
	})
	if err != nil {
		return err
	}
	if sess != nil {
		return writeSession(w, sess, nil)
	}
	return writeJSON(w, bare)
}

// fakeUser is the obfuscated answer to a repeated sign-up: a fresh id, no
// identities, nothing confirmed.
func fakeUser(email string, data map[string]any, now time.Time) *userJSON {
	now = now.UTC()
	if data == nil {
		data = map[string]any{}
	}
	return &userJSON{ID: newUUID(), Aud: "authenticated", Role: "authenticated", Email: email, ConfirmationSentAt: &now,
		AppMetadata: map[string]any{"provider": "email", "providers": []string{"email"}}, UserMetadata: data,
		Identities: []identityJSON{}, CreatedAt: now, UpdatedAt: now}
}

func (s *Service) signupAnonymous(w http.ResponseWriter, ctx context.Context, c *call, data map[string]any) error {
	if !c.st.AnonymousUsers {
		return errAnonDisabled
	}
	if err := s.limitIP(c, "anonymous", limitOr(c.st.RateLimitAnonymous, 30), time.Hour, 30); err != nil {
		return err
	}
	var sess *sessionJSON
	err := tx(ctx, c, func(tx pgx.Tx) error {
		u, err := createUser(ctx, tx, newUser{Anonymous: true, UserMeta: data})
		if err != nil {
			return err
		}
		if err := audit(ctx, tx, c, u, "user_signedup", "team", map[string]any{"provider": "anonymous"}); err != nil {
			return err
		}
		sess, err = s.issueSession(ctx, tx, c, u, "anonymous")
		return err
	})
	if err != nil {
		return err
	}
	return writeSession(w, sess, nil)
}

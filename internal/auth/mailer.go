package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/mail"
	"github.com/madbase/madbase/internal/ratelimit"
)

// otpKind says where one kind of emailed token lives and what it does.
type otpKind struct {
	column  string // auth.users column holding the token hash
	sentCol string // its *_sent_at column
	mail    mail.Kind
	typ     string // verify type in the link
	method  string // PKCE flow_state authentication_method
	sentAt  func(*user) *time.Time
}

var (
	kindConfirm = otpKind{"confirmation_token", "confirmation_sent_at", mail.Confirmation, "signup", "email/signup",
		func(u *user) *time.Time { return u.ConfirmationSentAt }}
	kindInvite = otpKind{"confirmation_token", "confirmation_sent_at", mail.Invite, "invite", "invite",
		func(u *user) *time.Time { return u.ConfirmationSentAt }}
	kindRecovery = otpKind{"recovery_token", "recovery_sent_at", mail.Recovery, "recovery", "recovery",
		func(u *user) *time.Time { return u.RecoverySentAt }}
	// GoTrue keeps magic links in the recovery columns, so a magic link and
	// a recovery mail share one per-user send window.
	kindMagic = otpKind{"recovery_token", "recovery_sent_at", mail.MagicLink, "magiclink", "magiclink",
		func(u *user) *time.Time { return u.RecoverySentAt }}
	kindReauth = otpKind{"reauthentication_token", "reauthentication_sent_at", mail.Reauthentication, "reauthentication", "",
		func(u *user) *time.Time { return u.ReauthSentAt }}
)

// tokenHash is GoTrue's stored form of an emailed OTP: hex SHA-224 of the
// address followed by the code.
func tokenHash(email, otp string) string {
	h := sha256.Sum224([]byte(strings.ToLower(email) + otp))
	return hex.EncodeToString(h[:])
}

func randomDigits(n int) string {
	var b strings.Builder
	for range n {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		b.WriteByte(byte('0' + d.Int64()))
	}
	return b.String()
}

// pkceParams are a client's PKCE challenge.
type pkceParams struct{ challenge, method string }

func parsePKCE(challenge, method string) (*pkceParams, error) {
	if challenge == "" && method == "" {
		return nil, nil
	}
	if challenge == "" || method == "" {
		return nil, validation("PKCE flow requires code_challenge_method and code_challenge")
	}
	method = strings.ToLower(method)
	if method != "s256" && method != "plain" {
		return nil, validation("code challenge method not supported")
	}
	if len(challenge) < 43 || len(challenge) > 128 {
		return nil, validation("code challenge has to be between 43 and 128 characters")
	}
	for _, ch := range challenge {
		if !(ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || strings.ContainsRune("-._~", ch)) {
			return nil, validation("code challenge contains invalid characters")
		}
	}
	return &pkceParams{challenge: challenge, method: method}, nil
}

// createFlowState records a PKCE challenge for u; the auth code is handed
// out when the emailed link is verified.
func createFlowState(ctx context.Context, q querier, userID string, pk *pkceParams, method string) error {
	_, err := q.Exec(ctx, `insert into auth.flow_state (id, user_id, auth_code, code_challenge_method, code_challenge,
		provider_type, authentication_method, created_at, updated_at) values ($1, $2, $3, $4, $5, 'email', $6, now(), now())`,
		newUUID(), userID, newUUID(), pk.method, pk.challenge, method)
	if err != nil {
		return fmt.Errorf("auth: insert flow state: %w", err)
	}
	return nil
}

// issuedOTP is one generated emailed token.
type issuedOTP struct {
	otp    string // the digits the user can type
	hashed string // what the link carries (pkce_ prefixed in PKCE flows)
}

// prepareOTP generates and stores a token of kind k for u, enforcing the
// per-user send window unless force (generate_link sends nothing).
func (s *Service) prepareOTP(ctx context.Context, q querier, c *call, u *user, k otpKind, pk *pkceParams, force bool) (*issuedOTP, error) {
	if !force {
		if at := k.sentAt(u); at != nil {
			if wait := c.st.maxFrequency() - s.now().Sub(*at); wait > 0 {
				return nil, tooSoon(wait)
			}
		}
	}
	otp := randomDigits(c.st.OTPLength)
	h := tokenHash(u.Email, otp)
	stored := h
	if pk != nil {
		stored = "pkce_" + h
		if err := createFlowState(ctx, q, u.ID, pk, k.method); err != nil {
			return nil, err
		}
	}
	if _, err := q.Exec(ctx, "update auth.users set "+k.column+" = $1, "+k.sentCol+" = now(), updated_at = now() where id = $2",
		stored, u.ID); err != nil {
		return nil, fmt.Errorf("auth: store %s: %w", k.column, err)
	}
	if err := s.recordOneTimeToken(ctx, q, u.ID, k.column, stored, u.Email); err != nil {
		return nil, err
	}
	return &issuedOTP{otp: otp, hashed: stored}, nil
}

// recordOneTimeToken mirrors a token into auth.one_time_tokens, which
// newer Supabase tooling reads.
func (s *Service) recordOneTimeToken(ctx context.Context, q querier, userID, column, hash, relatesTo string) error {
	typ := map[string]string{
		"confirmation_token": "confirmation_token", "recovery_token": "recovery_token",
		"reauthentication_token": "reauthentication_token", "email_change_token_new": "email_change_token_new",
		"email_change_token_current": "email_change_token_current",
	}[column]
	if typ == "" {
		return nil
	}
	_, err := q.Exec(ctx, `insert into auth.one_time_tokens (id, user_id, token_type, token_hash, relates_to, created_at, updated_at)
		values ($1, $2, $3, $4, $5, now(), now())
		on conflict (user_id, token_type) do update set token_hash = excluded.token_hash, relates_to = excluded.relates_to, updated_at = now()`,
		newUUID(), userID, typ, hash, relatesTo)
	if err != nil {
		return fmt.Errorf("auth: record one-time token: %w", err)
	}
	return nil
}

func clearOneTimeToken(ctx context.Context, q querier, userID, typ string) error {
	_, err := q.Exec(ctx, `delete from auth.one_time_tokens where user_id = $1 and token_type = $2::auth.one_time_token_type`, userID, typ)
	if err != nil {
		return fmt.Errorf("auth: clear one-time token: %w", err)
	}
	return nil
}

// sendOTP stores a fresh token of kind k for u and emails it to `to`.
func (s *Service) sendOTP(ctx context.Context, tx pgx.Tx, c *call, u *user, k otpKind, redirect string, pk *pkceParams) error {
	o, err := s.prepareOTP(ctx, tx, c, u, k, pk, false)
	if err != nil {
		return err
	}
	link := ""
	if k.typ != "reauthentication" {
		link = mail.ConfirmationURL(s.authURL(c.p), o.hashed, k.typ, redirect)
	}
	return s.send(ctx, c, k.mail, u.Email, mail.Data{SiteURL: c.st.SiteURL, ConfirmationURL: link, Email: u.Email,
		Token: o.otp, TokenHash: o.hashed, RedirectTo: redirect, Data: u.UserMeta})
}

// send delivers one auth email through the project's SMTP server, within
// the project's hourly email budget. Without SMTP settings nothing is sent
// (the link is still available to admins through generate_link).
func (s *Service) send(ctx context.Context, c *call, kind mail.Kind, to string, d mail.Data) error {
	if n := limitOr(c.st.RateLimitEmailSent, 30); n > 0 {
		if ok, _ := s.limiter.Allow(c.p.Ref+"\x00email", ratelimit.PerWindow(n, time.Hour, n)); !ok {
			return errEmailRateLimited
		}
	}
	if !c.st.SMTP.configured() {
		s.log.WarnContext(ctx, "auth: email not sent: the project has no SMTP settings", "project", c.p.Ref, "kind", string(kind))
		return nil
	}
	ts, err := mail.NewTemplates(c.st.MailTemplates)
	if err != nil {
		return internal(fmt.Errorf("auth: mail templates of %s: %w", c.p.Ref, err))
	}
	cl, err := mail.NewClient(mail.Config{Host: c.st.SMTP.Host, Port: c.st.SMTP.Port, User: c.st.SMTP.User, Pass: c.st.SMTP.Pass,
		Sender: c.st.SMTP.from(), ImplicitTLS: c.st.SMTP.ImplicitTLS, InsecureSkipVerify: c.st.SMTP.InsecureSkipVerify,
		Timeout: 20 * time.Second})
	if err != nil {
		return internal(fmt.Errorf("auth: SMTP settings of %s: %w", c.p.Ref, err))
	}
	if err := cl.SendKind(ctx, ts, kind, to, d); err != nil {
		return internal(fmt.Errorf("auth: sending %s email: %w", kind, err))
	}
	return nil
}

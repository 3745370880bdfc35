package auth

import (
	"fmt"
	"strings"
	"time"

	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/mail"
)

// Settings is a project's "auth" settings section. It is decoded on every
// request, so a change through the admin API applies at once.
type Settings struct {
	Autoconfirm    bool `json:"autoconfirm"`
	DisableSignup  bool `json:"disable_signup"`
	AnonymousUsers bool `json:"anonymous_users"`
	// AllowUnverifiedEmailSignIns lets unconfirmed users log in with a
	// password, as GOTRUE_MAILER_ALLOW_UNVERIFIED_EMAIL_SIGN_INS.
	AllowUnverifiedEmailSignIns bool `json:"allow_unverified_email_sign_ins"`

	JWTExp int `json:"jwt_exp"` // seconds, default 3600
	// RefreshReuseInterval is how long (seconds) a rotated refresh token
	// still answers with the session's current token; default 10.
	RefreshReuseInterval *int `json:"refresh_reuse_interval"`

	PasswordMinLength          int    `json:"password_min_length"`
	PasswordRequiredCharacters string `json:"password_required_characters"`
	// UpdatePasswordRequireReauthentication asks for the /reauthenticate
	// nonce on password changes.
	UpdatePasswordRequireReauthentication bool `json:"update_password_require_reauthentication"`

	SiteURL      string   `json:"site_url"`
	RedirectURLs []string `json:"redirect_urls"`

	SMTP          SMTPSettings                `json:"smtp"`
	MailTemplates map[mail.Kind]mail.Template `json:"mail_templates"`
	// SecureEmailChange needs both the old and the new address to confirm
	// an email change (default true, as GoTrue).
	SecureEmailChange *bool `json:"secure_email_change"`
	OTPExp            int   `json:"otp_exp"`    // seconds, default 86400
	OTPLength         int   `json:"otp_length"` // 6..10, default 6
	// MaxFrequency is the per-user pause (seconds) between emails; default 60.
	MaxFrequency *int `json:"max_frequency"`
	// FlowStateExpiry bounds the PKCE auth-code lifetime (seconds); default 300.
	FlowStateExpiry int `json:"flow_state_expiry"`

	// Rate limits; 0 takes GoTrue's default, a negative value disables.
	RateLimitEmailSent    int `json:"rate_limit_email_sent"`      // per hour, per project
	RateLimitTokenRefresh int `json:"rate_limit_token_refresh"`   // per 5 min per IP (all /token grants)
	RateLimitVerify       int `json:"rate_limit_verify"`          // per 5 min per IP
	RateLimitOTP          int `json:"rate_limit_otp"`             // per 5 min per IP
	RateLimitAnonymous    int `json:"rate_limit_anonymous_users"` // per hour per IP
	// RateLimitHeader names a header holding the client IP (set by a trusted
	// proxy); without it the connection's address is used.
	RateLimitHeader string `json:"rate_limit_header"`
}

// SMTPSettings is the project's mail transport.
type SMTPSettings struct {
	Host       string `json:"host"`
	Port       int    `json:"port"`
	User       string `json:"user"`
	Pass       string `json:"pass"`
	Sender     string `json:"sender"` // "Name <addr>" or addr
	SenderName string `json:"sender_name"`
	AdminEmail string `json:"admin_email"`
	// ImplicitTLS speaks TLS from the first byte (port 465).
	ImplicitTLS bool `json:"implicit_tls"`
	// InsecureSkipVerify accepts any certificate (local test servers only).
	InsecureSkipVerify bool `json:"insecure_skip_verify"`
}

func (s *SMTPSettings) configured() bool { return s.Host != "" }

func (s *SMTPSettings) from() string {
	switch {
	case s.Sender != "":
		return s.Sender
	case s.AdminEmail != "" && s.SenderName != "":
		return fmt.Sprintf("%q <%s>", s.SenderName, s.AdminEmail)
	case s.AdminEmail != "":
		return s.AdminEmail
	}
	return "noreply@localhost"
}

func loadSettings(p *control.Project) (*Settings, error) {
	s := &Settings{}
	if err := p.Section("auth", s); err != nil {
		return nil, fmt.Errorf("auth settings of %s: %w", p.Ref, err)
	}
	if s.JWTExp <= 0 {
		s.JWTExp = 3600
	}
	if s.OTPExp <= 0 {
		s.OTPExp = 86400
	}
	if s.OTPLength < 6 || s.OTPLength > 10 {
		s.OTPLength = 6
	}
	if s.FlowStateExpiry <= 0 {
		s.FlowStateExpiry = 300
	}
	if s.SiteURL == "" {
		s.SiteURL = "http://localhost:3000"
	}
	s.SiteURL = strings.TrimRight(s.SiteURL, "/")
	return s, nil
}

func (s *Settings) reuseInterval() time.Duration {
	if s.RefreshReuseInterval == nil {
		return 10 * time.Second
	}
	return time.Duration(*s.RefreshReuseInterval) * time.Second
}

func (s *Settings) maxFrequency() time.Duration {
	if s.MaxFrequency == nil {
		return 60 * time.Second
	}
	return time.Duration(*s.MaxFrequency) * time.Second
}

func (s *Settings) secureEmailChange() bool {
	return s.SecureEmailChange == nil || *s.SecureEmailChange
}

// limitOr returns v, or def when v is 0, or 0 (unlimited) when v < 0.
func limitOr(v, def int) int {
	switch {
	case v < 0:
		return 0
	case v == 0:
		return def
	}
	return v
}

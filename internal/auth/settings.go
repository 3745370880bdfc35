package auth

import (
	"net/http"
)

// externalProviders are the OAuth providers GoTrue's /settings lists; none
// is implemented here, so all report false.
var externalProviders = []string{"apple", "azure", "bitbucket", "discord", "facebook", "figma", "fly", "github", "gitlab",
	"google", "keycloak", "kakao", "linkedin", "linkedin_oidc", "notion", "snapchat", "spotify", "slack", "slack_oidc",
	"twitch", "twitter", "workos", "zoom"}

// GET /settings.
func (s *Service) settings(w http.ResponseWriter, r *http.Request, c *call) error {
	ext := map[string]any{"email": true, "phone": false, "anonymous_users": c.st.AnonymousUsers}
	for _, p := range externalProviders {
		ext[p] = false
	}
	return writeJSON(w, map[string]any{
		"external":                         ext,
		"disable_signup":                   c.st.DisableSignup,
		"mailer_autoconfirm":               c.st.Autoconfirm,
		"phone_autoconfirm":                false,
		"sms_provider":                     "",
		"saml_enabled":                     false,
		"saml_private_key_next_configured": false,
		"passkeys_enabled":                 false,
	})
}

// Version is what /health reports.
const Version = "v2.170.0-madbase"

// GET /health.
func (s *Service) health(w http.ResponseWriter, r *http.Request, c *call) error {
	return writeJSON(w, map[string]any{"version": Version, "name": "GoTrue",
		"description": "GoTrue is a user registration and authentication API"})
}

// GET /.well-known/jwks.json: projects sign with a shared HS256 secret,
// which is never published, so the key set is empty.
func (s *Service) jwks(w http.ResponseWriter, r *http.Request, c *call) error {
	w.Header().Set("Cache-Control", "public, max-age=600")
	return writeJSON(w, map[string]any{"keys": []any{}})
}

// GET /authorize and /callback: no OAuth provider is configured.
func (s *Service) authorize(w http.ResponseWriter, r *http.Request, c *call) error {
	p := r.URL.Query().Get("provider")
	if p == "" {
		return validation("Unsupported provider: missing provider")
	}
	return bad("validation_failed", "Unsupported provider: provider "+p+" could not be found")
}

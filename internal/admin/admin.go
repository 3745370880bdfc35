package admin

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/madbase/madbase/internal/config"
	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/tenant"
)

// Options configure the admin API.
type Options struct {
	Token string // MADBASE_ADMIN_TOKEN; empty disables the API
	// PublicURL gives a project's API URL (config.PublicURLFor).
	PublicURL func(ref string) string
}

// API is the /admin/v1 handler.
type API struct {
	log     *slog.Logger
	tenants *tenant.Manager
	opt     Options
	mux     *http.ServeMux
}

const bodyLimit = 1 << 20

// New builds the admin API.
func New(log *slog.Logger, tenants *tenant.Manager, opt Options) *API {
	a := &API{log: log, tenants: tenants, opt: opt, mux: http.NewServeMux()}
	a.Handle("POST /admin/v1/projects", a.createProject)
	a.Handle("GET /admin/v1/projects", a.listProjects)
	a.Handle("GET /admin/v1/projects/{ref}", a.getProject)
	a.Handle("PATCH /admin/v1/projects/{ref}", a.updateProject)
	a.Handle("DELETE /admin/v1/projects/{ref}", a.deleteProject)
	a.Handle("POST /admin/v1/projects/{ref}/disable", a.setStatus(control.StatusDisabled))
	a.Handle("POST /admin/v1/projects/{ref}/enable", a.setStatus(control.StatusActive))
	a.Handle("POST /admin/v1/projects/{ref}/rotate-keys", a.rotateKeys)
	a.Handle("POST /admin/v1/projects/{ref}/secrets", a.setSecrets)
	a.Handle("GET /admin/v1/projects/{ref}/secrets", a.listSecrets)
	a.Handle("DELETE /admin/v1/projects/{ref}/secrets", a.deleteSecrets)
	a.Handle("POST /admin/v1/db/test", a.testDB)
	a.Handle("/admin/v1/", func(w http.ResponseWriter, r *http.Request) error {
		return httpx.E(http.StatusNotFound, "not_found", "no such admin endpoint")
	})
	return a
}

// Handle mounts an admin endpoint behind the admin token check.
func (a *API) Handle(pattern string, h httpx.Handler) {
	a.mux.Handle(pattern, httpx.Adapt(a.log, httpx.AdminJSON, func(w http.ResponseWriter, r *http.Request) error {
		httpx.RequestInfo(r.Context()).Route = pattern
		if err := a.authorize(r); err != nil {
			return err
		}
		return h(w, r)
	}))
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	httpx.RequestInfo(r.Context()).Surface = "admin"
	a.mux.ServeHTTP(w, r)
}

var errUnauthorized = httpx.E(http.StatusUnauthorized, "unauthorized", "missing or invalid admin token")

func (a *API) authorize(r *http.Request) error {
	if a.opt.Token == "" {
		return httpx.E(http.StatusUnauthorized, "admin_disabled", "the admin API is disabled: set MADBASE_ADMIN_TOKEN")
	}
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return errUnauthorized
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(h[7:])), []byte(a.opt.Token)) != 1 {
		return errUnauthorized
	}
	return nil
}

var errNoBody = httpx.E(http.StatusBadRequest, "validation_failed", "request body is required")

func decode(r *http.Request, v any) error {
	err := httpx.DecodeJSON(r, v, bodyLimit)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, httpx.ErrBodyTooLarge):
		return httpx.E(http.StatusRequestEntityTooLarge, "body_too_large", "request body too large")
	case errors.Is(err, io.EOF):
		return errNoBody
	default:
		return httpx.Wrap(err, http.StatusBadRequest, "bad_json", "request body is not valid JSON: "+err.Error())
	}
}

// projectJSON is the admin view of a project. The DB URL's password is masked.
type projectJSON struct {
	Ref            string                     `json:"ref"`
	Name           string                     `json:"name"`
	Status         string                     `json:"status"`
	APIURL         string                     `json:"api_url"`
	DBURL          string                     `json:"db_url"`
	AnonKey        string                     `json:"anon_key"`
	ServiceRoleKey string                     `json:"service_role_key"`
	PublishableKey string                     `json:"publishable_key"`
	SecretKey      string                     `json:"secret_key"`
	JWTSecret      string                     `json:"jwt_secret"`
	Settings       map[string]json.RawMessage `json:"settings"`
	CreatedAt      time.Time                  `json:"created_at"`
	UpdatedAt      time.Time                  `json:"updated_at"`
}

func (a *API) view(p *control.Project) projectJSON {
	api := ""
	if a.opt.PublicURL != nil {
		api = a.opt.PublicURL(p.Ref)
	}
	var custom string
	if p.Section("api_url", &custom) == nil && custom != "" {
		api = custom
	}
	return projectJSON{Ref: p.Ref, Name: p.Name, Status: p.Status, APIURL: api, DBURL: maskURL(p.DBURL),
		AnonKey: p.AnonKey, ServiceRoleKey: p.ServiceRoleKey, PublishableKey: p.PublishableKey, SecretKey: p.SecretKey,
		JWTSecret: p.JWTSecret, Settings: p.Settings, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

func maskURL(s string) string {
	i := strings.Index(s, "://")
	at := strings.LastIndex(s, "@")
	if i < 0 || at < 0 {
		return s
	}
	cred := s[i+3 : at]
	if user, _, ok := strings.Cut(cred, ":"); ok {
		return s[:i+3] + user + ":****" + s[at:]
	}
	return s
}

// settingsSections are the sections a project's settings may carry.
var settingsSections = map[string]bool{"auth": true, "storage": true, "functions": true, "realtime": true,
	"rest": true, "api_url": true, "jwt": true}

func checkSettings(s map[string]json.RawMessage) error {
	for k, v := range s {
		if !settingsSections[k] {
			e := httpx.E(http.StatusBadRequest, "validation_failed", "settings: unknown section "+k)
			e.Details = map[string]string{"field": k}
			return e
		}
		var x any
		if json.Unmarshal(v, &x) != nil {
			return httpx.E(http.StatusBadRequest, "validation_failed", k+": invalid JSON")
		}
		switch x.(type) {
		case map[string]any, nil:
		case string:
			if k != "api_url" {
				return httpx.E(http.StatusBadRequest, "validation_failed", k+": must be an object")
			}
		default:
			return httpx.E(http.StatusBadRequest, "validation_failed", k+": must be an object")
		}
	}
	return nil
}

type createReq struct {
	Ref       string `json:"ref"`
	Name      string `json:"name"`
	DBURL     string `json:"db_url"`
	JWTSecret string `json:"jwt_secret"`
}

func (a *API) createProject(w http.ResponseWriter, r *http.Request) error {
	var raw map[string]json.RawMessage
	if err := decode(r, &raw); err != nil {
		return err
	}
	var req createReq
	b, _ := json.Marshal(raw)
	if err := json.Unmarshal(b, &req); err != nil {
		return httpx.Wrap(err, http.StatusBadRequest, "validation_failed", "ref, name, db_url and jwt_secret must be strings")
	}
	settings := map[string]json.RawMessage{}
	for k, v := range raw {
		switch {
		case settingsSections[k]:
			settings[k] = v
		case k == "settings":
			var s map[string]json.RawMessage
			if json.Unmarshal(v, &s) != nil {
				e := httpx.E(http.StatusBadRequest, "validation_failed", "settings: must be an object of sections")
				e.Details = map[string]string{"field": "settings"}
				return e
			}
			for sk, sv := range s {
				settings[sk] = sv
			}
		case k == "ref" || k == "name" || k == "db_url" || k == "jwt_secret":
		default:
			e := httpx.E(http.StatusBadRequest, "validation_failed", "unknown field "+k)
			e.Details = map[string]string{"field": k}
			return e
		}
	}
	if err := checkSettings(settings); err != nil {
		return err
	}
	p, err := a.tenants.Provision(r.Context(), tenant.Spec{Ref: req.Ref, Name: req.Name, DBURL: req.DBURL, JWTSecret: req.JWTSecret, Settings: settings})
	if err != nil {
		return err
	}
	a.log.InfoContext(r.Context(), "project created", "project", p.Ref, "request_id", httpx.RequestID(r.Context()))
	httpx.WriteJSON(w, http.StatusCreated, a.view(p))
	return nil
}

func (a *API) listProjects(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.tenants.Store().Projects(r.Context(), r.URL.Query().Get("include_deleted") == "true")
	if err != nil {
		return err
	}
	out := make([]projectJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, a.view(p))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

var errNoProject = httpx.E(http.StatusNotFound, "project_not_found", "project not found")

func (a *API) project(r *http.Request) (*control.Project, error) {
	ref := r.PathValue("ref")
	if !config.ValidRef(ref) {
		return nil, errNoProject
	}
	httpx.RequestInfo(r.Context()).Project = ref
	p, err := a.tenants.Store().Project(r.Context(), ref)
	if errors.Is(err, control.ErrNotFound) {
		return nil, errNoProject
	}
	return p, err
}

func (a *API) getProject(w http.ResponseWriter, r *http.Request) error {
	p, err := a.project(r)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, a.view(p))
	return nil
}

// updateProject changes name, db_url and settings; settings sections are
// merged key by key (JSON merge patch), so {"auth":{"autoconfirm":false}}
// leaves other auth keys alone.
func (a *API) updateProject(w http.ResponseWriter, r *http.Request) error {
	p, err := a.project(r)
	if err != nil {
		return err
	}
	var raw map[string]json.RawMessage
	if err := decode(r, &raw); err != nil {
		return err
	}
	patch := map[string]json.RawMessage{}
	for k, v := range raw {
		switch k {
		case "name":
			if json.Unmarshal(v, &p.Name) != nil || p.Name == "" {
				return httpx.E(http.StatusBadRequest, "validation_failed", "name: must be a non-empty string")
			}
		case "db_url":
			var u string
			if json.Unmarshal(v, &u) != nil {
				return httpx.E(http.StatusBadRequest, "validation_failed", "db_url: must be a string")
			}
			if err := tenant.ValidateDBURL(u); err != nil {
				return err
			}
			if u != p.DBURL {
				if _, err := tenant.Bootstrap(r.Context(), u); err != nil {
					return httpx.Wrap(err, http.StatusBadRequest, "db_bootstrap_failed", err.Error())
				}
				p.DBURL = u
			}
		case "settings":
			var s map[string]json.RawMessage
			if json.Unmarshal(v, &s) != nil {
				return httpx.E(http.StatusBadRequest, "validation_failed", "settings: must be an object")
			}
			for sk, sv := range s {
				patch[sk] = sv
			}
		case "ref", "status", "jwt_secret":
			return httpx.E(http.StatusBadRequest, "validation_failed", k+": cannot be changed here")
		default:
			if !settingsSections[k] {
				e := httpx.E(http.StatusBadRequest, "validation_failed", "unknown field "+k)
				e.Details = map[string]string{"field": k}
				return e
			}
			patch[k] = v
		}
	}
	if err := checkSettings(patch); err != nil {
		return err
	}
	for k, v := range patch {
		merged, err := mergePatch(p.Settings[k], v)
		if err != nil {
			return httpx.Wrap(err, http.StatusBadRequest, "validation_failed", k+": invalid JSON")
		}
		if merged == nil {
			delete(p.Settings, k)
		} else {
			p.Settings[k] = merged
		}
	}
	if err := a.tenants.Store().Update(r.Context(), p); err != nil {
		return err
	}
	a.tenants.Invalidate(p.Ref)
	httpx.WriteJSON(w, http.StatusOK, a.view(p))
	return nil
}

// mergePatch applies RFC 7386 JSON merge patch.
func mergePatch(orig, patch json.RawMessage) (json.RawMessage, error) {
	var pv any
	if err := json.Unmarshal(patch, &pv); err != nil {
		return nil, err
	}
	if pv == nil {
		return nil, nil
	}
	var ov any
	if len(orig) > 0 {
		_ = json.Unmarshal(orig, &ov)
	}
	out, err := json.Marshal(merge(ov, pv))
	return out, err
}

func merge(orig, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	om, ok := orig.(map[string]any)
	if !ok {
		om = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(om, k)
		} else {
			om[k] = merge(om[k], v)
		}
	}
	return om
}

func (a *API) setStatus(status string) httpx.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := a.project(r)
		if err != nil {
			return err
		}
		if p.Status == control.StatusDeleted {
			return errNoProject
		}
		p.Status = status
		if err := a.tenants.Store().Update(r.Context(), p); err != nil {
			return err
		}
		a.tenants.Invalidate(p.Ref)
		httpx.WriteJSON(w, http.StatusOK, a.view(p))
		return nil
	}
}

// deleteProject soft-deletes (status deleted: the API stops serving it, the
// row and secrets stay) or, with ?hard=true, removes the registration for
// good. The tenant database itself is never dropped: it is the user's.
func (a *API) deleteProject(w http.ResponseWriter, r *http.Request) error {
	p, err := a.project(r)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("hard") == "true" {
		if err := a.tenants.Store().Delete(r.Context(), p.Ref); err != nil {
			return err
		}
	} else {
		p.Status = control.StatusDeleted
		if err := a.tenants.Store().Update(r.Context(), p); err != nil {
			return err
		}
	}
	a.tenants.Invalidate(p.Ref)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) rotateKeys(w http.ResponseWriter, r *http.Request) error {
	p, err := a.project(r)
	if err != nil {
		return err
	}
	var req struct {
		GraceSeconds int64 `json:"grace_seconds"`
	}
	if err := decode(r, &req); err != nil && err != errNoBody {
		return err
	}
	if req.GraceSeconds < 0 || req.GraceSeconds > 30*24*3600 {
		return httpx.E(http.StatusBadRequest, "validation_failed", "grace_seconds: must be between 0 and 2592000")
	}
	np, err := a.tenants.Rotate(r.Context(), p.Ref, time.Duration(req.GraceSeconds)*time.Second)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, a.view(np))
	return nil
}

func validSecretName(s string) bool {
	if s == "" || len(s) > 256 || strings.HasPrefix(s, "SUPABASE_") {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (a *API) setSecrets(w http.ResponseWriter, r *http.Request) error {
	p, err := a.project(r)
	if err != nil {
		return err
	}
	var req []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	kv := map[string]string{}
	for _, s := range req {
		if !validSecretName(s.Name) {
			e := httpx.E(http.StatusBadRequest, "validation_failed", "invalid secret name "+s.Name+": letters, digits and _ only, not starting with SUPABASE_")
			e.Details = map[string]string{"field": "name"}
			return e
		}
		kv[s.Name] = s.Value
	}
	if err := a.tenants.Store().SetSecrets(r.Context(), p.Ref, kv); err != nil {
		return err
	}
	a.tenants.Invalidate(p.Ref)
	return a.listSecrets(w, r)
}

func (a *API) listSecrets(w http.ResponseWriter, r *http.Request) error {
	p, err := a.project(r)
	if err != nil {
		return err
	}
	list, err := a.tenants.Store().ListSecrets(r.Context(), p.Ref)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, list)
	return nil
}

func (a *API) deleteSecrets(w http.ResponseWriter, r *http.Request) error {
	p, err := a.project(r)
	if err != nil {
		return err
	}
	var names []string
	if err := decode(r, &names); err != nil {
		return err
	}
	if err := a.tenants.Store().DeleteSecrets(r.Context(), p.Ref, names); err != nil {
		return err
	}
	a.tenants.Invalidate(p.Ref)
	return a.listSecrets(w, r)
}

func (a *API) testDB(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		DBURL string `json:"db_url"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := tenant.ValidateDBURL(req.DBURL); err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, tenant.Probe(r.Context(), req.DBURL))
	return nil
}

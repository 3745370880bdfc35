package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/madbase/madbase/internal/config"
	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/token"
)

// Spec is what creating a project takes.
type Spec struct {
	Ref       string
	Name      string
	DBURL     string
	JWTSecret string // optional; generated when empty
	Settings  map[string]json.RawMessage
}

func fieldErr(field, msg string) *httpx.Error {
	e := httpx.E(http.StatusBadRequest, "validation_failed", field+": "+msg)
	e.Details = map[string]string{"field": field}
	return e
}

// ValidateDBURL checks a project database URL's form.
func ValidateDBURL(s string) error {
	u, err := url.Parse(s)
	if s == "" || err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return fieldErr("db_url", "must be a postgres:// URL")
	}
	return nil
}

// Provision bootstraps spec's database and registers the project. A database
// that cannot be bootstrapped fails the call (400 refused, 502 unreachable)
// and nothing is registered.
func (m *Manager) Provision(ctx context.Context, spec Spec) (*control.Project, error) {
	if !config.ValidRef(spec.Ref) {
		return nil, fieldErr("ref", "must match [a-z][a-z0-9-]{2,39}")
	}
	if spec.Name == "" {
		spec.Name = spec.Ref
	}
	if len(spec.Name) > 200 {
		return nil, fieldErr("name", "must be at most 200 characters")
	}
	if err := ValidateDBURL(spec.DBURL); err != nil {
		return nil, err
	}
	if spec.JWTSecret == "" {
		spec.JWTSecret = token.RandomString(32)
	} else if len(spec.JWTSecret) < 32 {
		return nil, fieldErr("jwt_secret", "must be at least 32 characters")
	}
	if _, err := m.store.Project(ctx, spec.Ref); err == nil {
		return nil, httpx.E(http.StatusConflict, "project_exists", "a project with this ref already exists")
	} else if !errors.Is(err, control.ErrNotFound) {
		return nil, err
	}
	if _, err := Bootstrap(ctx, spec.DBURL); err != nil {
		var be *BootstrapError
		if errors.As(err, &be) && be.Unreachable {
			return nil, httpx.Wrap(err, http.StatusBadGateway, "db_unreachable", "cannot reach the project database: "+rootCause(err))
		}
		return nil, httpx.Wrap(err, http.StatusBadRequest, "db_bootstrap_failed", err.Error())
	}
	p := &control.Project{
		Ref:            spec.Ref,
		Name:           spec.Name,
		Status:         control.StatusActive,
		DBURL:          spec.DBURL,
		JWTSecret:      spec.JWTSecret,
		PublishableKey: token.NewOpaqueKey(token.PublishablePrefix),
		SecretKey:      token.NewOpaqueKey(token.SecretPrefix),
		Settings:       spec.Settings,
	}
	if p.Settings == nil {
		p.Settings = map[string]json.RawMessage{}
	}
	if err := signKeys(p, time.Now()); err != nil {
		return nil, err
	}
	if err := m.store.Create(ctx, p); err != nil {
		if errors.Is(err, control.ErrExists) {
			return nil, httpx.E(http.StatusConflict, "project_exists", "a project with this ref already exists")
		}
		return nil, err
	}
	m.Invalidate(p.Ref)
	return m.store.Project(ctx, p.Ref)
}

func signKeys(p *control.Project, now time.Time) error {
	var err error
	if p.AnonKey, err = token.APIKey([]byte(p.JWTSecret), p.Ref, RoleAnon, now); err != nil {
		return err
	}
	p.ServiceRoleKey, err = token.APIKey([]byte(p.JWTSecret), p.Ref, RoleService, now)
	return err
}

// Rotate gives p a new JWT secret and new legacy keys; tokens signed with the
// old secret keep verifying for grace (0: not at all).
func (m *Manager) Rotate(ctx context.Context, ref string, grace time.Duration) (*control.Project, error) {
	p, err := m.store.Project(ctx, ref)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if grace > 0 {
		p.OldJWTSecret, p.OldJWTSecretUntil = p.JWTSecret, now.Add(grace)
	} else {
		p.OldJWTSecret, p.OldJWTSecretUntil = "", time.Time{}
	}
	p.JWTSecret = token.RandomString(32)
	if err := signKeys(p, now); err != nil {
		return nil, err
	}
	if err := m.store.Update(ctx, p); err != nil {
		return nil, err
	}
	m.Invalidate(ref)
	return p, nil
}

func rootCause(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// ProbeResult is what POST /admin/v1/db/test reports.
type ProbeResult struct {
	Reachable      bool   `json:"reachable"`
	ServerVersion  string `json:"server_version,omitempty"`
	WalLevel       string `json:"wal_level,omitempty"`
	LogicalWAL     bool   `json:"logical_replication"`
	CanCreateRoles bool   `json:"can_create_roles"`
	Superuser      bool   `json:"superuser"`
	Error          string `json:"error,omitempty"`
}

// Probe connects to url and reports what bootstrap and realtime will need.
func Probe(ctx context.Context, dbURL string) ProbeResult {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := connect(ctx, dbURL)
	if err != nil {
		return ProbeResult{Error: rootCause(err)}
	}
	defer conn.Close(context.WithoutCancel(ctx))
	r := ProbeResult{Reachable: true}
	err = conn.QueryRow(ctx, `select current_setting('server_version'), current_setting('wal_level'),
		r.rolcreaterole or r.rolsuper, r.rolsuper from pg_roles r where r.rolname = current_user`).
		Scan(&r.ServerVersion, &r.WalLevel, &r.CanCreateRoles, &r.Superuser)
	if err != nil {
		r.Error = fmt.Sprintf("inspecting the server: %v", rootCause(err))
	}
	r.LogicalWAL = r.WalLevel == "logical"
	return r
}

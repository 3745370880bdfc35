package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/internal/config"
	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/secret"
	"github.com/madbase/madbase/internal/server"
	"github.com/madbase/madbase/internal/tenant"
	"github.com/madbase/madbase/internal/testutil/pgtest"
	"github.com/madbase/madbase/internal/testutil/syncbuf"
)

// Template names Setup creates.
const (
	ControlTemplate = "apitest_control"
	TenantTemplate  = "apitest_tenant"
)

// AdminToken is the admin token of every Env.
const AdminToken = "apitest-admin-token-0123456789"

// EncryptionKey is the hex key of every Env.
const EncryptionKey = "5b2f1e0c9a8d7e6f5b2f1e0c9a8d7e6f5b2f1e0c9a8d7e6f5b2f1e0c9a8d7e6f"

// Setup creates the migrated control and bootstrapped tenant templates; pass
// it (or call it from your own setup) in pgtest.Main.
func Setup(ctx context.Context, c *pgtest.Cluster) error {
	if err := c.CreateTemplate(ctx, TenantTemplate, func(ctx context.Context, url string) error {
		_, err := tenant.Bootstrap(ctx, url)
		return err
	}); err != nil {
		return err
	}
	return c.CreateTemplate(ctx, ControlTemplate, func(ctx context.Context, url string) error {
		key, _ := config.FromEnv(map[string]string{"MADBASE_DATABASE_URL": url, "MADBASE_ENCRYPTION_KEY": EncryptionKey})
		box, err := secret.New(key.EncryptionKey)
		if err != nil {
			return err
		}
		s, err := control.Open(ctx, url, box)
		if err != nil {
			return err
		}
		defer s.Close()
		_, err = s.Migrate(ctx)
		return err
	})
}

// CreateFixture makes template database name: a bootstrapped tenant
// database with sql run in it, for a package's fixture schema.
func CreateFixture(ctx context.Context, c *pgtest.Cluster, name, sql string) error {
	return c.CreateTemplate(ctx, name, func(ctx context.Context, url string) error {
		if _, err := tenant.Bootstrap(ctx, url); err != nil {
			return err
		}
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	})
}

// Env is a MadBase server over a fresh control database.
type Env struct {
	PG      *pgtest.Cluster
	Server  *server.Server
	Handler http.Handler
	Config  *config.Config
	log     *syncbuf.Buffer
}

// Logs returns the server's JSON log lines so far.
func (e *Env) Logs() string {
	return e.log.String()
}

// New builds a server. extra overrides MADBASE_* variables.
func New(t testing.TB, pg *pgtest.Cluster, extra map[string]string) *Env {
	t.Helper()
	env := map[string]string{
		"MADBASE_DATABASE_URL":   pg.NewDB(t, ControlTemplate),
		"MADBASE_ENCRYPTION_KEY": EncryptionKey,
		"MADBASE_ADMIN_TOKEN":    AdminToken,
		"MADBASE_DATA_DIR":       t.TempDir(),
		"MADBASE_LOG_LEVEL":      "debug",
	}
	for k, v := range extra {
		env[k] = v
	}
	cfg, err := config.FromEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	lw := &syncbuf.Buffer{}
	var w io.Writer = lw
	if os.Getenv("APITEST_LOG") != "" {
		w = io.MultiWriter(lw, os.Stderr)
	}
	log := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: cfg.LogLevel}))
	srv, err := server.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return &Env{PG: pg, Server: srv, Handler: srv.Handler(), Config: cfg, log: lw}
}

// Project is a created project as the admin API returned it.
type Project struct {
	Ref            string          `json:"ref"`
	Name           string          `json:"name"`
	Status         string          `json:"status"`
	AnonKey        string          `json:"anon_key"`
	ServiceRoleKey string          `json:"service_role_key"`
	PublishableKey string          `json:"publishable_key"`
	SecretKey      string          `json:"secret_key"`
	JWTSecret      string          `json:"jwt_secret"`
	Settings       json.RawMessage `json:"settings"`
	// DBURL is the tenant database's real URL (the API masks it).
	DBURL string `json:"-"`
}

// CreateProject creates a project with a fresh bootstrapped database through
// the admin API. settings may be nil.
func (e *Env) CreateProject(t testing.TB, ref string, settings map[string]any) *Project {
	t.Helper()
	return e.CreateProjectOn(t, ref, e.PG.NewDB(t, TenantTemplate), settings)
}

// CreateProjectOn creates a project on the database at dbURL (one made
// from a fixture template of the caller's, say) through the admin API.
func (e *Env) CreateProjectOn(t testing.TB, ref, dbURL string, settings map[string]any) *Project {
	t.Helper()
	body := map[string]any{"ref": ref, "name": ref, "db_url": dbURL}
	for k, v := range settings {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	req := httptest.NewRequest("POST", "/admin/v1/projects", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+AdminToken)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.Handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create project %s: %d %s", ref, rec.Code, rec.Body.String())
	}
	var p Project
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	p.DBURL = dbURL
	return &p
}

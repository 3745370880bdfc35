package rest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/rest/schema"
)

// projectCache is one project's schema cache: the snapshot, the settings it
// was loaded with, and the listener that reloads it on NOTIFY pgrst.
type projectCache struct {
	ref      string
	rawRest  string // the raw "rest" settings: with dbURL, a change makes a new cache
	settings Settings
	dbURL    string

	mu      sync.Mutex
	snap    *schema.Snapshot
	loading chan struct{} // closed when the running load ends
	cancel  context.CancelFunc
	reloads int
}

// current reports whether c was built from p's database and settings.
func (c *projectCache) current(p *control.Project) bool {
	return c.dbURL == p.DBURL && c.rawRest == string(p.Settings["rest"])
}

// cacheFor returns the project's cache, replacing one built from other
// settings or another database.
func (s *Service) cacheFor(p *control.Project) (*projectCache, error) {
	s.mu.Lock()
	c := s.caches[p.Ref]
	if c != nil && c.current(p) {
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()
	st, err := loadSettings(p)
	if err != nil {
		return nil, restErr(500, "PGRSTX00", "Invalid rest settings", nil, nil).With(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.caches[p.Ref]; c != nil {
		if c.current(p) {
			return c, nil
		}
		c.stop()
	}
	c = &projectCache{ref: p.Ref, rawRest: string(p.Settings["rest"]), settings: st, dbURL: p.DBURL}
	s.caches[p.Ref] = c
	return c, nil
}

// drop forgets ref's cache ("" = all) and stops its listener.
func (s *Service) drop(ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for r, c := range s.caches {
		if ref == "" || r == ref {
			c.stop()
			delete(s.caches, r)
		}
	}
}

func (c *projectCache) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		c.cancel()
		c.cancel = nil
	}
}

// snapshot returns the schema cache, loading it on first use (one load at
// a time; concurrent requests wait for it). The listener is started before
// the first load so no NOTIFY between the two is lost.
func (s *Service) snapshot(ctx context.Context, p *control.Project, c *projectCache) (*schema.Snapshot, error) {
	for {
		c.mu.Lock()
		if c.snap != nil {
			snap := c.snap
			c.mu.Unlock()
			return snap, nil
		}
		if c.loading != nil {
			ch := c.loading
			c.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		ch := make(chan struct{})
		c.loading = ch
		first := c.cancel == nil
		if first {
			lctx, cancel := context.WithCancel(s.base)
			c.cancel = cancel
			go s.listen(lctx, c)
		}
		c.mu.Unlock()
		snap, err := s.load(ctx, p, c, first)
		c.mu.Lock()
		c.loading = nil
		if err == nil {
			c.snap = snap
		}
		c.mu.Unlock()
		close(ch)
		if err != nil {
			s.log.ErrorContext(ctx, "rest: schema cache load failed", "project", p.Ref, "err", err)
			return nil, restErr(503, "PGRST002", "Could not query the database for the schema cache. Retrying.", nil, nil).With(err)
		}
		return snap, nil
	}
}

func (s *Service) load(ctx context.Context, p *control.Project, c *projectCache, first bool) (*schema.Snapshot, error) {
	pool, err := s.tenants.Pool(ctx, p)
	if err != nil {
		return nil, err
	}
	if first {
		s.ddlWatch(ctx, c, pool)
	}
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	snap, err := schema.Load(lctx, pool, c.settings.Schemas)
	s.metrics.observe(c.ref, "load", err, time.Since(start).Seconds())
	return snap, err
}

// reload replaces the snapshot after a NOTIFY, reading the catalog on the
// listener's own connection; on failure the old snapshot stays.
func (s *Service) reload(ctx context.Context, c *projectCache, db schema.Querier) {
	s.mu.Lock()
	current := s.caches[c.ref] == c
	s.mu.Unlock()
	if !current {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	start := time.Now()
	snap, err := schema.Load(lctx, db, c.settings.Schemas)
	s.metrics.observe(c.ref, "reload", err, time.Since(start).Seconds())
	if err != nil {
		s.log.Warn("rest: schema reload failed, keeping the old cache", "project", c.ref, "err", err)
		return
	}
	c.mu.Lock()
	c.snap = snap
	c.reloads++
	c.mu.Unlock()
	s.log.Info("rest: schema cache reloaded", "project", c.ref)
}

// listen holds LISTEN pgrst on its own connection until ctx ends,
// reconnecting with backoff; after a reconnect it reloads, since
// notifications sent while it was away are lost.
func (s *Service) listen(ctx context.Context, c *projectCache) {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		connected, err := s.listenOnce(ctx, c)
		if ctx.Err() != nil {
			return
		}
		if connected {
			backoff = 200 * time.Millisecond
		}
		s.log.Debug("rest: schema listener disconnected", "project", c.ref, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (s *Service) listenOnce(ctx context.Context, c *projectCache) (bool, error) {
	cfg, err := pgx.ParseConfig(c.dbURL)
	if err != nil {
		return false, err
	}
	cfg.RuntimeParams["application_name"] = "madbase-rest-listener"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "listen pgrst"); err != nil {
		return false, err
	}
	c.mu.Lock()
	loaded := c.snap != nil
	c.mu.Unlock()
	if loaded {
		s.reload(ctx, c, conn)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		if n.Payload != "" && n.Payload != "reload schema" {
			continue // "reload config": settings live in the control plane
		}
		// Coalesce a burst of notifications (a migration) into one reload.
		for {
			wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			_, err := conn.WaitForNotification(wctx)
			cancel()
			if err == nil {
				continue
			}
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			if conn.PgConn().IsClosed() {
				return true, err
			}
			break
		}
		s.reload(ctx, c, conn)
	}
}

// ddlWatch installs (rest.reload_on_ddl) or removes the event triggers that
// NOTIFY pgrst on DDL. It runs once per cache and checks before creating,
// because creating objects would itself fire an installed trigger.
func (s *Service) ddlWatch(ctx context.Context, c *projectCache, db *pgxpool.Pool) {
	sql := ddlUnwatchSQL
	if c.settings.ReloadOnDDL {
		sql = ddlWatchSQL
	}
	if _, err := db.Exec(ctx, sql); err != nil {
		s.log.Warn("rest: DDL watch setup failed (needs a superuser connection)", "project", c.ref, "err", fmt.Errorf("reload_on_ddl=%v: %w", c.settings.ReloadOnDDL, err))
	}
}

const ddlWatchSQL = `DO $madbase$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'madbase_rest_ddl_watch') THEN
    CREATE OR REPLACE FUNCTION madbase.rest_ddl_notify() RETURNS event_trigger LANGUAGE plpgsql AS
      $f$ BEGIN NOTIFY pgrst, 'reload schema'; END $f$;
    CREATE EVENT TRIGGER madbase_rest_ddl_watch ON ddl_command_end EXECUTE FUNCTION madbase.rest_ddl_notify();
    CREATE EVENT TRIGGER madbase_rest_drop_watch ON sql_drop EXECUTE FUNCTION madbase.rest_ddl_notify();
  END IF;
END
$madbase$`

const ddlUnwatchSQL = `DO $madbase$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'madbase_rest_ddl_watch') THEN
    DROP EVENT TRIGGER madbase_rest_ddl_watch;
    DROP EVENT TRIGGER IF EXISTS madbase_rest_drop_watch;
  END IF;
END
$madbase$`

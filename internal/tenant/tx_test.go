package tenant

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/token"
)

type seen struct{ user, claims, sub, role, method string }

func observe(t *testing.T, m *Manager, a *Auth) seen {
	t.Helper()
	var s seen
	err := m.Tx(t.Context(), a, TxOptions{ReadOnly: true}, func(ctx context.Context, q Querier) error {
		return q.QueryRow(ctx, `select current_user, coalesce(current_setting('request.jwt.claims', true), ''),
			coalesce(current_setting('request.jwt.claim.sub', true), ''), coalesce(current_setting('request.jwt.claim.role', true), ''),
			coalesce(current_setting('request.method', true), '')`).Scan(&s.user, &s.claims, &s.sub, &s.role, &s.method)
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTxSetsRoleAndClaims(t *testing.T) {
	m := newManager(t, Options{})
	p := provision(t, m, "alpha")
	ctx := t.Context()
	pool, err := m.Pool(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `create table public.notes (id int primary key, owner uuid, body text);
		alter table public.notes enable row level security;
		create policy own on public.notes for select to authenticated using (owner = auth.uid());
		insert into public.notes values (1, '11111111-1111-1111-1111-111111111111', 'mine'), (2, '22222222-2222-2222-2222-222222222222', 'theirs');`); err != nil {
		t.Fatal(err)
	}
	user := &Auth{Project: p, Claims: token.Claims{"role": "authenticated", "sub": "11111111-1111-1111-1111-111111111111", "email": "u@x.io"}}
	r := httptest.NewRequest("PATCH", "/rest/v1/notes?id=eq.1", nil)
	r.Header.Set("X-Custom", "v")
	var cur, uid, email, sub, hdr, method string
	var n int
	err = m.Tx(ctx, user, TxOptions{Request: r, Settings: map[string]string{"storage.operation": "object.get"}}, func(ctx context.Context, q Querier) error {
		if err := q.QueryRow(ctx, `select current_user, auth.uid()::text, auth.jwt()->>'email', current_setting('request.jwt.claim.sub'),
			current_setting('request.headers')::json->>'x-custom', current_setting('request.method')`).Scan(&cur, &uid, &email, &sub, &hdr, &method); err != nil {
			return err
		}
		var op string
		if err := q.QueryRow(ctx, `select storage.operation()`).Scan(&op); err != nil || op != "object.get" {
			t.Errorf("extra setting: %q %v", op, err)
		}
		return q.QueryRow(ctx, `select count(*) from public.notes`).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	if cur != "authenticated" || uid != "11111111-1111-1111-1111-111111111111" || email != "u@x.io" || sub != uid || hdr != "v" || method != "PATCH" {
		t.Fatalf("got user=%s uid=%s email=%s sub=%s hdr=%s method=%s", cur, uid, email, sub, hdr, method)
	}
	if n != 1 {
		t.Fatalf("RLS: authenticated saw %d rows, want 1", n)
	}
	svc := &Auth{Project: p, Claims: token.Claims{"role": "service_role"}}
	_ = m.Tx(ctx, svc, TxOptions{ReadOnly: true}, func(ctx context.Context, q Querier) error {
		return q.QueryRow(ctx, `select count(*) from public.notes`).Scan(&n)
	})
	if n != 2 {
		t.Fatalf("service_role saw %d rows, want 2 (bypass)", n)
	}
	// Read-only transactions refuse writes.
	err = m.Tx(ctx, svc, TxOptions{ReadOnly: true}, func(ctx context.Context, q Querier) error {
		_, err := q.Exec(ctx, `delete from public.notes`)
		return err
	})
	if err == nil {
		t.Fatal("write in read-only tx succeeded")
	}
	// Roles outside the allowed set.
	err = m.Tx(ctx, &Auth{Project: p, Claims: token.Claims{"role": "postgres"}}, TxOptions{}, func(context.Context, Querier) error { return nil })
	if e := httpx.As(err); e.Status != 403 {
		t.Fatalf("role postgres: %v", err)
	}
}

// Supabase Realtime shipped a claims leak across pooled connections: after
// any way a transaction can end, the next user must see none of it.
func TestClaimsDoNotLeakAcrossPooledConnections(t *testing.T) {
	m := newManager(t, Options{MaxConns: 1})
	p := provision(t, m, "alpha")
	ctx := t.Context()
	user := &Auth{Project: p, Claims: token.Claims{"role": "authenticated", "sub": "11111111-1111-1111-1111-111111111111"}}
	anon := &Auth{Project: p, Claims: token.Claims{"role": "anon"}}
	setup := func(ctx context.Context, q Querier) error {
		_, err := q.Exec(ctx, "select auth.uid()")
		return err
	}
	cases := map[string]func(){
		"success": func() { _ = m.Tx(ctx, user, TxOptions{}, setup) },
		"error": func() {
			_ = m.Tx(ctx, user, TxOptions{}, func(ctx context.Context, q Querier) error {
				_ = setup(ctx, q)
				return errors.New("handler failed")
			})
		},
		"sql error": func() {
			_ = m.Tx(ctx, user, TxOptions{}, func(ctx context.Context, q Querier) error {
				_, err := q.Exec(ctx, "select 1/0")
				return err
			})
		},
		"panic": func() {
			defer func() { _ = recover() }()
			_ = m.Tx(ctx, user, TxOptions{}, func(ctx context.Context, q Querier) error {
				_ = setup(ctx, q)
				panic("boom")
			})
		},
		"cancelled": func() {
			cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			_ = m.Tx(cctx, user, TxOptions{}, func(ctx context.Context, q Querier) error {
				_, err := q.Exec(ctx, "select pg_sleep(5)")
				return err
			})
		},
		"statement timeout": func() {
			_ = m.Tx(ctx, user, TxOptions{Settings: map[string]string{"statement_timeout": "50ms"}}, func(ctx context.Context, q Querier) error {
				_, err := q.Exec(ctx, "select pg_sleep(5)")
				return err
			})
		},
		"rollback":     func() { _ = m.Tx(ctx, user, TxOptions{Rollback: true}, setup) },
		"end in batch": func() { _ = m.Tx(ctx, user, TxOptions{EndInBatch: true}, setup) },
		"end in batch, sql error": func() {
			_ = m.Tx(ctx, user, TxOptions{EndInBatch: true}, func(ctx context.Context, q Querier) error {
				_, err := q.Exec(ctx, "select 1/0")
				return err
			})
		},
		"end in batch, handler error": func() {
			_ = m.Tx(ctx, user, TxOptions{EndInBatch: true, ReadOnly: true}, func(ctx context.Context, q Querier) error {
				_ = setup(ctx, q)
				return errors.New("verdict after reading")
			})
		},
	}
	for name, run := range cases {
		run()
		s := observe(t, m, anon)
		if s.user != "anon" || s.sub != "" || s.role != "anon" || s.claims != `{"role":"anon"}` {
			t.Errorf("after %s the next transaction saw %+v", name, s)
		}
		// And outside any transaction the connection is back to its login role.
		pool, _ := m.Pool(ctx, p)
		var cur, claims string
		if err := pool.QueryRow(ctx, "select current_user, coalesce(current_setting('request.jwt.claims', true), '')").Scan(&cur, &claims); err != nil {
			t.Fatal(err)
		}
		if cur != "postgres" || claims != "" {
			t.Errorf("after %s a plain query ran as %s with claims %q", name, cur, claims)
		}
	}
}

func TestRotateKeys(t *testing.T) {
	m := newManager(t, Options{})
	p := provision(t, m, "alpha")
	ctx := t.Context()
	old := p.AnonKey
	np, err := m.Rotate(ctx, "alpha", 0)
	if err != nil {
		t.Fatal(err)
	}
	if np.AnonKey == old || np.JWTSecret == p.JWTSecret {
		t.Fatal("keys did not change")
	}
	if _, err := VerifyToken(np, old); err == nil {
		t.Fatal("old key accepted after rotation with no grace")
	}
	if _, err := VerifyToken(np, np.AnonKey); err != nil {
		t.Fatal(err)
	}
	g, err := m.Rotate(ctx, "alpha", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyToken(g, np.AnonKey); err != nil {
		t.Fatalf("previous key refused inside the grace window: %v", err)
	}
	if _, err := VerifyToken(g, old); err == nil {
		t.Fatal("key from two rotations ago accepted")
	}
	g.OldJWTSecretUntil = time.Now().Add(-time.Second)
	if _, err := VerifyToken(g, np.AnonKey); err == nil {
		t.Fatal("previous key accepted after the grace window")
	}
}

// tableT provisions a project on a one-connection manager with a table
// public.t (v int), and returns the manager, the project's pool and a
// service_role caller.
func tableT(t *testing.T) (*Manager, *pgxpool.Pool, *Auth) {
	t.Helper()
	m := newManager(t, Options{MaxConns: 1})
	p := provision(t, m, "alpha")
	pool, err := m.Pool(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), "create table public.t (v int)"); err != nil {
		t.Fatal(err)
	}
	return m, pool, &Auth{Project: p, Claims: token.Claims{"role": "service_role"}}
}

func TestEndInBatch(t *testing.T) {
	m, pool, svc := tableT(t)
	ctx := t.Context()
	err := m.Tx(ctx, svc, TxOptions{EndInBatch: true}, func(ctx context.Context, q Querier) error {
		var user string
		if err := q.QueryRow(ctx, "insert into public.t values (1) returning current_user").Scan(&user); err != nil {
			return err
		}
		if user != "service_role" {
			t.Errorf("ran as %s", user)
		}
		if _, err := q.Exec(ctx, "insert into public.t values (2)"); !errors.Is(err, ErrTxEnded) {
			t.Errorf("second statement: %v, want ErrTxEnded", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = m.Tx(ctx, svc, TxOptions{EndInBatch: true, Rollback: true}, func(ctx context.Context, q Querier) error {
		_, err := q.Exec(ctx, "insert into public.t values (3)")
		return err
	})
	// Read only: the write is refused, and the setting ends with the
	// transaction (MaxConns 1: the next one gets the same connection).
	_ = m.Tx(ctx, svc, TxOptions{EndInBatch: true, ReadOnly: true}, func(ctx context.Context, q Querier) error {
		_, err := q.Exec(ctx, "insert into public.t values (4)")
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Code != "25006" {
			t.Errorf("write in a read-only transaction: %v, want 25006", err)
		}
		return err
	})
	// A failing statement rolls back the statements before it in the batch.
	_ = m.Tx(ctx, svc, TxOptions{EndInBatch: true}, func(ctx context.Context, q Querier) error {
		b := &pgx.Batch{}
		b.Queue("insert into public.t values (5)")
		b.Queue("select 1/0")
		return q.SendBatch(ctx, b).Close()
	})
	err = m.Tx(ctx, svc, TxOptions{}, func(ctx context.Context, q Querier) error {
		var ro, role string
		if err := q.QueryRow(ctx, "select current_setting('transaction_read_only'), current_user").Scan(&ro, &role); err != nil {
			return err
		}
		if ro != "off" || role != "service_role" {
			t.Errorf("next transaction: transaction_read_only=%s role=%s", ro, role)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var vals []int32
	rows, _ := pool.Query(ctx, "select v from public.t order by v")
	for rows.Next() {
		var v int32
		_ = rows.Scan(&v)
		vals = append(vals, v)
	}
	if len(vals) != 1 || vals[0] != 1 {
		t.Fatalf("rows = %v, want [1]: first committed, second refused, third rolled back, fourth read only, fifth failed", vals)
	}
}

func TestHold(t *testing.T) {
	m, pool, svc := tableT(t)
	ctx := t.Context()
	// The hold fails when the statement set hold.me.
	const hold = `select 1 / (case when current_setting('hold.me', true) = 'yes' then 0 else 1 end)`
	insert := func(v int, judge bool, verdict error) error {
		return m.Tx(ctx, svc, TxOptions{EndInBatch: true, Hold: hold}, func(ctx context.Context, q Querier) error {
			b := &pgx.Batch{}
			b.Queue("insert into public.t values ($1)", v)
			b.Queue("select set_config('hold.me', $1, true)", map[bool]string{true: "yes", false: "no"}[judge])
			br := q.SendBatch(ctx, b)
			if _, err := br.Exec(); err != nil {
				_ = br.Close()
				return err
			}
			if err := br.Close(); err != nil {
				return err
			}
			if _, err := q.Exec(ctx, "select 1"); !errors.Is(err, ErrTxEnded) {
				t.Errorf("statement after the batch: %v, want ErrTxEnded", err)
			}
			return verdict
		})
	}
	if err := insert(1, false, nil); err != nil {
		t.Fatal(err)
	}
	// Committed in the round trip: a verdict after it cannot undo it.
	if err := insert(2, false, errors.New("too late")); err == nil {
		t.Fatal("verdict error lost")
	}
	if err := insert(3, true, nil); err != nil {
		t.Fatal(err)
	}
	if err := insert(4, true, errors.New("refused")); err == nil {
		t.Fatal("verdict error lost")
	}
	// A failing statement fails the request whatever the hold.
	err := m.Tx(ctx, svc, TxOptions{EndInBatch: true, Hold: hold}, func(ctx context.Context, q Querier) error {
		_, err := q.Exec(ctx, "insert into public.t values (1/0)")
		return err
	})
	if err == nil {
		t.Fatal("division by zero in the statement was not reported")
	}
	var vals []int32
	rows, _ := pool.Query(ctx, "select v from public.t order by v")
	for rows.Next() {
		var v int32
		_ = rows.Scan(&v)
		vals = append(vals, v)
	}
	if fmt.Sprint(vals) != "[1 2 3]" {
		t.Fatalf("rows = %v, want [1 2 3]: held back 4 refused, the rest committed", vals)
	}
	// Nothing is left open on the one connection.
	var status string
	if err := pool.QueryRow(ctx, "select current_setting('hold.me', true)").Scan(&status); err != nil || status != "" {
		t.Fatalf("hold.me after the transactions: %q %v", status, err)
	}
}

func TestRoleSettings(t *testing.T) {
	m := newManager(t, Options{})
	p := provision(t, m, "roleset")
	ctx := t.Context()
	pool, err := m.Pool(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	// Bootstrap gave the API roles Supabase's timeouts; a setting for this
	// database only overrides them, and a custom one travels too.
	if _, err := pool.Exec(ctx, `do $$ begin
		execute format('alter role authenticated in database %I set statement_timeout = %L', current_database(), '150ms');
		execute format('alter role authenticated in database %I set app.flavour = %L', current_database(), 'mint');
		execute format('alter role service_role in database %I set log_min_messages = %L', current_database(), 'debug1');
	end $$`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Roles are cluster-wide; the per-database settings go with the
		// database, but leave nothing behind while it lives.
		_, _ = pool.Exec(context.Background(), `do $$ begin
			execute format('alter role authenticated in database %I reset all', current_database());
			execute format('alter role service_role in database %I reset all', current_database());
		end $$`)
	})
	show := func(role string) (timeout, flavour string, err error) {
		err = m.Tx(ctx, &Auth{Project: p, Claims: token.Claims{"role": role}}, TxOptions{ReadOnly: true, EndInBatch: true}, func(ctx context.Context, q Querier) error {
			return q.QueryRow(ctx, `select current_setting('statement_timeout'), coalesce(current_setting('app.flavour', true), '')`).Scan(&timeout, &flavour)
		})
		return
	}
	for role, want := range map[string][2]string{"anon": {"3s", ""}, "authenticated": {"150ms", "mint"}, "service_role": {"0", ""}} {
		timeout, flavour, err := show(role)
		if err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		if timeout != want[0] || flavour != want[1] {
			t.Errorf("%s: statement_timeout %q app.flavour %q, want %q %q", role, timeout, flavour, want[0], want[1])
		}
	}
	// The timeout is enforced, and the connection is fine afterwards.
	err = m.Tx(ctx, &Auth{Project: p, Claims: token.Claims{"role": "authenticated"}}, TxOptions{}, func(ctx context.Context, q Querier) error {
		_, err := q.Exec(ctx, `select pg_sleep(2)`)
		return err
	})
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57014" {
		t.Fatalf("a 2s query under a 150ms role timeout: %v", err)
	}
	if timeout, _, err := show("authenticated"); err != nil || timeout != "150ms" {
		t.Fatalf("after the timeout: %q %v", timeout, err)
	}
}

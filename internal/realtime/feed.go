package realtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/control"
	pgerr "github.com/madbase/madbase/internal/pg"
	"github.com/madbase/madbase/internal/realtime/pgoutput"
)

// feed is a project's replication stream and its postgres_changes
// subscribers. The stream runs while the project has joined channels and
// for WarmFor after the last one left.
type feed struct {
	s   *Service
	ref string

	mu      sync.Mutex
	proj    *control.Project
	users   int
	lastUse time.Time
	subs    map[*channel][]*binding

	// ready is closed while the slot is positioned so that every change
	// committed from now on will be streamed; joins wait for it.
	ready   chan struct{}
	isReady bool
	failing bool // the last attempt failed before becoming ready

	wake    chan struct{}
	resumed bool // a run already happened in this process

	// leader: this node streams the project (with a bus; see cluster.go).
	leader     atomic.Bool
	remoteWant atomic.Int64 // unix ns of the last follower's "still subscribed"

	// hmu serialises transaction handling (the stream's, or the bus's
	// while following) and guards what follows.
	hmu     sync.Mutex
	metas   map[uint32]*tableMeta
	rels    map[uint32]*pgoutput.Relation // relations received from the leader
	relDefs map[uint32]string
	acked   atomic.Uint64
}

var errIdle = errors.New("realtime: no subscribers")

// feed returns the project's feed, starting its loop on first use.
func (s *Service) feed(p *control.Project) *feed {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.feeds[p.Ref]
	if f == nil {
		f = &feed{s: s, ref: p.Ref, proj: p, subs: map[*channel][]*binding{}, wake: make(chan struct{}, 1), ready: make(chan struct{}), metas: map[uint32]*tableMeta{}}
		s.feeds[p.Ref] = f
		if s.root.Err() == nil {
			s.wg.Add(1)
			go f.loop()
		}
	}
	return f
}

func (s *Service) useFeed(p *control.Project) {
	f := s.feed(p)
	f.mu.Lock()
	f.users++
	f.proj = p
	f.lastUse = time.Now()
	f.mu.Unlock()
	f.poke()
}

func (s *Service) releaseFeed(ref string) {
	s.mu.Lock()
	f := s.feeds[ref]
	s.mu.Unlock()
	if f == nil {
		return
	}
	f.mu.Lock()
	f.users--
	f.lastUse = time.Now()
	f.mu.Unlock()
	f.poke()
}

func (f *feed) setReady(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case on && !f.isReady:
		close(f.ready)
	case !on && f.isReady:
		f.ready = make(chan struct{})
	}
	f.isReady = on
	if on {
		f.failing = false
	}
}

// waitReady waits until changes committed from now on are sure to be
// streamed, or ctx ends.
func (f *feed) waitReady(ctx context.Context) bool {
	for {
		f.mu.Lock()
		ready, failing := f.ready, f.failing
		f.mu.Unlock()
		if failing {
			return false
		}
		select {
		case <-ready:
			return true
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (f *feed) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *feed) add(ch *channel, bs []*binding) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs[ch] = bs
}

func (f *feed) remove(ch *channel) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subs, ch)
}

func (f *feed) state() (users int, idleFor time.Duration, p *control.Project) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.users, time.Since(f.lastUse), f.proj
}

// snapshot returns the bindings of open channels.
func (f *feed) snapshot() []*binding {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*binding
	for ch, bs := range f.subs {
		if !ch.closed.Load() {
			out = append(out, bs...)
		}
	}
	return out
}

func (f *feed) loop() {
	defer f.s.wg.Done()
	ctx := f.s.root
	backoff := f.s.opt.RetryAfter
	for {
		for {
			users, _, _ := f.state()
			if users > 0 {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-f.wake:
			}
		}
		err := f.cycle(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil || errors.Is(err, errIdle) {
			backoff = f.s.opt.RetryAfter
			continue
		}
		f.mu.Lock()
		f.failing = !f.isReady
		f.mu.Unlock()
		f.s.log.Warn("realtime: replication stream stopped; retrying", "project", f.ref, "err", err, "in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// slotRow is the project's control.realtime_slots row.
type slotRow struct {
	lsn     pgoutput.LSN
	idle    bool
	existed bool
}

func (f *feed) loadSlot(ctx context.Context, p *control.Project) (slotRow, error) {
	st := f.s.tenants.Store()
	var r slotRow
	var lsn int64
	err := st.Pool().QueryRow(ctx, `select confirmed_lsn, idle from control.realtime_slots where project_ref = $1`, p.Ref).Scan(&lsn, &r.idle)
	switch {
	case err == nil:
		r.lsn, r.existed = pgoutput.LSN(lsn), true
	case errors.Is(err, pgx.ErrNoRows):
	default:
		return r, fmt.Errorf("realtime: reading slot position: %w", err)
	}
	_, err = st.Pool().Exec(ctx, `insert into control.realtime_slots (project_ref, slot_name, db_url_enc, idle)
		values ($1, $2, $3, false) on conflict (project_ref) do update set db_url_enc = excluded.db_url_enc, slot_name = excluded.slot_name,
		updated_at = now()`,
		p.Ref, slotName(p.Ref), st.Box().Seal(p.DBURL, slotAAD(p.Ref)))
	if err != nil {
		return r, fmt.Errorf("realtime: recording slot: %w", err)
	}
	return r, nil
}

func slotAAD(ref string) string { return "realtime:" + ref + ":db_url" }

func (f *feed) persist(ctx context.Context, lsn pgoutput.LSN, idle bool) {
	_, err := f.s.tenants.Store().Pool().Exec(ctx, `update control.realtime_slots set confirmed_lsn = greatest(confirmed_lsn, $2),
		idle = $3, updated_at = now() where project_ref = $1`, f.ref, int64(lsn), idle)
	if err != nil && ctx.Err() == nil {
		f.s.log.Warn("realtime: persisting slot position", "project", f.ref, "err", err)
	}
}

// run streams until the feed goes idle, ctx ends or the stream fails.
func (f *feed) run(ctx context.Context) error {
	_, _, p := f.state()
	row, err := f.loadSlot(ctx, p)
	if err != nil {
		return err
	}
	pool, err := f.s.tenants.Pool(ctx, p)
	if err != nil {
		return err
	}
	start := row.lsn
	slot := slotName(p.Ref)
	f.s.log.Debug("realtime: starting stream", "project", p.Ref, "idle", row.idle, "existed", row.existed, "lsn", row.lsn.String())
	// Create the slot before streaming so that joins can be told, before
	// their ok reply, that every later change will be captured.
	if _, err := pool.Exec(ctx, `select pg_create_logical_replication_slot($1, 'pgoutput')
		where not exists (select 1 from pg_replication_slots where slot_name = $1)`, slot); err != nil && pgerr.Code(err) != "42710" {
		return fmt.Errorf("realtime: creating slot %s: %w", slot, err)
	}
	switch {
	case row.idle:
		// Nobody was subscribed while the stream was stopped: skip that
		// backlog instead of replaying it to whoever joins now. Streaming
		// from the current insert position does that (the server starts at
		// the later of it and the slot's confirmed position);
		// pg_replication_slot_advance would stop at the flushed position.
		var lsn string
		if err := pool.QueryRow(ctx, `select pg_current_wal_insert_lsn()::text`).Scan(&lsn); err != nil {
			return fmt.Errorf("realtime: skipping idle backlog: %w", err)
		}
		if start, err = pgoutput.ParseLSN(lsn); err != nil {
			return err
		}
		// From now on the position is the skip point; until this write a
		// failed attempt stays idle and skips again on the retry.
		f.persist(ctx, start, false)
	}
	f.setReady(true)
	defer f.setReady(false)
	if row.existed && !row.idle && !f.resumed {
		// Resuming after a restart or crash with subscribers: give clients
		// a moment to rejoin before replaying what they missed.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(f.s.opt.ResumeDelay):
		}
	}
	f.resumed = true
	// The stream hands transactions over to a queue and reads on; the
	// deliverer takes what has queued up as one batch (so a burst of small
	// transactions costs one visibility query per claims group, not one per
	// transaction) and confirms the batch once delivered.
	queue := make(chan *pgoutput.Tx, txQueue)
	stream, err := pgoutput.NewStream(pgoutput.Config{
		ConnString:   p.DBURL,
		Slot:         slot,
		CreateSlot:   true,
		Publications: []string{publication, messagesPublication},
		StartLSN:     start,
		Logger:       f.s.log.With("project", p.Ref),
		Deferred:     true,
	}, func(ctx context.Context, tx *pgoutput.Tx) error {
		select {
		case queue <- tx:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if err != nil {
		return err
	}
	f.hmu.Lock()
	f.metas = map[uint32]*tableMeta{}
	f.hmu.Unlock()
	rctx, cancel := context.WithCancelCause(ctx)
	done, delivered := make(chan struct{}), make(chan struct{})
	go f.watch(rctx, cancel, stream, done)
	go f.deliver(rctx, cancel, stream, queue, delivered)
	err = stream.Run(rctx)
	cause := context.Cause(rctx)
	cancel(nil)
	<-delivered
	<-done
	if cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, errIdle) {
		err = cause // the deliverer failed
	}
	idle := errors.Is(cause, errIdle)
	pctx, pcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	f.persist(pctx, stream.Acked(), idle)
	pcancel()
	f.s.m.lagBytes.DeleteLabelValues(f.ref)
	if idle {
		f.s.log.Info("realtime: replication stream stopped, no subscribers", "project", f.ref)
		return errIdle
	}
	return err
}

// txQueue is how many transactions the stream may hand over ahead of
// delivery; batchChanges caps the row changes of one delivery batch.
const (
	txQueue      = 256
	batchChanges = 1000
)

// deliver delivers the queued transactions in batches and confirms each
// batch to the stream; a failure stops the stream (through stop), which
// then resumes from the last confirmed batch.
func (f *feed) deliver(ctx context.Context, stop context.CancelCauseFunc, stream *pgoutput.Stream, queue <-chan *pgoutput.Tx, done chan struct{}) {
	defer close(done)
	for {
		var batch []*pgoutput.Tx
		select {
		case <-ctx.Done():
			return
		case tx := <-queue:
			batch = append(batch, tx)
		}
		for n := len(batch[0].Changes); n < batchChanges; {
			select {
			case tx := <-queue:
				batch = append(batch, tx)
				n += len(tx.Changes)
				continue
			default:
			}
			break
		}
		if err := f.handle(ctx, batch); err != nil {
			if ctx.Err() == nil {
				stop(err)
			}
			return
		}
		stream.Ack(batch[len(batch)-1].EndLSN)
	}
}

// watch stops an idle stream, persists its position every second and
// measures the slot's lag every few seconds.
func (f *feed) watch(ctx context.Context, stop context.CancelCauseFunc, stream *pgoutput.Stream, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var saved pgoutput.LSN
	var lastSave, lastLag time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		case <-tick.C:
		}
		users, idleFor, p := f.state()
		if users <= 0 && idleFor >= f.s.opt.WarmFor && time.Since(time.Unix(0, f.remoteWant.Load())) > wantTTL {
			f.s.log.Debug("realtime: feed idle", "project", f.ref, "users", users)
			stop(errIdle)
			return
		}
		if a := stream.Acked(); a != saved && time.Since(lastSave) >= time.Second {
			f.persist(ctx, a, false)
			saved, lastSave = a, time.Now()
		}
		if time.Since(lastLag) >= 5*time.Second {
			lastLag = time.Now()
			f.measureLag(ctx, p)
		}
	}
}

func (f *feed) measureLag(ctx context.Context, p *control.Project) {
	pool, err := f.s.tenants.Pool(ctx, p)
	if err != nil {
		return
	}
	var lag int64
	err = pool.QueryRow(ctx, `select coalesce(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), confirmed_flush_lsn), 0)::int8
		from pg_replication_slots where slot_name = $1`, slotName(p.Ref)).Scan(&lag)
	if err != nil {
		return
	}
	f.s.m.lagBytes.WithLabelValues(f.ref).Set(float64(lag))
	if lag > f.s.opt.LagWarnBytes {
		f.s.log.Warn("realtime: replication slot is falling behind", "project", f.ref, "slot", slotName(p.Ref), "lag_bytes", lag)
	}
}

// advanceIdleSlots moves each idle project's slot up to the flushed WAL
// position. A stream that starts after an idle spell skips to the current
// insert position anyway (run), so the WAL an idle slot would hold back
// until the next subscriber, without bound, is of no use. A slot that some
// node streams meanwhile is active, and left alone.
func (s *Service) advanceIdleSlots(ctx context.Context) {
	rows, err := s.tenants.Store().Pool().Query(ctx, `select project_ref from control.realtime_slots where idle`)
	if err != nil {
		s.log.Warn("realtime: listing idle slots", "err", err)
		return
	}
	refs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		s.log.Warn("realtime: listing idle slots", "err", err)
		return
	}
	for _, ref := range refs {
		p, err := s.tenants.Project(ctx, ref)
		if err != nil || p.Status != control.StatusActive {
			continue
		}
		pool, err := s.tenants.Pool(ctx, p)
		if err != nil {
			continue
		}
		_, err = pool.Exec(ctx, `select pg_replication_slot_advance(slot_name, pg_current_wal_flush_lsn()) from pg_replication_slots
			where slot_name = $1 and not active and confirmed_flush_lsn < pg_current_wal_flush_lsn()`, slotName(ref))
		// 55006: a stream took the slot between the check and the advance.
		if err != nil && pgerr.Code(err) != "55006" && ctx.Err() == nil {
			s.log.Warn("realtime: advancing idle slot", "project", ref, "slot", slotName(ref), "err", err)
		}
	}
}

// projectChanged reacts to control-plane changes: a disabled project's
// connections are closed; a deleted project's stream is stopped and its
// slot dropped.
func (s *Service) projectChanged(ref string) {
	go func() {
		ctx, cancel := context.WithTimeout(s.root, 30*time.Second)
		defer cancel()
		refs := []string{ref}
		if ref == "" {
			refs = refs[:0]
			seen := map[string]bool{}
			for _, c := range s.projectConns("") {
				if !seen[c.project.Ref] {
					seen[c.project.Ref] = true
					refs = append(refs, c.project.Ref)
				}
			}
		}
		for _, r := range refs {
			p, err := s.tenants.Store().Project(ctx, r)
			gone := errors.Is(err, control.ErrNotFound) || (err == nil && p.Status == control.StatusDeleted)
			if err != nil && !gone {
				continue
			}
			if gone || p.Status != control.StatusActive {
				for _, c := range s.projectConns(r) {
					go c.close(websocket.StatusGoingAway, "project unavailable")
				}
			}
			if gone {
				if err := s.dropSlot(ctx, r); err != nil {
					s.log.Warn("realtime: dropping a deleted project's slot", "project", r, "err", err)
				}
			}
		}
	}()
}

// dropSlot waits for the project's stream to stop (its connections are
// closing) and drops the slot and its control row.
func (s *Service) dropSlot(ctx context.Context, ref string) error {
	st := s.tenants.Store()
	var enc string
	err := st.Pool().QueryRow(ctx, `select db_url_enc from control.realtime_slots where project_ref = $1`, ref).Scan(&enc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	url, err := st.Box().Open(enc, slotAAD(ref))
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for {
		_, err = conn.Exec(ctx, `select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1`, slotName(ref))
		if err == nil {
			break
		}
		// Still active: the stream stops once its channels are gone and
		// the warm period ends; a deleted project has no channels left.
		s.mu.Lock()
		if f := s.feeds[ref]; f != nil {
			f.mu.Lock()
			f.lastUse = time.Time{}
			f.mu.Unlock()
			f.poke()
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
	_, err = st.Pool().Exec(ctx, `delete from control.realtime_slots where project_ref = $1`, ref)
	return err
}

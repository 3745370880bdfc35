package storage

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/storage/blob"
	"github.com/madbase/madbase/internal/tenant"
	"github.com/madbase/madbase/internal/token"
)

// Prefix is where the surface is mounted.
const Prefix = "/storage/v1"

// Options are the Service's dependencies.
type Options struct {
	Log     *slog.Logger
	Tenants *tenant.Manager
	// DataDir holds file-backend objects (DataDir/storage/<ref>) and TUS
	// staging files (DataDir/storage-uploads/<ref>).
	DataDir string
	// FileSizeLimit is the global per-object limit for projects whose
	// settings set none; 0 means DefaultFileSizeLimit.
	FileSizeLimit int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service is the /storage/v1 surface.
type Service struct {
	log      *slog.Logger
	tenants  *tenant.Manager
	backends *backends
	tus      *tusStore
	now      func() time.Time
}

// New builds the surface; it does no I/O.
func New(opt Options) *Service {
	limit := opt.FileSizeLimit
	if limit <= 0 {
		limit = DefaultFileSizeLimit
	}
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	s := &Service{
		log:      opt.Log,
		tenants:  opt.Tenants,
		backends: &backends{dataDir: opt.DataDir, defaultLimit: limit},
		now:      now,
	}
	s.tus = newTUSStore(opt.DataDir, now)
	opt.Tenants.OnChange(s.backends.forget)
	return s
}

// Handler serves /storage/v1/…: CORS, then project resolution and
// authentication (open requests need no apikey), then the routes.
func (s *Service) Handler() http.Handler {
	inner := httpx.Adapt(s.log, render, s.dispatch)
	guarded := s.tenants.Guard("storage", s.log, render, Open, inner)
	return httpx.CORS(httpx.DefaultCORS, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		guarded.ServeHTTP(w, s.routeByToken(r))
	}))
}

// routeByToken lets a signed URL opened on a host that names no project
// (no header, subdomain or apikey) reach the project its token was signed
// for. The token is still verified against that project's secret, so a
// forged ref gains nothing.
func (s *Service) routeByToken(r *http.Request) *http.Request {
	tok := r.URL.Query().Get("token")
	if tok == "" {
		tok = r.Header.Get("x-signature")
	}
	if tok == "" || r.Header.Get("X-Project-Ref") != "" || tenant.APIKey(r) != "" {
		return r
	}
	ref := token.UnverifiedRef(tok)
	if ref == "" {
		return r
	}
	if _, err := s.tenants.Resolve(r); err == nil {
		return r
	}
	r2 := r.Clone(r.Context())
	r2.Header.Set("X-Project-Ref", ref)
	return r2
}

// Render is the Storage error renderer, for callers that fail before the
// surface runs.
func Render(w http.ResponseWriter, r *http.Request, e *httpx.Error) { render(w, r, e) }

// Open reports the requests Supabase serves without an apikey: public
// objects, signed URL reads and uploads (the token authorises), and TUS
// requests on an existing upload (its unguessable id is the capability).
func Open(r *http.Request) bool {
	p := strings.TrimPrefix(r.URL.EscapedPath(), Prefix)
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	hasToken := r.URL.Query().Get("token") != ""
	switch {
	case r.Method == http.MethodOptions:
		return true
	case get && strings.HasPrefix(p, "/object/public/"):
		return true
	case get && strings.HasPrefix(p, "/object/sign/") && hasToken:
		return true
	case r.Method == http.MethodPut && strings.HasPrefix(p, "/object/upload/sign/") && hasToken:
		return true
	case strings.HasPrefix(p, "/upload/resumable/") && r.Method != http.MethodPost:
		return true
	case strings.HasPrefix(p, "/upload/resumable/sign") && r.Header.Get("x-signature") != "":
		return true
	}
	return false
}

// call is one request's context.
type call struct {
	s *Service
	w http.ResponseWriter
	a *tenant.Auth
	r *http.Request
	b *backend
}

func (s *Service) newCall(r *http.Request) (*call, error) {
	a := tenant.FromContext(r.Context())
	if a == nil {
		return nil, httpx.E(http.StatusInternalServerError, "internal_error", "no auth in context")
	}
	b, err := s.backends.get(r.Context(), a.Project)
	if err != nil {
		return nil, err
	}
	return &call{s: s, a: a, r: r, b: b}, nil
}

// tx runs fn under the caller's role and claims.
func (c *call) tx(ctx context.Context, opt tenant.TxOptions, fn func(ctx context.Context, q tenant.Querier) error) error {
	opt.Request = c.r
	return c.s.tenants.Tx(ctx, c.a, opt, fn)
}

// sysAuth acts as service_role on p, with sub as the owner of what it writes.
func sysAuth(p *control.Project, sub string) *tenant.Auth {
	cl := token.Claims{"role": tenant.RoleService}
	if sub != "" {
		cl["sub"] = sub
	}
	return &tenant.Auth{Project: p, KeyRole: tenant.RoleService, Claims: cl}
}

// sysTx runs fn as service_role: the lookups Supabase does as superuser
// (bucket settings, public objects, signed URLs).
func (c *call) sysTx(ctx context.Context, opt tenant.TxOptions, fn func(ctx context.Context, q tenant.Querier) error) error {
	opt.Request = c.r
	return c.s.tenants.Tx(ctx, sysAuth(c.a.Project, ""), opt, fn)
}

var allowDelete = map[string]string{"storage.allow_delete_query": "true"}

// deleteBlobs removes object versions after their rows are gone; a failure
// leaves an orphan blob, which is logged, never surfaced.
func (c *call) deleteBlobs(versions ...string) {
	keys := make([]string, 0, len(versions))
	for _, v := range versions {
		if len(v) >= 2 {
			keys = append(keys, c.b.blobKey(v))
		}
	}
	if len(keys) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.r.Context()), time.Minute)
	defer cancel()
	if err := c.b.store.Delete(ctx, keys...); err != nil {
		c.s.log.WarnContext(ctx, "storage: orphan blobs left", "request_id", httpx.RequestID(ctx), "keys", keys, "err", err)
	}
}

func setRoute(r *http.Request, route string) {
	if info := httpx.RequestInfo(r.Context()); info != nil {
		info.Route = route
	}
}

// splitBucket splits an escaped "bucket/rest…" into the decoded bucket id
// and the still-escaped rest.
func splitBucket(p string) (bucket, rest string, err error) {
	b, rest, _ := strings.Cut(p, "/")
	bucket, err = url.PathUnescape(b)
	if err != nil {
		return "", "", errInvalidBucketName().With(err)
	}
	return bucket, rest, nil
}

// objectName decodes an escaped object path once.
func objectName(p string) (string, error) {
	name, err := url.PathUnescape(p)
	if err != nil {
		return "", errInvalidKey(p).With(err)
	}
	return name, nil
}

func (s *Service) dispatch(w http.ResponseWriter, r *http.Request) error {
	p := strings.TrimPrefix(r.URL.EscapedPath(), Prefix)
	m := r.Method
	get := m == http.MethodGet || m == http.MethodHead
	var (
		route string
		h     func(c *call) error
	)
	obj := func(prefix, name string, fn func(c *call, bucket, key string) error) {
		bucket, rest, err := splitBucket(strings.TrimPrefix(p, prefix))
		if err != nil {
			route, h = name, func(*call) error { return err }
			return
		}
		key, err := objectName(rest)
		if err != nil {
			route, h = name, func(*call) error { return err }
			return
		}
		route, h = name, func(c *call) error { return fn(c, bucket, key) }
	}
	switch {
	case p == "/bucket" || p == "/bucket/":
		switch m {
		case http.MethodGet:
			route, h = "/bucket", (*call).listBuckets
		case http.MethodPost:
			route, h = "/bucket", (*call).createBucket
		}
	case strings.HasPrefix(p, "/bucket/"):
		id, tail, err := splitBucket(p[len("/bucket/"):])
		switch {
		case err != nil:
			route, h = "/bucket/{id}", func(*call) error { return err }
		case tail == "" && m == http.MethodGet:
			route, h = "/bucket/{id}", func(c *call) error { return c.getBucket(id) }
		case tail == "" && m == http.MethodPut:
			route, h = "/bucket/{id}", func(c *call) error { return c.updateBucket(id) }
		case tail == "" && m == http.MethodDelete:
			route, h = "/bucket/{id}", func(c *call) error { return c.deleteBucket(id) }
		case tail == "empty" && m == http.MethodPost:
			route, h = "/bucket/{id}/empty", func(c *call) error { return c.emptyBucket(id) }
		case tail == "lifecycle":
			route, h = "/bucket/{id}/lifecycle", func(*call) error { return errNotEnabled("Bucket lifecycle") }
		}
	case strings.HasPrefix(p, "/object/list/") && m == http.MethodPost:
		obj("/object/list/", "/object/list/{bucket}", func(c *call, b, _ string) error { return c.list(b) })
	case strings.HasPrefix(p, "/object/list-v2/") && m == http.MethodPost:
		obj("/object/list-v2/", "/object/list-v2/{bucket}", func(c *call, b, _ string) error { return c.listV2(b) })
	case p == "/object/move" && m == http.MethodPost:
		route, h = "/object/move", (*call).move
	case p == "/object/copy" && m == http.MethodPost:
		route, h = "/object/copy", (*call).copyObject
	case strings.HasPrefix(p, "/object/sign/"):
		switch m {
		case http.MethodPost:
			obj("/object/sign/", "/object/sign/{bucket}/{path}", func(c *call, b, k string) error {
				if k == "" {
					setRoute(r, "/object/sign/{bucket}")
					return c.signMany(b)
				}
				return c.sign(b, k)
			})
		case http.MethodGet, http.MethodHead:
			obj("/object/sign/", "/object/sign/{bucket}/{path}", func(c *call, b, k string) error { return c.getSigned(w, b, k) })
		}
	case strings.HasPrefix(p, "/object/upload/sign/"):
		switch m {
		case http.MethodPost:
			obj("/object/upload/sign/", "/object/upload/sign/{bucket}/{path}", func(c *call, b, k string) error { return c.signUpload(b, k) })
		case http.MethodPut:
			obj("/object/upload/sign/", "/object/upload/sign/{bucket}/{path}", func(c *call, b, k string) error { return c.uploadSigned(w, b, k) })
		}
	case strings.HasPrefix(p, "/object/info/") && get:
		q := strings.TrimPrefix(p, "/object/info/")
		prefix := "/object/info/"
		for _, alias := range []string{"authenticated/", "public/"} {
			if strings.HasPrefix(q, alias) {
				prefix += alias
			}
		}
		obj(prefix, "/object/info/{bucket}/{path}", func(c *call, b, k string) error {
			return c.info(w, b, k, strings.HasSuffix(prefix, "public/"))
		})
	case strings.HasPrefix(p, "/object/public/") && get:
		obj("/object/public/", "/object/public/{bucket}/{path}", func(c *call, b, k string) error { return c.download(w, b, k, modePublic) })
	case strings.HasPrefix(p, "/object/authenticated/") && get:
		obj("/object/authenticated/", "/object/authenticated/{bucket}/{path}", func(c *call, b, k string) error { return c.download(w, b, k, modeAuth) })
	case strings.HasPrefix(p, "/object/"):
		obj("/object/", "/object/{bucket}/{path}", func(c *call, b, k string) error {
			switch {
			case k == "" && m == http.MethodDelete:
				setRoute(r, "/object/{bucket}")
				return c.removeMany(b)
			case k == "":
			case get:
				return c.download(w, b, k, modeAuth)
			case m == http.MethodPost:
				return c.upload(w, b, k, false)
			case m == http.MethodPut:
				return c.upload(w, b, k, true)
			case m == http.MethodDelete:
				return c.deleteOne(b, k)
			}
			return routeNotFound(r)
		})
	case p == "/upload/resumable" || strings.HasPrefix(p, "/upload/resumable/"):
		route, h = "/upload/resumable", func(c *call) error { return c.tus(w, strings.TrimPrefix(p, "/upload/resumable")) }
	case strings.HasPrefix(p, "/render/image/"):
		route, h = "/render/image", func(*call) error { return errNotEnabled("Image transformation") }
	case strings.HasPrefix(p, "/cdn/"):
		route, h = "/cdn", func(*call) error { return errNotEnabled("CDN cache purge") }
	}
	if h == nil {
		setRoute(r, "unknown")
		return routeNotFound(r)
	}
	setRoute(r, route)
	c, err := s.newCall(r)
	if err != nil {
		return err
	}
	c.w = w
	return h(c)
}

func routeNotFound(r *http.Request) error {
	return realErr(404, "InvalidRequest", "Not Found", "Route "+r.Method+":"+strings.TrimPrefix(r.URL.Path, Prefix)+" not found")
}

// decodeBody reads a small JSON request body.
func decodeBody(r *http.Request, v any) error {
	if r.Body == nil {
		return errInvalid("body must be JSON")
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 2<<20))
	if err := dec.Decode(v); err != nil {
		return errInvalid("body must be valid JSON").With(err)
	}
	return nil
}

// checkKey refuses object names Supabase refuses (its S3-safe character
// set) and names blob.ValidKey calls traversal attempts.
func checkKey(name string) error {
	if name == "" {
		return errInvalidKey(name)
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9':
		case strings.IndexByte("_/!-.*'() &$@=;:+,?", ch) >= 0:
		default:
			return errInvalidKey(name)
		}
	}
	if err := blob.ValidKey(name); err != nil {
		return errInvalidKey(name).With(err)
	}
	return nil
}

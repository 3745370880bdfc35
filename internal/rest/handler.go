package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/rest/query"
	"github.com/madbase/madbase/internal/rest/schema"
	"github.com/madbase/madbase/internal/rest/sqlgen"
	"github.com/madbase/madbase/internal/tenant"
)

// target is what the URL path names.
type target struct {
	root bool
	rpc  bool
	name string
}

const prefix = "/rest/v1"

func route(path string) (target, string, error) {
	rest := strings.TrimPrefix(path, prefix)
	rest = strings.TrimPrefix(rest, "/")
	if rest == "" {
		return target{root: true}, prefix + "/", nil
	}
	segs := strings.Split(rest, "/")
	switch {
	case len(segs) == 1:
		return target{name: segs[0]}, prefix + "/{table}", nil
	case len(segs) == 2 && segs[0] == "rpc" && segs[1] != "":
		return target{rpc: true, name: segs[1]}, prefix + "/rpc/{function}", nil
	}
	return target{}, prefix + "/*", restErr(http.StatusNotFound, "PGRST125", "Invalid path specified in request URL", nil, nil)
}

// request is one API call being served.
type request struct {
	w     http.ResponseWriter
	r     *http.Request
	auth  *tenant.Auth
	set   *Settings
	snap  *schema.Snapshot
	tgt   target
	table *schema.Table
	fn    *schema.Function

	profile     string
	profileSent bool
	prefs       prefs
	media       media
	params      *query.Params
	sreq        sqlgen.Request
	rollback    bool
	txApplied   bool
	readOnly    bool
}

// result is the statement's one row plus what the handler derives.
type result struct {
	total    *int64
	page     int64
	body     []byte
	headers  *string
	status   *string
	inserted *int64
	location *string
	planned  *int64

	gucHeaders [][2]string
	gucStatus  int
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	a := tenant.FromContext(ctx)
	if a == nil {
		return errors.New("rest: request without tenant auth")
	}
	tgt, pattern, err := route(r.URL.Path)
	httpx.RequestInfo(ctx).Route = pattern
	if err != nil {
		return err
	}
	c, err := s.cacheFor(a.Project)
	if err != nil {
		return err
	}
	snap, err := s.snapshot(ctx, a.Project, c)
	if err != nil {
		return err
	}
	q := &request{w: w, r: r, auth: a, set: &c.settings, snap: snap, tgt: tgt}
	return s.handle(q)
}

func isRead(m string) bool { return m == http.MethodGet || m == http.MethodHead }

func (s *Service) handle(q *request) error {
	r := q.r
	m := r.Method
	if q.tgt.rpc {
		switch m {
		case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodOptions:
		default:
			return restErr(http.StatusMethodNotAllowed, "PGRST101", "Cannot use the "+m+" method on RPC", nil, nil)
		}
	} else {
		switch m {
		case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		default:
			return restErr(http.StatusMethodNotAllowed, "PGRST117", "Unsupported HTTP method: "+m, nil, nil)
		}
	}
	if err := q.chooseProfile(); err != nil {
		return err
	}
	if q.tgt.root {
		switch m {
		case http.MethodGet, http.MethodHead:
			return q.openAPI()
		case http.MethodOptions:
			q.w.Header().Set("Allow", "OPTIONS,GET,HEAD")
			q.w.WriteHeader(http.StatusOK)
			return nil
		}
		return restErr(http.StatusMethodNotAllowed, "PGRST117", "Unsupported HTTP method: "+m, nil, nil)
	}
	if m == http.MethodOptions {
		return q.options()
	}
	q.prefs = parsePrefer(r.Header)
	if q.prefs.Handling == "strict" && len(q.prefs.Invalid) > 0 {
		return restErr(http.StatusBadRequest, "PGRST122", "Invalid preferences given with handling=strict",
			"Invalid preferences: "+strings.Join(q.prefs.Invalid, ", "), nil)
	}
	md, err := negotiate(r, q.set.PlanEnabled)
	if err != nil {
		return err
	}
	q.media = md
	pairs := query.SplitRawQuery(r.URL.RawQuery)
	pairs = slices.DeleteFunc(pairs, func(p query.Pair) bool { return p.Key == "apikey" })
	params, err := query.Parse(pairs, query.Options{RPCRead: q.tgt.rpc && isRead(m)})
	if err != nil {
		return convert(err, false, "")
	}
	q.params = params
	if !q.tgt.rpc {
		// Only RPC reads take arguments; on a table every parameter is a
		// filter and must parse as one.
		for _, a := range params.Args {
			if _, _, err := query.ParseFilter(a.Name, a.Value); err != nil {
				return convert(err, false, "")
			}
		}
	}
	if m == http.MethodGet {
		if err := applyRange(params, r.Header.Get("Range")); err != nil {
			return err
		}
	}
	if err := s.prepare(q); err != nil {
		return convert(err, false, "")
	}
	return s.execute(q)
}

// chooseProfile picks the schema from Accept-Profile (reads) or
// Content-Profile (writes); PGRST106 when it is not exposed.
func (q *request) chooseProfile() error {
	h := "Content-Profile"
	if isRead(q.r.Method) || q.r.Method == http.MethodOptions {
		h = "Accept-Profile"
	}
	q.profile = q.set.Schemas[0]
	if v := strings.TrimSpace(q.r.Header.Get(h)); v != "" {
		if !slices.Contains(q.set.Schemas, v) {
			return restErr(http.StatusNotAcceptable, "PGRST106", "Invalid schema: "+v, nil,
				"Only the following schemas are exposed: "+strings.Join(q.set.Schemas, ", "))
		}
		q.profile, q.profileSent = v, true
	}
	return nil
}

func (q *request) options() error {
	var allow string
	if q.tgt.rpc {
		fs := q.snap.Functions(schema.QName{Schema: q.profile, Name: q.tgt.name})
		if len(fs) == 0 {
			_, err := q.snap.FindFunction(schema.QName{Schema: q.profile, Name: q.tgt.name}, nil, schema.BodyNone)
			return convert(err, false, "")
		}
		allow = "OPTIONS,GET,HEAD,POST"
		if fs[0].Volatility == schema.Volatile {
			allow = "OPTIONS,POST"
		}
	} else {
		t, err := q.snap.Table(q.profile, q.tgt.name)
		if err != nil {
			return convert(err, false, "")
		}
		allow = "OPTIONS,GET,HEAD"
		if t.Insertable {
			allow += ",POST"
		}
		if t.Insertable && t.Updatable && len(t.PK) > 0 {
			allow += ",PUT"
		}
		if t.Updatable {
			allow += ",PATCH"
		}
		if t.Deletable {
			allow += ",DELETE"
		}
	}
	q.w.Header().Set("Allow", allow)
	q.w.WriteHeader(http.StatusOK)
	return nil
}

var rangeRe = regexp.MustCompile(`^(\d+)-(\d*)$`)

// applyRange intersects a Range request header with the root's
// limit/offset. Anything not matching a-b or a- is ignored, as PostgREST does.
func applyRange(p *query.Params, h string) error {
	m := rangeRe.FindStringSubmatch(strings.TrimSpace(h))
	if m == nil {
		return nil
	}
	lo, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return nil
	}
	var hi *int64
	if m[2] != "" {
		v, err := strconv.ParseInt(m[2], 10, 64)
		if err != nil {
			return nil
		}
		if v < lo {
			return restErr(http.StatusRequestedRangeNotSatisfiable, "PGRST103", "Requested range not satisfiable",
				"The lower boundary must be lower than or equal to the upper boundary in the Range header.", nil)
		}
		hi = &v
	}
	rg := p.Range(nil)
	start := max(lo, rg.Offset)
	var end *int64
	if rg.Limit != nil {
		e := rg.Offset + *rg.Limit - 1
		end = &e
	}
	if hi != nil && (end == nil || *hi < *end) {
		end = hi
	}
	rg.Offset = start
	if end != nil {
		n := max(*end-start+1, 0)
		rg.Limit = &n
	}
	p.SetRange(rg)
	return nil
}

// prepare fills the sqlgen request: kind, body, columns, function,
// preferences.
func (s *Service) prepare(q *request) error {
	r := q.r
	sr := &q.sreq
	sr.Schema, sr.Relation, sr.Params = q.profile, q.tgt.name, q.params
	sr.MaxRows = q.set.maxRows()
	sr.Aggregates = q.set.AggregatesEnabled
	sr.Head = r.Method == http.MethodHead
	sr.CSV = q.media.Kind == mediaCSV
	sr.Singular = q.media.Kind == mediaObject
	sr.StripNulls = q.media.StripNulls
	q.rollback, q.txApplied = q.set.rollback(q.prefs.Tx)
	if q.media.Kind == mediaPlan && slices.Contains(q.media.PlanOptions, "analyze") && !isRead(r.Method) {
		q.rollback = true // EXPLAIN ANALYZE of a write must not keep its effects
	}
	if q.tgt.rpc {
		return s.prepareCall(q)
	}
	t, err := q.snap.Table(q.profile, q.tgt.name)
	if err != nil {
		return err
	}
	q.table = t
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		sr.Kind = sqlgen.Read
		q.readOnly = true
		q.prefs.MaxAffected = nil // PostgREST applies it to PATCH, DELETE and RPC only
		return q.counting()
	case http.MethodDelete:
		sr.Kind = sqlgen.Delete
		if !q.params.HasRootConditions() {
			return restErr(http.StatusBadRequest, "21000", "DELETE requires a WHERE clause", nil, nil)
		}
	case http.MethodPatch:
		sr.Kind = sqlgen.Update
		if !q.params.HasRootConditions() {
			return restErr(http.StatusBadRequest, "21000", "UPDATE requires a WHERE clause", nil, nil)
		}
	case http.MethodPost:
		sr.Kind = sqlgen.Insert
		switch q.prefs.Resolution {
		case "merge-duplicates":
			sr.Resolution = sqlgen.MergeDuplicates
		case "ignore-duplicates":
			sr.Resolution = sqlgen.IgnoreDuplicates
		}
	case http.MethodPut:
		sr.Kind = sqlgen.Put
	}
	switch q.prefs.Return {
	case "representation":
		sr.Return = sqlgen.ReturnRepresentation
	case "headers-only":
		if sr.Kind == sqlgen.Insert {
			sr.Return = sqlgen.ReturnHeadersOnly
		}
	}
	sr.MissingDefault = q.prefs.Missing == "default"
	sr.Count = q.prefs.Count != ""
	if q.prefs.Handling == "strict" && q.prefs.MaxAffected != nil && sr.Kind != sqlgen.Update && sr.Kind != sqlgen.Delete {
		q.prefs.MaxAffected = nil // only PATCH, DELETE and RPC honour it
	}
	if sr.Kind == sqlgen.Delete {
		return nil
	}
	body, err := s.readBody(r)
	if err != nil {
		return err
	}
	body, cols, err := tableBody(r, body)
	if err != nil {
		return err
	}
	sr.Body = body
	switch {
	case q.params.Columns != nil && sr.Kind != sqlgen.Put:
		sr.Columns = q.params.Columns
	case cols != nil:
		sr.Columns = cols
	default:
		c, err := sqlgen.PayloadColumns(body)
		if err != nil {
			return err
		}
		if sr.Kind == sqlgen.Update && bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) {
			return restErr(http.StatusBadRequest, "PGRST102", "Empty or invalid json", nil, nil)
		}
		sr.Columns = c
	}
	return nil
}

// counting sets up Prefer: count for reads and calls: exact and estimated
// counts run the count query in the statement; planned and estimated also
// EXPLAIN it (execute adds that).
func (q *request) counting() error {
	q.sreq.Count = q.prefs.Count == "exact" || q.prefs.Count == "estimated"
	return nil
}

func (s *Service) prepareCall(q *request) error {
	r := q.r
	sr := &q.sreq
	sr.Kind = sqlgen.Call
	qn := schema.QName{Schema: q.profile, Name: q.tgt.name}
	var names []string
	kind := schema.BodyNone
	if isRead(r.Method) {
		sr.GetArgs = true
		for _, a := range q.params.Args {
			if !slices.Contains(names, a.Name) {
				names = append(names, a.Name)
			}
		}
		q.readOnly = true
	} else {
		body, err := s.readBody(r)
		if err != nil {
			return err
		}
		body, names, kind, err = callBody(r, body)
		if err != nil {
			return err
		}
		if q.params.Columns != nil {
			names = q.params.Columns
		}
		sr.Body = body
		sr.ArgNames = names
	}
	f, err := q.snap.FindFunction(qn, names, kind)
	if err != nil {
		return err
	}
	q.fn, sr.Function = f, f
	if !isRead(r.Method) && f.Volatility != schema.Volatile {
		q.readOnly = true
	}
	if q.prefs.Handling == "strict" && q.prefs.MaxAffected != nil && !f.ReturnsSet {
		return restErr(http.StatusBadRequest, "PGRST128", "Function must return SETOF or TABLE when max-affected preference is used with handling=strict", nil, nil)
	}
	return q.counting()
}

func (s *Service) readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := readAll(http.MaxBytesReader(nil, r.Body, s.bodyLimit), r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, restErr(http.StatusRequestEntityTooLarge, "PGRST102", "Request body too large", nil, nil)
		}
		return nil, restErr(http.StatusBadRequest, "PGRST102", "Could not read the request body", nil, nil).With(err)
	}
	return b, nil
}

// readAll is io.ReadAll with the buffer sized from hint, the request's
// Content-Length (trusted up to 1 MiB), so a body is read without
// regrowing the buffer.
func readAll(rd io.Reader, hint int64) ([]byte, error) {
	size := 512
	if hint > 0 {
		size = int(min(hint, 1<<20)) + 1 // +1: room to see EOF without growing
	}
	b := make([]byte, 0, size)
	for {
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

func mediaType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "application/json"
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(ct))
	}
	return mt
}

// tableBody normalises a write body to JSON; for CSV and form bodies it
// also returns the columns they name.
func tableBody(r *http.Request, body []byte) ([]byte, []string, error) {
	switch mt := mediaType(r); mt {
	case "application/json", "application/vnd.pgrst.object+json", "application/vnd.pgrst.object", "application/vnd.pgrst.array+json":
		if !json.Valid(body) {
			return nil, nil, restErr(http.StatusBadRequest, "PGRST102", "Empty or invalid json", nil, nil)
		}
		return body, nil, nil
	case "text/csv":
		return csvToJSON(body)
	case "application/x-www-form-urlencoded":
		return formToJSON(body)
	default:
		return nil, nil, restErr(http.StatusBadRequest, "PGRST102", "Content-Type not acceptable: "+mt, nil, nil)
	}
}

// callBody reads an RPC POST body: JSON (object keys are argument
// names), a form, or a raw body for a single unnamed text/xml/bytea
// parameter.
func callBody(r *http.Request, body []byte) ([]byte, []string, schema.BodyKind, error) {
	switch mt := mediaType(r); mt {
	case "application/json", "application/vnd.pgrst.object+json", "application/vnd.pgrst.object":
		if len(bytes.TrimSpace(body)) == 0 {
			body = []byte("{}")
		}
		if !json.Valid(body) {
			return nil, nil, 0, restErr(http.StatusBadRequest, "PGRST102", "Empty or invalid json", nil, nil)
		}
		names, err := sqlgen.PayloadColumns(body)
		if err != nil {
			names = nil // a non-object body can only go to a single unnamed json parameter
		}
		if names == nil {
			names = []string{}
		}
		return body, names, schema.BodyJSON, nil
	case "application/x-www-form-urlencoded":
		b, names, err := formToJSON(body)
		return b, names, schema.BodyJSON, err
	case "text/plain":
		return body, nil, schema.BodyText, nil
	case "text/xml":
		return body, nil, schema.BodyXML, nil
	case "application/octet-stream":
		return body, nil, schema.BodyBinary, nil
	default:
		return nil, nil, 0, restErr(http.StatusBadRequest, "PGRST102", "Content-Type not acceptable: "+mt, nil, nil)
	}
}

// execute runs the statement in the caller's transaction and writes the
// response.
func (s *Service) execute(q *request) error {
	st, err := sqlgen.Build(q.snap, q.sreq)
	if err != nil {
		return convert(err, false, "")
	}
	var countSt *sqlgen.Statement
	planned := q.prefs.Count == "planned" || (q.prefs.Count == "estimated" && q.sreq.MaxRows > 0)
	if planned && (q.sreq.Kind == sqlgen.Read || q.sreq.Kind == sqlgen.Call) && q.media.Kind != mediaPlan {
		if countSt, err = sqlgen.CountQuery(q.snap, q.sreq); err != nil {
			return convert(err, false, "")
		}
	}
	gucs := map[string]string{"search_path": q.set.searchPath(q.profile)}
	if q.prefs.Timezone != "" {
		gucs["timezone"] = q.prefs.Timezone
	}
	anon := q.auth.Role() == tenant.RoleAnon
	// A read-only transaction needs no verdict after its result is read (a
	// failed check answers an error either way), and neither does one that
	// rolls back anyway, so those end in the same round trip as the
	// statement. Writes whose only possible verdict is on the response
	// settings hold their COMMIT on them (holdSQL): it travels in the same
	// round trip unless a trigger or function set one. Singular, PUT and
	// max-affected checks keep a separate COMMIT so they can roll back.
	opts := tenant.TxOptions{ReadOnly: q.readOnly, Rollback: q.rollback, Request: q.r, Settings: gucs,
		// request.path is the path PostgREST sees behind Supabase's
		// gateway (/table, /rpc/fn), without the /rest/v1 prefix.
		Path: strings.TrimPrefix(q.r.URL.Path, prefix)}
	switch {
	case q.readOnly || q.rollback:
		opts.EndInBatch = true
	case !q.judgesResult():
		opts.EndInBatch, opts.Hold = true, holdSQL
	}
	var res result
	if q.media.Kind == mediaPlan {
		var plan []byte
		err = s.tenants.Tx(q.r.Context(), q.auth, opts, func(ctx context.Context, tx tenant.Querier) error {
			return tx.QueryRow(ctx, explainSQL(q.media)+st.SQL, st.Args...).Scan(&plan)
		})
		if err != nil {
			return convert(err, anon, st.SQL)
		}
		h := q.w.Header()
		h.Set("Content-Type", q.media.contentType())
		h.Set("Content-Length", strconv.Itoa(len(plan)))
		q.w.WriteHeader(http.StatusOK)
		_, _ = q.w.Write(plan)
		return nil
	}
	err = s.tenants.Tx(q.r.Context(), q.auth, opts, func(ctx context.Context, tx tenant.Querier) error {
		b := &pgx.Batch{}
		pre := q.preRequestSQL()
		if pre != "" {
			b.Queue(pre)
		}
		b.Queue(st.SQL, st.Args...)
		if countSt != nil {
			b.Queue("EXPLAIN (FORMAT JSON) "+countSt.SQL, countSt.Args...)
		}
		br := tx.SendBatch(ctx, b)
		if pre != "" {
			if _, err := br.Exec(); err != nil {
				_ = br.Close()
				return err
			}
		}
		if err := br.QueryRow().Scan(&res.total, &res.page, &res.body, &res.headers, &res.status, &res.inserted, &res.location); err != nil {
			_ = br.Close()
			return err
		}
		if countSt != nil {
			var plan []byte
			if err := br.QueryRow().Scan(&plan); err != nil {
				_ = br.Close()
				return err
			}
			n, err := planRows(plan)
			if err != nil {
				_ = br.Close()
				return err
			}
			res.planned = &n
		}
		if err := br.Close(); err != nil {
			return err
		}
		return q.check(&res)
	})
	if err != nil {
		return convert(err, anon, st.SQL)
	}
	return q.respond(&res)
}

func (q *request) preRequestSQL() string {
	fn := strings.TrimSpace(q.set.PreRequest)
	if fn == "" {
		return ""
	}
	return "select " + quoteQualified(fn) + "()"
}

func quoteQualified(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = quoteIdent(p)
	}
	return strings.Join(parts, ".")
}

func explainSQL(m media) string {
	opts := []string{"FORMAT " + strings.ToUpper(m.PlanFormat)}
	for _, o := range m.PlanOptions {
		opts = append(opts, strings.ToUpper(o))
	}
	return "EXPLAIN (" + strings.Join(opts, ", ") + ") "
}

// planRows reads the top node's row estimate from EXPLAIN (FORMAT JSON).
func planRows(plan []byte) (int64, error) {
	var p []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := json.Unmarshal(plan, &p); err != nil || len(p) == 0 {
		return 0, fmt.Errorf("rest: reading the count plan: %w", err)
	}
	return int64(p[0].Plan.Rows), nil
}

// check runs the verdicts that must roll the transaction back: singular
// responses, max-affected, PUT mismatches and invalid response GUCs.
func (q *request) check(res *result) error {
	sr := &q.sreq
	if q.media.Kind == mediaObject && (sr.Kind == sqlgen.Read || sr.Kind == sqlgen.Call || sr.Return == sqlgen.ReturnRepresentation) &&
		res.page != 1 && !(sr.Kind == sqlgen.Call && !q.fn.ReturnsSet) {
		return restErr(http.StatusNotAcceptable, "PGRST116", "Cannot coerce the result to a single JSON object",
			fmt.Sprintf("The result contains %d rows", res.page), nil)
	}
	if q.prefs.Handling == "strict" && q.prefs.MaxAffected != nil && res.page > *q.prefs.MaxAffected {
		return restErr(http.StatusBadRequest, "PGRST124", "Query result exceeds max-affected preference constraint",
			fmt.Sprintf("The query affects %d rows", res.page), nil)
	}
	if sr.Kind == sqlgen.Put && res.page == 0 {
		return restErr(http.StatusBadRequest, "PGRST115", "Payload values do not match URL in primary key column(s)", nil, nil)
	}
	if res.headers != nil {
		var list []map[string]any
		if err := json.Unmarshal([]byte(*res.headers), &list); err != nil {
			return errGUCHeaders
		}
		for _, m := range list {
			if len(m) != 1 {
				return errGUCHeaders
			}
			for k, v := range m {
				s, ok := v.(string)
				if !ok {
					return errGUCHeaders
				}
				res.gucHeaders = append(res.gucHeaders, [2]string{k, s})
			}
		}
	}
	if res.status != nil {
		n, err := strconv.Atoi(strings.TrimSpace(*res.status))
		if err != nil || n < 100 || n > 599 {
			return restErr(http.StatusInternalServerError, "PGRST112", "response.status guc must be a valid status code", nil, nil)
		}
		res.gucStatus = n
	}
	return nil
}

// judgesResult reports whether check can refuse the statement's result
// for another reason than the response settings; it must cover every such
// test in check.
func (q *request) judgesResult() bool {
	sr := &q.sreq
	return q.media.Kind == mediaObject || sr.Kind == sqlgen.Put ||
		(q.prefs.Handling == "strict" && q.prefs.MaxAffected != nil)
}

// holdSQL fails (division by zero) when the statement left response.headers
// or response.status set, so check must validate them before the
// transaction may commit (tenant.TxOptions.Hold). The divisor is computed
// from the settings at run time, so the planner cannot fold it.
const holdSQL = `select 1 / (case when nullif(current_setting('response.headers', true), '') is null and nullif(current_setting('response.status', true), '') is null then 1 else 0 end)`

var errGUCHeaders = restErr(http.StatusInternalServerError, "PGRST111",
	"response.headers guc must be a JSON array composed of objects with a single key and a string value", nil, nil)

func countText(n *int64) string {
	if n == nil {
		return "*"
	}
	return strconv.FormatInt(*n, 10)
}

// respond writes status, headers and body as PostgREST does.
func (q *request) respond(res *result) error {
	sr := &q.sreq
	h := q.w.Header()
	total := res.total
	if q.prefs.Count == "planned" && res.planned != nil {
		total = res.planned
	}
	if q.prefs.Count == "estimated" && res.planned != nil && total != nil && *total > sr.MaxRows {
		est := max(sr.MaxRows+1, *res.planned)
		total = &est
	}
	status := http.StatusOK
	hasBody := true
	var contentRange string
	switch sr.Kind {
	case sqlgen.Read, sqlgen.Call:
		offset := q.params.Range(nil).Offset
		if sr.Kind == sqlgen.Call && !q.fn.ReturnsSet {
			offset = 0
		}
		if res.page == 0 {
			contentRange = "*/" + countText(total)
		} else {
			contentRange = strconv.FormatInt(offset, 10) + "-" + strconv.FormatInt(offset+res.page-1, 10) + "/" + countText(total)
		}
		if total != nil {
			switch {
			case offset > *total:
				h.Set("Content-Range", contentRange)
				return restErr(http.StatusRequestedRangeNotSatisfiable, "PGRST103", "Requested range not satisfiable",
					fmt.Sprintf("An offset of %d was requested, but there are only %d rows.", offset, *total), nil)
			case res.page < *total && !(sr.Kind == sqlgen.Call && !q.fn.ReturnsSet):
				status = http.StatusPartialContent
			}
		}
		if sr.Kind == sqlgen.Call && q.fn.Return == schema.ReturnsVoid {
			status, hasBody = http.StatusNoContent, false
		}
	case sqlgen.Insert, sqlgen.Put:
		contentRange = "*/" + countText(total)
		status = http.StatusCreated
		if sr.Kind == sqlgen.Insert && sr.Resolution == sqlgen.MergeDuplicates && res.inserted != nil && *res.inserted == 0 {
			status = http.StatusOK
		}
		if sr.Kind == sqlgen.Put {
			switch {
			case sr.Return != sqlgen.ReturnRepresentation:
				status = http.StatusNoContent
			case res.inserted != nil && *res.inserted > 0:
				status = http.StatusCreated
			default:
				status = http.StatusOK
			}
		}
		hasBody = sr.Return == sqlgen.ReturnRepresentation
		if sr.Return == sqlgen.ReturnHeadersOnly && res.location != nil {
			if loc := q.location(*res.location); loc != "" {
				h.Set("Location", loc)
			}
		}
	case sqlgen.Update, sqlgen.Delete:
		if sr.Kind == sqlgen.Update && res.page > 0 {
			contentRange = fmt.Sprintf("0-%d/%s", res.page-1, countText(total))
		} else {
			contentRange = "*/" + countText(total)
		}
		status = http.StatusNoContent
		if sr.Return == sqlgen.ReturnRepresentation {
			status = http.StatusOK
		} else {
			hasBody = false
		}
	}
	h.Set("Content-Range", contentRange)
	if sr.Kind == sqlgen.Read {
		h.Set("Content-Location", contentLocation(q.table.Name, q.r.URL.RawQuery))
	}
	write := sr.Kind != sqlgen.Read && sr.Kind != sqlgen.Call
	resolution := sr.Kind == sqlgen.Insert && (len(q.table.PK) > 0 || len(q.params.OnConflict) > 0)
	missing := sr.Kind == sqlgen.Insert || sr.Kind == sqlgen.Update
	if pa := q.prefs.applied(write, resolution, missing, q.txApplied); pa != "" {
		h.Set("Preference-Applied", pa)
	}
	if q.profileSent || len(q.set.Schemas) > 1 {
		h.Set("Content-Profile", q.profile)
	}
	if hasBody {
		h.Set("Content-Type", q.media.contentType())
	}
	for _, kv := range res.gucHeaders {
		h.Set(kv[0], kv[1])
	}
	if res.gucStatus != 0 {
		status = res.gucStatus
	}
	if status == http.StatusNoContent {
		q.w.WriteHeader(status)
		return nil
	}
	body := res.body
	if !hasBody {
		body = nil
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	q.w.WriteHeader(status)
	if q.r.Method != http.MethodHead && len(body) > 0 {
		_, _ = q.w.Write(body)
	}
	return nil
}

// location renders /table?pk=eq.v for a headers-only insert.
// contentLocation is a read's Content-Location as PostgREST sends it: the
// table and the query string in canonical form (pairs decoded, sorted,
// percent-encoded again with only unreserved characters left bare).
func contentLocation(table, rawQuery string) string {
	var pairs []string
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		pairs = append(pairs, escapeUnreserved(k)+"="+escapeUnreserved(v))
	}
	if len(pairs) == 0 {
		return "/" + table
	}
	slices.Sort(pairs)
	return "/" + table + "?" + strings.Join(pairs, "&")
}

// escapeUnreserved percent-encodes all but RFC 3986's unreserved
// characters (what QueryEscape does, but with %20 for a space).
func escapeUnreserved(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func (q *request) location(obj string) string {
	var kv map[string]*string
	if err := json.Unmarshal([]byte(obj), &kv); err != nil {
		return ""
	}
	var parts []string
	for _, c := range q.table.PK {
		v := kv[c]
		if v == nil {
			parts = append(parts, url.QueryEscape(c)+"=is.null")
			continue
		}
		parts = append(parts, url.QueryEscape(c)+"=eq."+url.QueryEscape(*v))
	}
	return "/" + q.table.Name + "?" + strings.Join(parts, "&")
}

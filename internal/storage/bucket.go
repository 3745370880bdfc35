package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/pg"
	"github.com/madbase/madbase/internal/tenant"
)

// jsTime marshals like JavaScript's Date.toISOString.
type jsTime time.Time

func (t jsTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z") + `"`), nil
}

func jsts(t *time.Time) *jsTime {
	if t == nil {
		return nil
	}
	j := jsTime(*t)
	return &j
}

// bucket is a storage.buckets row as getBucket returns it (exactly these keys).
type bucket struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Owner            *string  `json:"owner"`
	Public           bool     `json:"public"`
	CreatedAt        *jsTime  `json:"created_at"`
	UpdatedAt        *jsTime  `json:"updated_at"`
	FileSizeLimit    *int64   `json:"file_size_limit"`
	AllowedMimeTypes []string `json:"allowed_mime_types"`
}

// listedBucket is a bucket as listBuckets returns it: with its type.
type listedBucket struct {
	bucket
	Type string `json:"type"`
}

const bucketCols = `id, name, owner::text, coalesce(public, false), created_at, updated_at, file_size_limit, allowed_mime_types, type::text`

func scanBucket(row pgx.Row) (listedBucket, error) {
	var b listedBucket
	var created, updated *time.Time
	err := row.Scan(&b.ID, &b.Name, &b.Owner, &b.Public, &created, &updated, &b.FileSizeLimit, &b.AllowedMimeTypes, &b.Type)
	b.CreatedAt, b.UpdatedAt = jsts(created), jsts(updated)
	return b, err
}

// lookupBucket reads a bucket's settings as the system, as Supabase does
// before object operations (existence, public flag, limits).
func (c *call) lookupBucket(ctx context.Context, id string) (*listedBucket, error) {
	var b listedBucket
	err := c.sysTx(ctx, tenant.TxOptions{ReadOnly: true}, func(ctx context.Context, q tenant.Querier) error {
		var err error
		b, err = scanBucket(q.QueryRow(ctx, `select `+bucketCols+` from storage.buckets where id = $1`, id))
		return err
	})
	if tenant.IsNoRows(err) {
		return nil, errNoSuchBucket()
	}
	if err != nil {
		return nil, dbErr(err, nil)
	}
	return &b, nil
}

var sortColumns = map[string]string{"id": "id", "name": "name", "created_at": "created_at", "updated_at": "updated_at"}

func (c *call) listBuckets() error {
	q := c.r.URL.Query()
	sql := `select ` + bucketCols + ` from storage.buckets`
	var args []any
	if s := q.Get("search"); s != "" {
		args = append(args, "%"+likeEscape(s)+"%")
		sql += ` where name ilike $1`
	}
	if col := q.Get("sortColumn"); col != "" {
		c, ok := sortColumns[col]
		if !ok {
			return errInvalid("querystring/sortColumn must be equal to one of the allowed values")
		}
		dir := "asc"
		if strings.EqualFold(q.Get("sortOrder"), "desc") {
			dir = "desc"
		}
		sql += ` order by ` + c + ` ` + dir
	}
	for _, p := range []string{"limit", "offset"} {
		if v := q.Get(p); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || (p == "limit" && n < 1) {
				return errInvalid("querystring/" + p + " must be a valid integer")
			}
			sql += fmt.Sprintf(" %s %d", p, n)
		}
	}
	out := []listedBucket{}
	err := c.tx(c.r.Context(), tenant.TxOptions{ReadOnly: true}, func(ctx context.Context, tq tenant.Querier) error {
		rows, err := tq.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			b, err := scanBucket(rows)
			if err != nil {
				return err
			}
			out = append(out, b)
		}
		return rows.Err()
	})
	if err != nil {
		return dbErr(err, nil)
	}
	httpx.WriteJSON(c.w, http.StatusOK, out)
	return nil
}

func (c *call) getBucket(id string) error {
	var b listedBucket
	err := c.tx(c.r.Context(), tenant.TxOptions{ReadOnly: true}, func(ctx context.Context, q tenant.Querier) error {
		var err error
		b, err = scanBucket(q.QueryRow(ctx, `select `+bucketCols+` from storage.buckets where id = $1`, id))
		return err
	})
	if tenant.IsNoRows(err) {
		return errNoSuchBucket()
	}
	if err != nil {
		return dbErr(err, nil)
	}
	httpx.WriteJSON(c.w, http.StatusOK, b.bucket)
	return nil
}

// bucketNameRe is Supabase's bucket name rule.
var bucketNameRe = regexp.MustCompile(`^[A-Za-z0-9_!.*'() &$=@;:+,?-]{1,100}$`)

func validBucketName(id string) bool {
	return bucketNameRe.MatchString(id) && strings.TrimSpace(id) == id && id != "." && id != ".."
}

// bucketBody is createBucket's and updateBucket's JSON; raw fields tell
// "absent" from "null".
type bucketBody struct {
	ID               string          `json:"id"`
	Name             string          `json:"name"`
	Public           *bool           `json:"public"`
	FileSizeLimit    json.RawMessage `json:"file_size_limit"`
	AllowedMimeTypes json.RawMessage `json:"allowed_mime_types"`
	Type             string          `json:"type"`
}

// parseSize reads a file_size_limit: a number of bytes, a string such as
// "20MB" (decimal units, as Supabase), or null.
func parseSize(raw json.RawMessage) (*int64, error) {
	s := strings.TrimSpace(string(raw))
	if s == "null" {
		return nil, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		v, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil || v < 0 {
			if f, ferr := strconv.ParseFloat(n.String(), 64); ferr == nil && f >= 0 && f < 1<<62 {
				v = int64(f)
			} else {
				return nil, errSizeFormat()
			}
		}
		return &v, nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return nil, errSizeFormat()
	}
	m := sizeRe.FindStringSubmatch(strings.ToLower(strings.TrimSpace(str)))
	if m == nil {
		return nil, errSizeFormat()
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return nil, errSizeFormat()
	}
	mult := map[string]float64{"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12}[m[2]]
	if f*mult >= 1<<62 {
		return nil, errSizeFormat()
	}
	v := int64(f * mult)
	return &v, nil
}

var sizeRe = regexp.MustCompile(`^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb)?$`)

func errSizeFormat() error {
	return errInvalid("Invalid file size format, hint: use 20GB / 20MB / 30KB / 3B")
}

var mimeRe = regexp.MustCompile(`^([a-zA-Z0-9\-+.]+/[a-zA-Z0-9\-+.]+(;\s*charset=[a-zA-Z0-9\-]+)?|[a-zA-Z0-9\-+.]+/\*|\*/\*|\*)$`)

func parseMimes(raw json.RawMessage) ([]string, error) {
	if strings.TrimSpace(string(raw)) == "null" {
		return nil, nil
	}
	var in []string
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, errInvalid("body/allowed_mime_types must be array")
	}
	out := []string{}
	for _, m := range in {
		if m == "" {
			continue
		}
		if len(m) > 1000 || !mimeRe.MatchString(m) {
			return nil, serr(400, "InvalidRequest", "Error", "Invalid mime type format: "+m)
		}
		out = append(out, m)
	}
	return out, nil
}

func ownerOf(sub string) (owner, ownerID *string) {
	if sub == "" {
		return nil, nil
	}
	if isUUID(sub) {
		owner = &sub
	}
	return owner, &sub
}

func (c *call) createBucket() error {
	var body bucketBody
	if err := decodeBody(c.r, &body); err != nil {
		return err
	}
	id := body.ID
	if id == "" {
		id = body.Name
	}
	if !validBucketName(id) {
		return errInvalidBucketName()
	}
	if body.Type != "" && body.Type != "STANDARD" {
		return errNotEnabled("Bucket type " + body.Type)
	}
	var size *int64
	var mimes []string
	var err error
	if body.FileSizeLimit != nil {
		if size, err = parseSize(body.FileSizeLimit); err != nil {
			return err
		}
		if size != nil && *size > c.b.limit {
			return errTooLarge()
		}
	}
	if body.AllowedMimeTypes != nil {
		if mimes, err = parseMimes(body.AllowedMimeTypes); err != nil {
			return err
		}
	}
	public := body.Public != nil && *body.Public
	owner, ownerID := ownerOf(c.a.Claims.Sub())
	err = c.tx(c.r.Context(), tenant.TxOptions{}, func(ctx context.Context, q tenant.Querier) error {
		_, err := q.Exec(ctx, `insert into storage.buckets (id, name, owner, owner_id, public, file_size_limit, allowed_mime_types)
			values ($1, $1, $2::uuid, $3, $4, $5, $6)`, id, owner, ownerID, public, size, mimes)
		return err
	})
	if err != nil {
		return dbErr(err, errBucketExists)
	}
	httpx.WriteJSON(c.w, http.StatusOK, map[string]string{"name": id})
	return nil
}

func (c *call) updateBucket(id string) error {
	var body bucketBody
	if err := decodeBody(c.r, &body); err != nil {
		return err
	}
	if body.Public == nil && body.FileSizeLimit == nil && body.AllowedMimeTypes == nil {
		return errInvalid("body must have at least 1 of public, file_size_limit, allowed_mime_types")
	}
	sets := []string{"updated_at = now()"}
	args := []any{id}
	add := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)))
	}
	if body.Public != nil {
		add("public", *body.Public)
	}
	if body.FileSizeLimit != nil {
		size, err := parseSize(body.FileSizeLimit)
		if err != nil {
			return err
		}
		if size != nil && *size > c.b.limit {
			return errTooLarge()
		}
		add("file_size_limit", size)
	}
	if body.AllowedMimeTypes != nil {
		mimes, err := parseMimes(body.AllowedMimeTypes)
		if err != nil {
			return err
		}
		add("allowed_mime_types", mimes)
	}
	var n int64
	err := c.tx(c.r.Context(), tenant.TxOptions{}, func(ctx context.Context, q tenant.Querier) error {
		tag, err := q.Exec(ctx, `update storage.buckets set `+strings.Join(sets, ", ")+` where id = $1`, args...)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return dbErr(err, nil)
	}
	if n == 0 {
		return errNoSuchBucket()
	}
	httpx.WriteJSON(c.w, http.StatusOK, map[string]string{"message": "Successfully updated"})
	return nil
}

func (c *call) deleteBucket(id string) error {
	err := c.tx(c.r.Context(), tenant.TxOptions{Settings: allowDelete}, func(ctx context.Context, q tenant.Querier) error {
		var exists, hasObjects bool
		if err := q.QueryRow(ctx, `select exists (select 1 from storage.buckets where id = $1),
			exists (select 1 from storage.objects where bucket_id = $1)`, id).Scan(&exists, &hasObjects); err != nil {
			return err
		}
		if !exists {
			return errNoSuchBucket()
		}
		if hasObjects {
			return errNotEmpty()
		}
		tag, err := q.Exec(ctx, `delete from storage.buckets where id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errNoSuchBucket()
		}
		return nil
	})
	if pg.Code(err) == "23503" {
		return errNotEmpty().With(err) // objects the caller cannot see
	}
	if err != nil {
		return dbErr(err, nil)
	}
	httpx.WriteJSON(c.w, http.StatusOK, map[string]string{"message": "Successfully deleted"})
	return nil
}

// emptyBucket deletes every object of a bucket. It is service-role only, as
// in Supabase's current server, and done before answering.
func (c *call) emptyBucket(id string) error {
	if !c.a.IsService() {
		return errServiceOnly()
	}
	if _, err := c.lookupBucket(c.r.Context(), id); err != nil {
		return err
	}
	for {
		var versions []string
		err := c.tx(c.r.Context(), tenant.TxOptions{Settings: allowDelete}, func(ctx context.Context, q tenant.Querier) error {
			rows, err := q.Query(ctx, `delete from storage.objects where id in
				(select id from storage.objects where bucket_id = $1 limit 1000) returning coalesce(version, '')`, id)
			if err != nil {
				return err
			}
			versions, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		if err != nil {
			return dbErr(err, nil)
		}
		c.deleteBlobs(versions...)
		if len(versions) < 1000 {
			break
		}
	}
	httpx.WriteJSON(c.w, http.StatusOK, map[string]string{"message": "Empty bucket has been queued. Completion may take up to an hour."})
	return nil
}

// likeEscape escapes LIKE metacharacters.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/tenant"
)

type sortBy struct {
	Column string `json:"column"`
	Order  string `json:"order"`
}

func (s sortBy) dir() string {
	if strings.EqualFold(s.Order, "desc") {
		return "desc"
	}
	return "asc"
}

// listEntry is a v1 list entry; folders have null id, timestamps and metadata.
type listEntry struct {
	Name           string          `json:"name"`
	ID             *string         `json:"id"`
	UpdatedAt      *jsTime         `json:"updated_at"`
	CreatedAt      *jsTime         `json:"created_at"`
	LastAccessedAt *jsTime         `json:"last_accessed_at"`
	Metadata       json.RawMessage `json:"metadata"`
	folder         bool
}

// entriesSQL lists one level below a prefix: sub-folders once each (rolled
// up at the next "/") and the files at that level. $1 bucket, $2 prefix
// length, $3 LIKE pattern. like is "like" or "ilike".
func entriesSQL(like string) string {
	return `with o as (
		select name, id, updated_at, created_at, last_accessed_at, metadata, substr(name, $2::int + 1) as rest
		from storage.objects where bucket_id = $1 and name ` + like + ` $3 escape '\'
	), e as (
		select distinct split_part(rest, '/', 1) as name, null::text as id, null::timestamptz as updated_at,
			null::timestamptz as created_at, null::timestamptz as last_accessed_at, null::jsonb as metadata, true as folder
		from o where position('/' in rest) > 0
		union all
		select rest, id::text, updated_at, created_at, last_accessed_at, metadata, false from o where position('/' in rest) = 0
	)
	select name, id, updated_at, created_at, last_accessed_at, metadata, folder from e`
}

var listSortColumns = map[string]bool{"name": true, "updated_at": true, "created_at": true, "last_accessed_at": true}

func orderSQL(s sortBy) (string, error) {
	col := s.Column
	if col == "" {
		col = "name"
	}
	if !listSortColumns[col] {
		return "", errInvalid("body/sortBy/column must be one of name, updated_at, created_at, last_accessed_at")
	}
	if col == "name" {
		return ` order by lower(name) collate "C" ` + s.dir() + `, name collate "C" ` + s.dir(), nil
	}
	return ` order by folder desc, ` + col + ` ` + s.dir() + ` nulls first, name collate "C"`, nil
}

func (c *call) queryEntries(ctx context.Context, sql string, args ...any) ([]listEntry, error) {
	var out []listEntry
	err := c.tx(ctx, tenant.TxOptions{ReadOnly: true, Settings: map[string]string{"storage.operation": "object.list"}}, func(ctx context.Context, q tenant.Querier) error {
		rows, err := q.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e listEntry
			var upd, cre, acc *time.Time
			var meta []byte
			if err := rows.Scan(&e.Name, &e.ID, &upd, &cre, &acc, &meta, &e.folder); err != nil {
				return err
			}
			e.UpdatedAt, e.CreatedAt, e.LastAccessedAt = jsts(upd), jsts(cre), jsts(acc)
			if meta != nil {
				e.Metadata = meta
			} else {
				e.Metadata = json.RawMessage("null")
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, dbErr(err, nil)
	}
	return out, nil
}

func (c *call) list(bucketID string) error {
	var body struct {
		Prefix *string `json:"prefix"`
		Limit  *int    `json:"limit"`
		Offset int     `json:"offset"`
		SortBy sortBy  `json:"sortBy"`
		Search string  `json:"search"`
	}
	if err := decodeBody(c.r, &body); err != nil {
		return err
	}
	if body.Prefix == nil {
		return errInvalid("body must have required property 'prefix'")
	}
	limit := 100
	if body.Limit != nil {
		limit = *body.Limit
	}
	if limit < 1 || body.Offset < 0 {
		return errInvalid("body/limit must be >= 1 and body/offset >= 0")
	}
	limit = min(limit, 1500)
	prefix := strings.TrimPrefix(*body.Prefix, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	order, err := orderSQL(body.SortBy)
	if err != nil {
		return err
	}
	sql := entriesSQL("ilike") + order + fmt.Sprintf(" limit %d offset %d", limit, body.Offset)
	out, err := c.queryEntries(c.r.Context(), sql, bucketID, len(prefix), likeEscape(prefix)+likeEscape(body.Search)+"%")
	if err != nil {
		return err
	}
	if out == nil {
		out = []listEntry{}
	}
	httpx.WriteJSON(c.w, http.StatusOK, out)
	return nil
}

type v2Folder struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

type v2Object struct {
	Name           string          `json:"name"`
	Key            string          `json:"key"`
	ID             *string         `json:"id"`
	Metadata       json.RawMessage `json:"metadata"`
	CreatedAt      *jsTime         `json:"created_at"`
	UpdatedAt      *jsTime         `json:"updated_at"`
	LastAccessedAt *jsTime         `json:"last_accessed_at"`
}

// listV2 answers list-v2: full keys, optional roll-up at "/", and an
// opaque cursor (an offset) that pages until hasNext is false.
func (c *call) listV2(bucketID string) error {
	var body struct {
		Prefix        string `json:"prefix"`
		Limit         int    `json:"limit"`
		Cursor        string `json:"cursor"`
		WithDelimiter bool   `json:"with_delimiter"`
		SortBy        sortBy `json:"sortBy"`
	}
	if err := decodeBody(c.r, &body); err != nil {
		return err
	}
	limit := body.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	offset := 0
	if body.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(body.Cursor)
		if err == nil {
			offset, err = strconv.Atoi(strings.TrimPrefix(string(raw), "o:"))
		}
		if err != nil || offset < 0 {
			return errInvalid("Invalid cursor")
		}
	}
	order, err := orderSQL(body.SortBy)
	if err != nil {
		return err
	}
	pattern := likeEscape(body.Prefix) + "%"
	var sql string
	if body.WithDelimiter {
		sql = entriesSQL("like")
	} else {
		sql = `select substr(name, $2::int + 1) as name, id::text, updated_at, created_at, last_accessed_at, metadata, false as folder
			from storage.objects where bucket_id = $1 and name like $3 escape '\'`
	}
	sql = `select * from (` + sql + `) e` + order + fmt.Sprintf(" limit %d offset %d", limit+1, offset)
	entries, err := c.queryEntries(c.r.Context(), sql, bucketID, len(body.Prefix), pattern)
	if err != nil {
		return err
	}
	resp := map[string]any{"hasNext": len(entries) > limit}
	if len(entries) > limit {
		entries = entries[:limit]
		resp["nextCursor"] = base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(offset+limit)))
	}
	folders, objects := []v2Folder{}, []v2Object{}
	for _, e := range entries {
		full := body.Prefix + e.Name
		if e.folder {
			folders = append(folders, v2Folder{Name: full + "/", Key: full})
			continue
		}
		objects = append(objects, v2Object{Name: full, Key: full, ID: e.ID, Metadata: e.Metadata,
			CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, LastAccessedAt: e.LastAccessedAt})
	}
	resp["folders"], resp["objects"] = folders, objects
	httpx.WriteJSON(c.w, http.StatusOK, resp)
	return nil
}

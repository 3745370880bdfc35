package rest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// openAPI answers GET /rest/v1/ with a Swagger 2.0 description of the
// profile schema's tables, views and functions, as PostgREST's root does
// (a compact version: paths, row definitions and the methods each allows;
// functions are not listed, as the schema cache does not enumerate them).
func (q *request) openAPI() error {
	type def struct {
		Type       string            `json:"type"`
		Required   []string          `json:"required,omitempty"`
		Properties map[string]oaProp `json:"properties"`
	}
	paths := map[string]map[string]any{"/": {"get": map[string]any{"produces": []string{"application/openapi+json", "application/json"},
		"responses": map[string]any{"200": map[string]string{"description": "OK"}}, "summary": "OpenAPI description (this document)"}}}
	defs := map[string]def{}
	ok := map[string]any{"200": map[string]string{"description": "OK"}}
	for _, t := range q.snap.Tables() {
		if t.Schema != q.profile {
			continue
		}
		d := def{Type: "object", Properties: map[string]oaProp{}}
		for _, c := range t.Columns {
			d.Properties[c.Name] = jsonSchemaType(c.Type)
			if !c.Nullable && c.Default == "" && !c.Generated {
				d.Required = append(d.Required, c.Name)
			}
		}
		defs[t.Name] = d
		ops := map[string]any{"get": map[string]any{"tags": []string{t.Name}, "responses": ok}}
		if t.Insertable {
			ops["post"] = map[string]any{"tags": []string{t.Name}, "responses": map[string]any{"201": map[string]string{"description": "Created"}}}
		}
		if t.Updatable {
			ops["patch"] = map[string]any{"tags": []string{t.Name}, "responses": map[string]any{"204": map[string]string{"description": "No Content"}}}
		}
		if t.Deletable {
			ops["delete"] = map[string]any{"tags": []string{t.Name}, "responses": map[string]any{"204": map[string]string{"description": "No Content"}}}
		}
		paths["/"+t.Name] = ops
	}
	doc := map[string]any{
		"swagger":     "2.0",
		"info":        map[string]string{"title": "MadBase REST API", "version": "14", "description": "PostgREST-compatible API of schema " + q.profile},
		"basePath":    "/",
		"schemes":     []string{"http", "https"},
		"consumes":    []string{"application/json", "application/vnd.pgrst.object+json", "text/csv"},
		"produces":    []string{"application/json", "application/vnd.pgrst.object+json", "text/csv"},
		"paths":       paths,
		"definitions": defs,
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	h := q.w.Header()
	h.Set("Content-Type", "application/openapi+json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if q.profileSent || len(q.set.Schemas) > 1 {
		h.Set("Content-Profile", q.profile)
	}
	q.w.WriteHeader(http.StatusOK)
	if q.r.Method != http.MethodHead {
		_, _ = q.w.Write(b)
	}
	return nil
}

type oaProp struct {
	Type   string `json:"type,omitempty"`
	Format string `json:"format"`
	Items  any    `json:"items,omitempty"`
}

func jsonSchemaType(pgType string) oaProp {
	type p = oaProp
	if strings.HasSuffix(pgType, "[]") {
		return p{Type: "array", Format: pgType, Items: map[string]string{"type": "string"}}
	}
	switch pgType {
	case "integer", "smallint", "bigint":
		return p{Type: "integer", Format: pgType}
	case "numeric", "real", "double precision":
		return p{Type: "number", Format: pgType}
	case "boolean":
		return p{Type: "boolean", Format: pgType}
	case "json", "jsonb":
		return p{Format: pgType}
	}
	return p{Type: "string", Format: pgType}
}

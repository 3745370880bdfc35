package rest

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/madbase/madbase/internal/rest/schema"
)

// openAPI answers GET /rest/v1/ with a Swagger 2.0 description of the
// profile schema's tables, views and functions, as PostgREST's root does
// (a compact version: paths, row definitions and the methods each allows,
// and /rpc/<name> with the parameters of every overload).
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
	for _, name := range q.snap.FunctionNames(q.profile) {
		paths["/rpc/"+name] = rpcOps(q.snap.Functions(schema.QName{Schema: q.profile, Name: name}), ok)
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

// rpcOps describes a function's path: GET with the parameters in the query
// string, POST with them as a JSON object (the union over the overloads;
// a parameter is required when every overload requires it).
func rpcOps(overloads []*schema.Function, ok map[string]any) map[string]any {
	props := map[string]oaProp{}
	need := map[string]int{}
	for _, f := range overloads {
		for _, p := range f.Params {
			if p.Name == "" {
				continue
			}
			if _, seen := props[p.Name]; !seen {
				props[p.Name] = jsonSchemaType(p.Type)
			}
			if !p.HasDefault && !p.Variadic {
				need[p.Name]++
			}
		}
	}
	names := slices.Sorted(maps.Keys(props))
	var required []string
	query := []map[string]any{}
	for _, n := range names {
		req := need[n] == len(overloads)
		if req {
			required = append(required, n)
		}
		query = append(query, map[string]any{"name": n, "in": "query", "required": req, "type": props[n].Type, "format": props[n].Format})
	}
	tag := []string{"(rpc) " + overloads[0].Name}
	body := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		body["required"] = required
	}
	return map[string]any{
		"get":  map[string]any{"tags": tag, "parameters": query, "responses": ok},
		"post": map[string]any{"tags": tag, "parameters": []map[string]any{{"name": "args", "in": "body", "required": true, "schema": body}}, "responses": ok},
	}
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

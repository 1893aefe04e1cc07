package api

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// OpenAPIVersion is the version of the OpenAPI Specification the description follows.
const OpenAPIVersion = "3.1.0"

// pathParam finds the wildcards of a route's path ({name}, {rest...}).
var pathParam = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}`)

// pathParamDocs say what the path parameters are.
var pathParamDocs = map[string]string{
	"name":   "the job's name",
	"id":     "the run's id",
	"step":   "the step's name",
	"sha256": "the blob's SHA-256, 64 lowercase hex digits",
}

// OpenAPI returns the API's description, made from its route table and the Go types its
// handlers read and write.
func (a *API) OpenAPI() map[string]any {
	a.openAPIOnce.Do(func() { a.openAPIDoc = buildOpenAPI(a.endpoints()) })
	return a.openAPIDoc
}

// openAPIDocument serves the description.
func (a *API) openAPIDocument(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, http.StatusOK, a.OpenAPI())
}

// openAPICache holds the description once made.
type openAPICache struct {
	openAPIOnce sync.Once
	openAPIDoc  map[string]any
}

// buildOpenAPI describes the endpoints.
func buildOpenAPI(eps []endpoint) map[string]any {
	s := &schemas{components: map[string]any{}}
	errRef := s.ref(typeOf[errorBody](), false)
	paths := map[string]any{}
	for _, e := range eps {
		path := pathParam.ReplaceAllString(e.path, "{$1}")
		item, _ := paths[path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[path] = item
		}
		item[strings.ToLower(e.method)] = operation(s, e, errRef)
	}
	return map[string]any{
		"openapi": OpenAPIVersion,
		"info": map[string]any{
			"title":       "Docket API",
			"version":     "v1",
			"description": "Docket's HTTP API: job definitions, runs, their events, logs and reports. Errors are JSON objects naming the field at fault (see Error). Generated from the server's route table and the Go types of its handlers.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": s.components,
			"securitySchemes": map[string]any{
				"bearer": map[string]any{"type": "http", "scheme": "bearer",
					"description": "An API token (docket token new), or a run's own token (DOCKET_TOKEN in the run) for that run's report and checkpoint. A server without tokens needs none."},
			},
		},
	}
}

// operation describes one endpoint.
func operation(s *schemas, e endpoint, errRef map[string]any) map[string]any {
	op := map[string]any{
		"summary":     e.doc.summary,
		"operationId": operationID(e),
	}
	var params []any
	for _, m := range pathParam.FindAllStringSubmatch(e.path, -1) {
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true,
			"description": pathParamDocs[m[1]], "schema": map[string]any{"type": "string"}})
	}
	for _, p := range e.doc.params {
		schema := map[string]any{"type": p.typ}
		if p.typ == "date-time" {
			schema = map[string]any{"type": "string", "format": "date-time"}
		}
		if p.repeated {
			schema = map[string]any{"type": "array", "items": schema}
		}
		params = append(params, map[string]any{"name": p.name, "in": p.in, "description": p.desc, "schema": schema})
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	if e.doc.body != nil {
		schema := s.ref(e.doc.body, true)
		content := map[string]any{"application/json": map[string]any{"schema": schema}}
		if e.doc.bodyYAML {
			content["application/yaml"] = map[string]any{"schema": schema}
		}
		op["requestBody"] = map[string]any{"required": !e.doc.bodyOptional, "content": content}
	}
	if e.doc.rawBody {
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			"application/octet-stream": map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}}}
	}
	codes := e.doc.statuses
	if len(codes) == 0 {
		codes = []int{http.StatusOK}
	}
	responses := map[string]any{}
	for _, code := range codes {
		resp := map[string]any{"description": http.StatusText(code)}
		switch {
		case e.doc.text:
			resp["content"] = map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}
		case e.doc.binary:
			resp["content"] = map[string]any{"application/octet-stream": map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}}
		case e.doc.returns != nil:
			resp["content"] = map[string]any{"application/json": map[string]any{"schema": s.ref(e.doc.returns, false)}}
		}
		responses[strconv.Itoa(code)] = resp
	}
	responses["default"] = map[string]any{"description": "an error, naming the field at fault",
		"content": map[string]any{"application/json": map[string]any{"schema": errRef}}}
	op["responses"] = responses
	if e.access == open {
		op["security"] = []any{}
	} else {
		op["security"] = []any{map[string]any{"bearer": []any{}}}
		op["x-docket-role"] = e.role.String()
	}
	return op
}

// operationID names an operation from its method and path: GET /api/v1/jobs/{name}/series
// is getJobsNameSeries.
func operationID(e endpoint) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(e.method))
	for _, part := range strings.Split(strings.TrimPrefix(e.path, "/api/v1"), "/") {
		part = strings.Trim(strings.TrimSuffix(part, "...}"), "{}")
		for _, word := range strings.FieldsFunc(part, func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
			b.WriteString(strings.ToUpper(word[:1]) + word[1:])
		}
	}
	return b.String()
}

// MarshalOpenAPI is the description as the file docs/openapi.json holds it: indented JSON.
func MarshalOpenAPI(doc map[string]any) ([]byte, error) {
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

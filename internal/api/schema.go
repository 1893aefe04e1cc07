package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"

	"docket.dev/docket/internal/job"
)

// schemas builds JSON Schemas (the 2020-12 dialect OpenAPI 3.1 uses) from the Go types
// the handlers decode and encode, as encoding/json sees them: a named struct becomes a
// component, referenced where it is used. Output schemas require the fields that are
// always written (no omitempty) and allow no others; input schemas (components named
// ...Input) require nothing, since the handler checks what is required and says so by
// field, and allow no unknown fields, as the decoders refuse them.
type schemas struct {
	components map[string]any
}

// Types whose JSON is not what reflection over them shows.
var (
	timeType     = reflect.TypeFor[time.Time]()
	rawType      = reflect.TypeFor[json.RawMessage]()
	durationType = reflect.TypeFor[job.Duration]()
	stateType    = reflect.TypeFor[job.State]()
)

// ref returns the schema of t, adding the components it needs.
func (s *schemas) ref(t reflect.Type, input bool) map[string]any {
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case rawType:
		return map[string]any{"description": "any JSON document"}
	case durationType:
		return map[string]any{"type": "string", "description": `a duration with a unit, such as "90s", "30m" or "2h"`, "examples": []any{"2h"}}
	case stateType:
		states := make([]any, len(job.States))
		for i, st := range job.States {
			states[i] = string(st)
		}
		return map[string]any{"type": "string", "enum": states}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return s.ref(t.Elem(), input)
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": s.ref(t.Elem(), input)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": s.ref(t.Elem(), input)}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := componentName(t, input)
		if _, ok := s.components[name]; !ok {
			s.components[name] = nil // a type that refers to itself stops here
			s.components[name] = s.object(t, input)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	panic("openapi: no schema for Go type " + t.String())
}

// componentName names a struct's component: exported as in Go ("Run" for job.Run),
// unexported ones capitalised ("JobView" for jobView).
func componentName(t reflect.Type, input bool) string {
	name := t.Name()
	if name == "" {
		panic("openapi: an anonymous struct has no component name; give the type a name")
	}
	name = strings.ToUpper(name[:1]) + name[1:]
	if input {
		name += "Input"
	}
	return name
}

// object is the schema of a struct's JSON object.
func (s *schemas) object(t reflect.Type, input bool) map[string]any {
	props := map[string]any{}
	var required []string
	for _, f := range jsonFields(t) {
		p := s.ref(f.typ, input)
		if f.nullable {
			p = map[string]any{"anyOf": []any{p, map[string]any{"type": "null"}}}
		}
		props[f.name] = p
		if !f.optional && !input {
			required = append(required, f.name)
		}
	}
	obj := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		obj["required"] = required
	}
	return obj
}

// jsonField is a field of a struct as encoding/json writes it.
type jsonField struct {
	name string
	typ  reflect.Type
	// optional fields may be absent (omitempty, omitzero); nullable ones may be null (a
	// pointer, slice or map that is written even when nil).
	optional, nullable bool
}

// jsonFields lists the fields encoding/json writes for struct t: the tagged names, with
// embedded structs' fields raised unless a shallower field has the name.
func jsonFields(t reflect.Type) []jsonField {
	var direct, embedded []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, jsonFields(ft)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		omit := strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,")
		k := f.Type.Kind()
		nilable := (k == reflect.Pointer || k == reflect.Slice || k == reflect.Map || k == reflect.Interface) && f.Type != rawType
		direct = append(direct, jsonField{name: name, typ: f.Type, optional: omit, nullable: nilable && !omit})
	}
	taken := map[string]bool{}
	for _, f := range direct {
		taken[f.name] = true
	}
	for _, f := range embedded {
		if !taken[f.name] {
			direct = append(direct, f)
			taken[f.name] = true
		}
	}
	return direct
}

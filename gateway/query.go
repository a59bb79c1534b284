package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The transcoder lets a REST request's query parameters set any field,
// those its route binds to the path or the body included, and the query
// wins: GET /v1/echo/hello?message=evil calls with message "evil". That
// defeats anything in front of the gateway that allows or denies by path.
// The google.api.http rules give those fields to the path and the body, so
// the gateway refuses a query parameter that would set one, with
// INVALID_ARGUMENT (HTTP 400), before the call reaches the backend.

// restRequest is what the query check needs of a REST request, kept in
// its context for the transcoded call, which has a gRPC path of its own.
type restRequest struct {
	method, path string
	query        url.Values
}

type restRequestKey struct{}

// withRESTRequest keeps r's method, path and query in its context, when it
// is a REST request with a query: gRPC-web and Connect requests may carry
// a query of their own (a cache buster, Connect's GET), which sets no
// field.
func withRESTRequest(r *http.Request) *http.Request {
	if r.URL.RawQuery == "" || !servedAsREST(r) {
		return r
	}
	rr := &restRequest{method: r.Method, path: r.URL.Path, query: r.URL.Query()}
	return r.WithContext(context.WithValue(r.Context(), restRequestKey{}, rr))
}

// servedAsREST reports whether the transcoder serves r as REST, by its own
// rules (vanguard's classifyRequest), which must be followed exactly: a
// request it serves as REST but the check took for another protocol (two
// Connect-Protocol-Version headers, say) would go unchecked.
func servedAsREST(r *http.Request) bool {
	v := r.Header["Connect-Protocol-Version"]
	connect := len(v) == 1 && v[0] == "1"
	types := r.Header["Content-Type"]
	switch {
	case len(types) > 1:
		return false // refused
	case len(types) == 0:
		return !connect && r.URL.Query().Get("connect") != "v1"
	}
	ct := types[0]
	switch {
	case strings.HasPrefix(ct, "application/connect+"),
		ct == "application/grpc", strings.HasPrefix(ct, "application/grpc+"),
		ct == "application/grpc-web", strings.HasPrefix(ct, "application/grpc-web+"):
		return false
	case strings.HasPrefix(ct, "application/"):
		return !connect && r.URL.Query().Get("connect") != "v1"
	}
	return true
}

// binding is one HTTP route of a method: its verb, its path template,
// what it takes from the body and what of the response it answers with.
type binding struct {
	verb, template, body, responseBody string
}

// bindingsOf returns the routes of rule and its additional bindings.
func bindingsOf(rule *annotations.HttpRule) []binding {
	var out []binding
	add := func(r *annotations.HttpRule) {
		var verb, path string
		switch p := r.GetPattern().(type) {
		case *annotations.HttpRule_Get:
			verb, path = http.MethodGet, p.Get
		case *annotations.HttpRule_Put:
			verb, path = http.MethodPut, p.Put
		case *annotations.HttpRule_Post:
			verb, path = http.MethodPost, p.Post
		case *annotations.HttpRule_Delete:
			verb, path = http.MethodDelete, p.Delete
		case *annotations.HttpRule_Patch:
			verb, path = http.MethodPatch, p.Patch
		case *annotations.HttpRule_Custom:
			verb, path = p.Custom.GetKind(), p.Custom.GetPath()
		default:
			return
		}
		out = append(out, binding{verb: verb, template: path, body: r.GetBody(), responseBody: r.GetResponseBody()})
	}
	add(rule)
	for _, b := range rule.GetAdditionalBindings() {
		add(b)
	}
	return out
}

// httpRuleOf returns m's google.api.http rule, or nil. Descriptors built
// from .proto files at run time hold it as a dynamic message, which
// proto.GetExtension would panic on: it is read as a field and, when it
// is not the generated type, copied into one through its wire form.
func httpRuleOf(m protoreflect.MethodDescriptor) *annotations.HttpRule {
	opts := m.Options().ProtoReflect()
	xd := annotations.E_Http.TypeDescriptor()
	if !opts.Has(xd) {
		return nil
	}
	v := opts.Get(xd).Message().Interface()
	if rule, ok := v.(*annotations.HttpRule); ok {
		return rule
	}
	b, err := proto.Marshal(v)
	if err != nil {
		return nil
	}
	rule := new(annotations.HttpRule)
	if proto.Unmarshal(b, rule) != nil {
		return nil
	}
	return rule
}

// methodRoutes are a method's REST routes.
type methodRoutes struct {
	method   protoreflect.MethodDescriptor
	bindings []binding
}

// methodBindings returns the routes of the exposed methods, by
// /pkg.Service/Method: their own google.api.http rules and the gateway's
// default ones.
func methodBindings(services []protoreflect.ServiceDescriptor, exposed map[string]bool, defaults []*annotations.HttpRule) map[string]*methodRoutes {
	out := map[string]*methodRoutes{}
	byName := map[protoreflect.FullName]*methodRoutes{}
	for _, sd := range services {
		if !exposed[string(sd.FullName())] {
			continue
		}
		for i := 0; i < sd.Methods().Len(); i++ {
			m := sd.Methods().Get(i)
			mr := &methodRoutes{method: m}
			if rule := httpRuleOf(m); rule != nil {
				mr.bindings = bindingsOf(rule)
			}
			out[methodPath(m)], byName[m.FullName()] = mr, mr
		}
	}
	for _, rule := range defaults {
		if mr, ok := byName[protoreflect.FullName(rule.GetSelector())]; ok {
			mr.bindings = append(mr.bindings, bindingsOf(rule)...)
		}
	}
	return out
}

// queryConflict returns why a query parameter of rr may not be used with
// the method of routes, or "" when none conflicts.
func (routes *methodRoutes) queryConflict(rr *restRequest) string {
	m := routes.method
	b, vars, ok := matchBinding(routes.bindings, rr.method, rr.path)
	if !ok {
		return "" // not a REST route: Connect's GET, say, has a query of its own
	}
	route := b.verb + " " + b.template
	keys := make([]string, 0, len(rr.query))
	for k := range rr.query {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fields := make([][]protoreflect.FieldDescriptor, len(keys))
	for i, k := range keys {
		if b.body == "*" {
			return fmt.Sprintf("query parameter %q: %s takes the whole request from the body, so no field can be set in the query; put it in the body", k, route)
		}
		// The transcoder finds a query parameter's fields by JSON name
		// first, a path template's by proto name.
		field := resolvePath(m.Input(), k, true)
		fields[i] = field
		for _, v := range vars {
			if overlaps(field, resolvePath(m.Input(), v, false)) {
				return fmt.Sprintf("query parameter %q would override {%s}, which %s takes from the path; drop it from the query", k, v, route)
			}
		}
		if b.body != "" && overlaps(field, resolvePath(m.Input(), b.body, false)) {
			return fmt.Sprintf("query parameter %q would override %s, which %s takes from the body; drop it from the query", k, b.body, route)
		}
	}
	// Two parameters for one field (its JSON and proto names), or for two
	// members of one oneof, where the transcoder lets the last one win
	// without a word.
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if overlaps(fields[i], fields[j]) {
				return fmt.Sprintf("query parameters %q and %q set the same field, or two members of one oneof, of which a request holds one; give one of them", keys[i], keys[j])
			}
		}
	}
	return ""
}

// resolvePath finds the fields of a dotted field path in md: by JSON name
// and then proto name at each step when jsonFirst is set, as the
// transcoder reads a query parameter, else by proto name only. It stops at
// the first part it cannot find.
func resolvePath(md protoreflect.MessageDescriptor, path string, jsonFirst bool) []protoreflect.FieldDescriptor {
	var out []protoreflect.FieldDescriptor
	for _, p := range strings.Split(path, ".") {
		if md == nil {
			break
		}
		var fd protoreflect.FieldDescriptor
		if jsonFirst {
			fd = md.Fields().ByJSONName(p)
		}
		if fd == nil {
			fd = md.Fields().ByName(protoreflect.Name(p))
		}
		if fd == nil {
			break
		}
		out = append(out, fd)
		md = fd.Message()
	}
	return out
}

// overlaps reports whether setting the field at path a changes the one at
// path b: they are one field, one holds the other, or they part at two
// members of one oneof, where setting one clears the other.
func overlaps(a, b []protoreflect.FieldDescriptor) bool {
	if len(a) == 0 || len(b) == 0 {
		return false // a path that names no field sets nothing
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] == b[i] {
			continue
		}
		o := a[i].ContainingOneof()
		return o != nil && !o.IsSynthetic() && o == b[i].ContainingOneof()
	}
	return true
}

// matchBinding returns the binding of the HTTP method verb whose template
// matches path, and the field paths of the template's variables. Of
// several, it is the one the transcoder routes to: segment by segment, a
// literal before "*" before "**", then the method itself before a custom
// "*", which takes every method.
func matchBinding(bindings []binding, verb, path string) (binding, []string, bool) {
	var best binding
	var bestSegs, bestVars []string
	found := false
	for _, b := range bindings {
		if b.verb != verb && b.verb != "*" {
			continue
		}
		segs, tverb, vars, ok := parseTemplate(b.template)
		if !ok || !matchPath(segs, tverb, path) {
			continue
		}
		if found {
			c := compareSegments(segs, bestSegs)
			if c > 0 || (c == 0 && (best.verb == verb || b.verb == "*")) {
				continue
			}
		}
		best, bestSegs, bestVars, found = b, segs, vars, true
	}
	return best, bestVars, found
}

// compareSegments orders two templates' segments as the transcoder tries
// them: at the first place they differ, a literal before "*" before "**".
func compareSegments(a, b []string) int {
	rank := func(s string) int {
		switch s {
		case "*":
			return 1
		case "**":
			return 2
		}
		return 0
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		if ra, rb := rank(a[i]), rank(b[i]); ra != rb {
			return ra - rb
		}
	}
	return 0
}

// parseTemplate flattens a google.api.http path template into its
// segments (literals, "*" and "**", a variable standing for its own
// segments, "*" by default), its verb, and the field paths of its
// variables.
func parseTemplate(t string) (segs []string, verb string, vars []string, ok bool) {
	rest, found := strings.CutPrefix(t, "/")
	if !found {
		return nil, "", nil, false
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && i > strings.LastIndexAny(rest, "}/") {
		rest, verb = rest[:i], rest[i+1:]
	}
	for rest != "" {
		var seg string
		if strings.HasPrefix(rest, "{") {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return nil, "", nil, false
			}
			field, pattern, hasPattern := strings.Cut(rest[1:end], "=")
			vars = append(vars, field)
			if hasPattern {
				for _, s := range strings.Split(pattern, "/") {
					segs = append(segs, literalKey(s))
				}
			} else {
				segs = append(segs, "*")
			}
			rest = rest[end+1:]
		} else {
			seg, rest, _ = strings.Cut(rest, "/")
			segs = append(segs, literalKey(seg))
			continue
		}
		rest = strings.TrimPrefix(rest, "/")
	}
	for i, s := range segs {
		if s == "**" && i != len(segs)-1 {
			return nil, "", nil, false // ** must be last, as the transcoder insists
		}
	}
	return segs, verb, vars, true
}

// literalKey is a template's literal segment as the transcoder compares it
// with a request's decoded segments: unescaped, then escaped again with
// every byte outside [-_.~0-9A-Za-z] as %XX (%41 is A; ":" is %3A).
func literalKey(lit string) string {
	if lit == "*" || lit == "**" {
		return lit
	}
	u, err := url.PathUnescape(lit)
	if err != nil {
		return lit
	}
	var b strings.Builder
	for i := 0; i < len(u); i++ {
		c := u[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// matchPath reports whether path matches the template's segments and
// verb. As the transcoder does, it takes the verb from the last segment,
// after its first colon.
func matchPath(segs []string, verb, path string) bool {
	path = strings.TrimPrefix(path, "/")
	parts := strings.Split(path, "/")
	last, pathVerb, _ := strings.Cut(parts[len(parts)-1], ":")
	parts[len(parts)-1] = last
	if pathVerb != verb {
		return false
	}
	for i, s := range segs {
		if s == "**" {
			return i < len(parts) // at least one segment, as the transcoder wants
		}
		if i >= len(parts) || (s != "*" && s != parts[i]) {
			return false
		}
	}
	return len(parts) == len(segs)
}

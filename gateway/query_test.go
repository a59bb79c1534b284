package gateway

import (
	"strings"
	"testing"
)

func TestRouteTemplates(t *testing.T) {
	for _, tt := range []struct {
		template, path string
		match          bool
		vars           []string
	}{
		{"/v1/echo/{message}", "/v1/echo/hi", true, []string{"message"}},
		{"/v1/echo/{message}", "/v1/echo/hi/there", false, nil},
		{"/v1/echo", "/v1/echo", true, nil},
		{"/v1/{name=shelves/*/books/*}", "/v1/shelves/1/books/2", true, []string{"name"}},
		{"/v1/{name=shelves/*/books/*}", "/v1/shelves/1", false, nil},
		{"/v1/{parent=**}/items", "/v1/a/b/c", true, []string{"parent"}},
		{"/v1/{a}/{b.c}:publish", "/v1/x/y:publish", true, []string{"a", "b.c"}},
		{"/v1/{a}/{b.c}:publish", "/v1/x/y", false, nil},
		{"/v1/*/x", "/v1/anything/x", true, nil},
	} {
		segs, verb, vars, ok := parseTemplate(tt.template)
		if !ok {
			t.Errorf("parseTemplate(%q) failed", tt.template)
			continue
		}
		if got := matchPath(segs, verb, tt.path); got != tt.match {
			t.Errorf("%s matching %s: %v, want %v", tt.template, tt.path, got, tt.match)
		}
		if tt.match && strings.Join(vars, ",") != strings.Join(tt.vars, ",") {
			t.Errorf("%s: variables %v, want %v", tt.template, vars, tt.vars)
		}
	}
}

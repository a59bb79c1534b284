package format

import "testing"

func TestDropExtraSpace(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		sep      byte
		want     string
	}{
		{"compact", `{"a":1, "b":[1, 2], "c":"x, y"}`, ',', `{"a":1,"b":[1,2],"c":"x, y"}`},
		{"compact escaped quote", `{"a":"q\", ", "b":2}`, ',', `{"a":"q\", ","b":2}`},
		{"compact escaped backslash", `{"a":"\\", "b":2}`, ',', `{"a":"\\","b":2}`},
		{"indented", "{\n  \"a\":  1,\n  \"b\":  \"k\\\":  v\"\n}", ':', "{\n  \"a\": 1,\n  \"b\": \"k\\\":  v\"\n}"},
		{"indented stable", "{\n  \"a\": 1\n}", ':', "{\n  \"a\": 1\n}"},
		{"text", "f_double:  nan\nf_string:  \"a:  b\"\nnested:  {\n  name:  \"n\"\n}\n", ':', "f_double: nan\nf_string: \"a:  b\"\nnested: {\n  name: \"n\"\n}\n"},
		{"text stable", "a: 1\nb: \"x\"\n", ':', "a: 1\nb: \"x\"\n"},
		{"text on one line", `a:1  b:"x  y"  c:{d:2}`, ' ', `a:1 b:"x  y" c:{d:2}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(dropExtraSpace([]byte(tc.in), tc.sep)); got != tc.want {
				t.Errorf("dropExtraSpace(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

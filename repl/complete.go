package repl

import (
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcx/grpcx/descsource"
)

// completer completes commands, service and method names (full and short),
// message names, header names already used, settings and their values,
// the answers a field prompt expects, and the JSON field names of a
// method's request after "call METHOD {".
type completer struct{ s *Session }

// Do implements readline.AutoCompleter: it returns the candidates' suffixes
// after the word being typed, and that word's length.
func (c *completer) Do(line []rune, pos int) ([][]rune, int) {
	text := string(line[:pos])
	reading := c.s.readingNow()
	if reading.choices != nil {
		return suffixes(strings.TrimSpace(text), reading.choices)
	}
	if method := reading.entryOf; method != "" {
		// A stream's entry: a JSON request of the method, nothing else.
		if m := jsonFieldContext().FindStringSubmatch(method + " " + text); m != nil {
			return c.jsonFields(m[1], m[2])
		}
		return nil, 0
	}
	if m := jsonFieldContext().FindStringSubmatch(text); m != nil {
		return c.jsonFields(m[1], m[2])
	}
	words := strings.Fields(text)
	partial := ""
	if len(words) > 0 && !strings.HasSuffix(text, " ") {
		partial, words = words[len(words)-1], words[:len(words)-1]
	}
	if len(words) > 0 && words[0] == "call" && len(words) > 1 && words[1] == "--fill" {
		words = append(words[:1], words[2:]...)
	}
	switch {
	case len(words) == 0:
		return suffixes(partial, append(commandNames(), c.methods()...))
	case len(words) == 1:
		switch words[0] {
		case "call":
			return suffixes(partial, append([]string{"--fill"}, c.methods()...))
		case "describe", "template":
			return suffixes(partial, append(append(c.methods(), c.services()...), c.messages()...))
		case "use", "ls", "list":
			return suffixes(partial, append(c.services(), ".."))
		case "header":
			return suffixes(partial, append(c.headerNames(), "-d"))
		case "set":
			return suffixes(partial, settingNames)
		case "help":
			return suffixes(partial, commandNames())
		case "show":
			return suffixes(partial, []string{"settings"})
		}
	case len(words) == 2 && words[0] == "set":
		return suffixes(partial, settingValues[words[1]])
	case len(words) == 2 && words[0] == "header" && words[1] == "-d":
		return suffixes(partial, c.headerNames())
	}
	return nil, 0
}

// jsonFieldContext matches "[call [--fill]] METHOD {...": the method and the
// JSON typed so far, from its first {. It is compiled on first use: every
// grpcx command would pay for it at start-up.
var jsonFieldContext = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^\s*(?:call\s+(?:--fill\s+)?)?(\S+)\s+(\{.*)$`)
})

// jsonFields completes a key of the object being typed at the end of
// json, a request of method: of the request itself, or of the message
// the keys before it lead to ({"nested": {"na completes the nested
// message's keys; a list of messages, a map's values likewise).
func (c *completer) jsonFields(method, json string) ([][]rune, int) {
	path, partial, ok := openKeys(json)
	if !ok {
		return nil, 0
	}
	// findMethod may ask the server: within completeWait, like the rest.
	// What it reads of the session is read here, before it may outlive
	// the Tab.
	src, err := c.s.source()
	if err != nil {
		return nil, 0
	}
	service := c.s.service
	m, ok := within(func() (protoreflect.MethodDescriptor, error) {
		return findMethodIn(src, service, method)
	})
	if !ok {
		return nil, 0
	}
	md := messageAt(m.Input(), path)
	if md == nil {
		return nil, 0
	}
	var keys []string
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		keys = append(keys, `"`+fields.Get(i).JSONName()+`": `)
	}
	return suffixes(partial, keys)
}

// A jsonFrame is an object or array left open in JSON being typed: the
// key whose value it is ("" for the outermost object and an array's
// elements).
type jsonFrame struct {
	key   string
	array bool
}

// openKeys reads JSON being typed and returns the frames open at its end,
// the outermost first, and the key being typed there: ok is false when
// the end is not where a key goes (inside a value, say).
func openKeys(json string) (path []jsonFrame, partial string, ok bool) {
	var stack []jsonFrame
	var str strings.Builder
	inString, escaped, lastString, afterColon := false, false, "", false
	keyStart := -1
	for i, r := range json {
		if inString {
			switch {
			case escaped:
				escaped = false
				str.WriteRune(r)
			case r == '\\':
				escaped = true
			case r == '"':
				inString, lastString = false, str.String()
			default:
				str.WriteRune(r)
			}
			continue
		}
		switch r {
		case '"':
			inString, keyStart = true, i
			str.Reset()
		case ':':
			afterColon = true
		case ',':
			afterColon, lastString = false, ""
		case '{', '[':
			key := ""
			if afterColon {
				key = lastString
			}
			stack = append(stack, jsonFrame{key: key, array: r == '['})
			afterColon, lastString = false, ""
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			afterColon = false
		}
	}
	if len(stack) == 0 || stack[len(stack)-1].array || afterColon {
		return nil, "", false
	}
	rest := json[strings.LastIndexAny(json, "{,")+1:]
	if inString {
		rest = json[keyStart:]
	}
	rest = strings.TrimLeft(rest, " \t")
	if strings.ContainsAny(rest, ":}") || (rest != "" && !inString) {
		return nil, "", false
	}
	return stack, rest, true
}

// messageAt returns the message type whose object path leads to in a
// request of type md, or nil when it leads to no message (a map's own
// object, whose keys are the map's, or an unknown field).
func messageAt(md protoreflect.MessageDescriptor, path []jsonFrame) protoreflect.MessageDescriptor {
	var field protoreflect.FieldDescriptor // the field whose value is open, if any
	for _, frame := range path[1:] {
		switch {
		case field != nil && field.IsMap():
			md, field = field.MapValue().Message(), nil // a map's value
		case field != nil && frame.key == "":
			md, field = field.Message(), nil // a list's element
		default:
			f := md.Fields().ByJSONName(frame.key)
			if f == nil {
				f = md.Fields().ByName(protoreflect.Name(frame.key))
			}
			if f == nil || f.Message() == nil {
				return nil
			}
			field = f
			if !f.IsMap() && !f.IsList() {
				md, field = f.Message(), nil
			} else if f.IsList() && !frame.array {
				return nil
			}
		}
		if md == nil {
			return nil
		}
	}
	if field != nil {
		return nil // the object of a map, or a list's [ with no element yet
	}
	return md
}

func suffixes(partial string, candidates []string) ([][]rune, int) {
	sort.Strings(candidates)
	var out [][]rune
	seen := map[string]bool{}
	for _, cand := range candidates {
		if strings.HasPrefix(cand, partial) && !seen[cand] {
			seen[cand] = true
			suffix := cand[len(partial):]
			if !strings.HasSuffix(cand, " ") && !strings.HasSuffix(cand, ".") {
				suffix += " "
			}
			out = append(out, []rune(suffix))
		}
	}
	return out, len([]rune(partial))
}

// completeWait is the longest Tab waits for the server: the line editor
// is frozen meanwhile, and a silent server would freeze it for good. A
// lookup that takes longer goes on, and the descriptor source keeps its
// answer for the next Tab.
const completeWait = 2 * time.Second

// within returns what ask returns, or false if it took longer than
// completeWait. ask must touch nothing but a descriptor source, which is
// safe for concurrent use: it may still run after the session went on.
func within[T any](ask func() (T, error)) (T, bool) {
	done := make(chan T, 1)
	go func() {
		if v, err := ask(); err == nil {
			done <- v
		}
		close(done)
	}()
	select {
	case v, ok := <-done:
		return v, ok
	case <-time.After(completeWait):
		var zero T
		return zero, false
	}
}

func (c *completer) services() []string {
	src, err := c.s.source()
	if err != nil {
		return nil
	}
	names, ok := within(src.ListServices)
	if !ok {
		return nil
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = string(n)
	}
	return out
}

// methods are the short names in the service in use, and everywhere the
// full pkg.Service/Method names.
func (c *completer) methods() []string {
	var out []string
	if svc := c.s.service; svc != nil {
		for i := 0; i < svc.Methods().Len(); i++ {
			out = append(out, string(svc.Methods().Get(i).Name()))
		}
	}
	c.eachService(func(svc protoreflect.ServiceDescriptor) {
		for i := 0; i < svc.Methods().Len(); i++ {
			out = append(out, string(svc.FullName())+"/"+string(svc.Methods().Get(i).Name()))
		}
	})
	return out
}

// messages are the message types declared in the files of the services.
func (c *completer) messages() []string {
	var out []string
	seen := map[string]bool{}
	c.eachService(func(svc protoreflect.ServiceDescriptor) {
		file := svc.ParentFile()
		if seen[file.Path()] {
			return
		}
		seen[file.Path()] = true
		for _, n := range descsource.DeclaredTypes(file, false) {
			out = append(out, string(n))
		}
	})
	return out
}

func (c *completer) eachService(fn func(protoreflect.ServiceDescriptor)) {
	src, err := c.s.source()
	if err != nil {
		return
	}
	services, ok := within(func() ([]protoreflect.ServiceDescriptor, error) { return descsource.Services(src) })
	if !ok {
		return
	}
	for _, svc := range services {
		fn(svc)
	}
}

func (c *completer) headerNames() []string {
	seen := map[string]bool{}
	for k := range c.s.headers {
		seen[k] = true
	}
	for _, h := range c.s.history {
		if f := strings.Fields(h); len(f) >= 2 && f[0] == "header" && f[1] != "-d" {
			seen[strings.ToLower(f[1])] = true
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	return out
}

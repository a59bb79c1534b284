package repl

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/grpcx/grpcx/descsource"
	"github.com/grpcx/grpcx/format"
)

// command is one REPL verb: its usage line, a help text and what it does
// with the rest of the line.
type command struct {
	usage string
	help  string
	run   func(s *Session, ctx context.Context, args string) error
}

// commands is filled in init, since help refers to the table itself.
var commands map[string]*command

func init() {
	commands = map[string]*command{
		"help":     {"help [COMMAND]", "list the commands, or explain one", (*Session).cmdHelp},
		"ls":       {"ls [SERVICE]", "list services, or the methods of SERVICE or of the service in use", (*Session).cmdList},
		"list":     {"list [SERVICE]", "the same as ls", (*Session).cmdList},
		"describe": {"describe SYMBOL", "show a service, method, message, enum or field as .proto source (names are relative to the service in use)", (*Session).cmdDescribe},
		"use":      {"use SERVICE | use ..", "make SERVICE the context, so its methods can be named by their short names; .. leaves it", (*Session).cmdUse},
		"template": {"template MESSAGE|METHOD", "print a JSON skeleton of a message (of a method's request) with every field, one element in each list and map", (*Session).cmdTemplate},
		"call":     {"call [--fill] METHOD [JSON]", "call a method; METHOD JSON alone works too. Without JSON, unary and server-streaming methods ask for each field; client and bidi streams take one JSON message per entry until an empty entry or Ctrl-D (a JSON on the call line is the first message; --fill asks field by field for each). Ctrl-C cancels the call", (*Session).cmdCall},
		"header":   {"header [NAME VALUE | -d NAME]", "set a header sent on later calls, delete one with -d, or list them", (*Session).cmdHeader},
		"set":      {"set SETTING VALUE", "change a setting: deadline DURATION|off, output json|jsonl|text, emit-defaults on|off, proto-names on|off, protocol grpc|grpc-web|connect (reconnects), verbose on|off (each call's metadata, headers, trailers and status on stderr, as call -v), allow-unknown-fields on|off (ignore JSON keys a request does not have)", (*Session).cmdSet},
		"show":     {"show settings", "show the settings, the headers and the connection", (*Session).cmdShow},
		"connect":  {"connect TARGET", "connect to another server (host:port or unix:///path) with the same connection flags", (*Session).cmdConnect},
		"history":  {"history", "list the commands entered in this session", (*Session).cmdHistory},
		"exit":     {"exit", "leave (so does Ctrl-D at an empty prompt)", (*Session).cmdExit},
		"quit":     {"quit", "the same as exit", (*Session).cmdExit},
	}
}

// commandNames returns the verbs, sorted.
func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// execute runs one entry: a command, or the shorthand METHOD JSON.
func (s *Session) execute(ctx context.Context, line string) error {
	verb, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	if c, ok := commands[verb]; ok {
		return c.run(s, ctx, rest)
	}
	if _, err := s.findMethod(verb); err == nil || strings.HasPrefix(rest, "{") {
		return s.cmdCall(ctx, line) // METHOD JSON: a bad name gets the method's error
	}
	return fmt.Errorf("unknown command %q; type help for the commands, or call a method with METHOD JSON", verb)
}

func (s *Session) cmdHelp(_ context.Context, args string) error {
	if args != "" {
		c, ok := commands[args]
		if !ok {
			return fmt.Errorf("no command %q; type help for the list", args)
		}
		fmt.Fprintf(s.out, "%s\n  %s\n", c.usage, c.help)
		return nil
	}
	var b strings.Builder
	for _, n := range commandNames() {
		fmt.Fprintf(&b, "  %-30s %s\n", commands[n].usage, firstSentence(commands[n].help))
	}
	fmt.Fprint(s.out, b.String())
	return nil
}

// firstSentence is s up to the first ". " that ends a sentence: one after
// another dot (as in "use ..") does not.
func firstSentence(s string) string {
	for i := 1; i+1 < len(s); i++ {
		if s[i] == '.' && s[i+1] == ' ' && s[i-1] != '.' {
			return s[:i]
		}
	}
	return s
}

func (s *Session) cmdList(_ context.Context, args string) error {
	src, err := s.source()
	if err != nil {
		return err
	}
	service := args
	if service == "" && s.service != nil {
		service = string(s.service.FullName())
	}
	if service == ".." {
		service = "" // the level above a service: every service, as at the start
	}
	if service != "" {
		// ls SERVICE lists a service's methods; the name may be short.
		if d, err := s.findSymbol(src, service); err == nil {
			if _, ok := d.(protoreflect.ServiceDescriptor); ok {
				service = string(d.FullName())
			}
		}
	}
	names, err := descsource.List(src, service)
	if err != nil {
		return err
	}
	return format.WriteNames(s.out, names)
}

func (s *Session) cmdDescribe(_ context.Context, args string) error {
	if args == "" {
		return errors.New("describe needs a SYMBOL")
	}
	src, err := s.source()
	if err != nil {
		return err
	}
	var ds []protoreflect.Descriptor
	for _, sym := range strings.Fields(args) {
		d, err := s.findSymbol(src, sym)
		if err != nil {
			return err
		}
		ds = append(ds, d)
	}
	return format.WriteDescriptions(s.out, ds)
}

func (s *Session) cmdUse(_ context.Context, args string) error {
	if args == ".." || args == "" {
		s.service = nil
		return nil
	}
	src, err := s.source()
	if err != nil {
		return err
	}
	svc, err := descsource.FindService(src, args)
	if err != nil && s.service != nil {
		// use OTHER, relative to the package of the service in use
		if pkg := s.service.ParentFile().Package(); pkg != "" {
			if other, oerr := descsource.FindService(src, string(pkg)+"."+args); oerr == nil {
				svc, err = other, nil
			}
		}
	}
	if err != nil {
		return err
	}
	s.service = svc
	return nil
}

func (s *Session) cmdTemplate(_ context.Context, args string) error {
	if args == "" {
		return errors.New("template needs a MESSAGE or METHOD")
	}
	src, err := s.source()
	if err != nil {
		return err
	}
	d, err := s.findSymbol(src, args)
	if err != nil {
		return err
	}
	return format.WriteTemplates(s.out, []protoreflect.Descriptor{d})
}

func (s *Session) cmdHeader(_ context.Context, args string) error {
	fields := strings.Fields(args)
	switch {
	case len(fields) == 0:
		return format.WriteMetadata(s.out, "", s.headers, true)
	case fields[0] == "-d" && len(fields) == 2:
		delete(s.headers, strings.ToLower(fields[1]))
		return nil
	case fields[0] == "-d":
		return errors.New("usage: header -d NAME (one name)")
	case len(fields) >= 2:
		name := strings.TrimSuffix(fields[0], ":")
		value := strings.TrimSpace(strings.TrimPrefix(args, fields[0]))
		md, err := format.ParseHeaders([]string{name + ": " + value}, false)
		if err != nil {
			return err
		}
		if err := format.CheckReserved(md, map[string]string{"grpc-timeout": "give the deadline with set deadline", "grpc-encoding": "compress requests with grpcx repl --compress", "user-agent": "start grpcx repl with --user-agent"}); err != nil {
			return err
		}
		for k, v := range md {
			s.headers[k] = v
		}
		return nil
	}
	return errors.New("usage: header NAME VALUE | header -d NAME | header")
}

func (s *Session) cmdSet(ctx context.Context, args string) error {
	name, value, _ := strings.Cut(args, " ")
	value = strings.TrimSpace(value)
	switch name {
	case "protocol":
		return s.setProtocol(ctx, value)
	case "deadline":
		if value == "off" || value == "0" {
			s.deadline = 0
			return nil
		}
		d, err := time.ParseDuration(value)
		if secs, serr := strconv.ParseFloat(value, 64); err != nil && serr == nil {
			// seconds, as --max-time takes them
			d, err = time.Duration(secs*float64(time.Second)), nil
		}
		if err != nil || d < 0 {
			return fmt.Errorf("deadline %q: want a duration such as 5s or 250ms, seconds such as 1.5, or off", value)
		}
		s.deadline = d
	case "output":
		if _, err := format.NewFormatter(format.Options{Output: format.Output(value)}); err != nil {
			return err
		}
		s.format.Output = format.Output(value)
	case "emit-defaults", "proto-names", "verbose", "allow-unknown-fields":
		on, err := onOff(value)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		switch name {
		case "emit-defaults":
			s.format.EmitDefaults = on
		case "proto-names":
			s.format.ProtoNames = on
		case "allow-unknown-fields":
			s.allowUnknown = on
		default:
			s.verbose = on
		}
	default:
		return fmt.Errorf("unknown setting %q: the settings are %s", name, strings.Join(settingNames, ", "))
	}
	return nil
}

var settingNames = []string{"deadline", "output", "emit-defaults", "proto-names", "protocol", "verbose", "allow-unknown-fields"}

// settingValues are what completion offers after set NAME.
var settingValues = map[string][]string{
	"deadline":             {"off", "1s", "5s", "30s"},
	"output":               {"json", "jsonl", "text"},
	"emit-defaults":        {"on", "off"},
	"proto-names":          {"on", "off"},
	"protocol":             {"grpc", "grpc-web", "connect"},
	"verbose":              {"on", "off"},
	"allow-unknown-fields": {"on", "off"},
}

// setProtocol changes the protocol of later calls, reconnecting to the
// current server with it.
func (s *Session) setProtocol(ctx context.Context, protocol string) error {
	switch protocol {
	case "grpc", "grpc-web", "connect":
	default:
		return fmt.Errorf("protocol %q: want grpc, grpc-web or connect", protocol)
	}
	if s.conn != nil {
		if s.cfg.Connect == nil {
			return errors.New("reconnecting is not available here")
		}
		conn, err := s.cfg.Connect(ctx, s.conn.Target, protocol)
		if err != nil {
			return err
		}
		s.closeConn()
		s.conn = conn
	}
	s.protocol = protocol
	return nil
}

func onOff(v string) (bool, error) {
	switch v {
	case "on", "true", "yes":
		return true, nil
	case "off", "false", "no":
		return false, nil
	}
	return false, fmt.Errorf("want on or off, got %q", v)
}

func (s *Session) cmdShow(_ context.Context, args string) error {
	if args != "settings" && args != "" {
		return fmt.Errorf("show what? (show settings)")
	}
	target := "(none)"
	if s.conn != nil {
		target = s.conn.Target
	}
	service := "(none)"
	if s.service != nil {
		service = string(s.service.FullName())
	}
	deadline := "off"
	if s.deadline > 0 {
		deadline = s.deadline.String()
	}
	fmt.Fprintf(s.out, "target: %s\nprotocol: %s\nservice: %s\ndeadline: %s\noutput: %s\nemit-defaults: %s\nproto-names: %s\nverbose: %s\nallow-unknown-fields: %s\nheaders:\n",
		target, s.protocol, service, deadline, s.format.Output, onOffText(s.format.EmitDefaults), onOffText(s.format.ProtoNames), onOffText(s.verbose), onOffText(s.allowUnknown))
	return format.WriteMetadata(s.out, "  ", s.headers, false)
}

func onOffText(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func (s *Session) cmdConnect(ctx context.Context, args string) error {
	if args == "" {
		return errors.New("connect needs a TARGET")
	}
	if strings.HasPrefix(args, "-") || strings.ContainsAny(args, " \t") {
		return errors.New("connect takes one TARGET and no flags: the connection flags are the session's, given to grpcx repl; for a plaintext server write connect http://HOST:PORT")
	}
	if s.cfg.Connect == nil {
		return errors.New("connecting is not available here")
	}
	conn, err := s.cfg.Connect(ctx, args, s.protocol)
	if err != nil {
		return err
	}
	s.closeConn()
	s.conn, s.service = conn, nil
	return nil
}

func (s *Session) cmdHistory(context.Context, string) error {
	for i, h := range s.history {
		fmt.Fprintf(s.out, "%4d  %s\n", i+1, h)
	}
	return nil
}

func (s *Session) cmdExit(context.Context, string) error { return errExit }

// findSymbol looks a name up as given, then relative to the service in use
// and its package: Unary, EchoRequest, EchoRequest.message.
func (s *Session) findSymbol(src descsource.Source, name string) (protoreflect.Descriptor, error) {
	d, err := descsource.FindSymbol(src, name)
	if err == nil || s.service == nil || strings.HasPrefix(name, ".") {
		return d, err
	}
	rel := strings.ReplaceAll(name, "/", ".")
	for _, scope := range []protoreflect.FullName{s.service.FullName(), s.service.ParentFile().Package()} {
		if scope == "" {
			continue
		}
		if d, serr := descsource.FindSymbol(src, string(scope)+"."+rel); serr == nil {
			return d, nil
		}
	}
	return nil, err
}

// findMethod resolves a method: full, short within the service in use, or
// Service/Method within its package.
func (s *Session) findMethod(name string) (protoreflect.MethodDescriptor, error) {
	src, err := s.source()
	if err != nil {
		return nil, err
	}
	return findMethodIn(src, s.service, name)
}

// findMethodIn is findMethod in src with service in use (nil for none).
func findMethodIn(src descsource.Source, service protoreflect.ServiceDescriptor, name string) (protoreflect.MethodDescriptor, error) {
	if service != nil && !strings.ContainsAny(name, "./") {
		name = string(service.FullName()) + "/" + name
	}
	if service == nil && !strings.ContainsAny(name, "./") {
		return nil, fmt.Errorf("method %q needs its service: write pkg.Service/Method, or choose the service first with use SERVICE", name)
	}
	m, err := descsource.FindMethod(src, name)
	if err != nil && service != nil && !strings.HasPrefix(name, "/") && !strings.HasPrefix(name, ".") {
		if pkg := service.ParentFile().Package(); pkg != "" {
			if pm, perr := descsource.FindMethod(src, string(pkg)+"."+name); perr == nil {
				return pm, nil
			}
		}
	}
	return m, err
}

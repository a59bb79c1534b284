package format

import (
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/metadata"
)

// ParseHeaders turns "name: value" lines into metadata. Names are lower-cased
// as gRPC requires. A name ending in -bin is binary: its value is base64
// (standard or URL alphabet, padded or not) and is decoded before sending.
// When expand is set, ${NAME} in values is replaced with the environment
// variable NAME, and an unset variable is an error.
func ParseHeaders(lines []string, expand bool) (metadata.MD, error) {
	md := metadata.MD{}
	for _, line := range lines {
		name, value, ok := strings.Cut(line, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" {
			return nil, fmt.Errorf("header %q: want 'name: value'", line)
		}
		value = strings.TrimSpace(value)
		if err := checkHeaderName(name); err != nil {
			return nil, err
		}
		if expand {
			var err error
			if value, err = expandEnv(value); err != nil {
				return nil, fmt.Errorf("header %q: %w", name, err)
			}
		}
		if strings.HasSuffix(name, "-bin") {
			raw, err := decodeBase64(value)
			if err != nil {
				return nil, fmt.Errorf("header %q: a -bin header takes a base64 value: %w", name, err)
			}
			value = string(raw)
		} else if i := strings.IndexFunc(value, func(r rune) bool { return r < 0x20 || r > 0x7e }); i >= 0 {
			return nil, fmt.Errorf("header %q: byte %d of its value is not printable ASCII, which gRPC metadata allows only in -bin headers (send it as %s-bin, base64)", name, i+1, name)
		}
		md.Append(name, value)
	}
	return md, nil
}

// checkHeaderName refuses a name gRPC metadata cannot carry: only 0-9 a-z
// - _ . are allowed.
func checkHeaderName(name string) error {
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("header %q: %q is not allowed in a metadata name (only 0-9 a-z - _ .)", name, r)
		}
	}
	return nil
}

// reservedHeaders are the names grpc-go sets itself and drops from a
// call's metadata without a word.
var reservedHeaders = map[string]bool{
	"user-agent": true, "grpc-timeout": true, "grpc-encoding": true, "content-type": true, "te": true,
	"grpc-status": true, "grpc-message": true, "grpc-message-type": true, "host": true,
}

// connectionHeaders are HTTP/1.1's connection-specific headers, which
// HTTP/2 forbids: a server resets a stream that carries one.
var connectionHeaders = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "transfer-encoding": true, "upgrade": true,
}

// authorityHint says how the host a call names is set.
const authorityHint = "the :authority a call names is set with --authority"

// CheckReserved refuses metadata that grpc-go would drop from a call
// because it sets those names itself; how, when not empty, says for a
// name how the user sets it instead ("user-agent": "--user-agent").
func CheckReserved(md metadata.MD, how map[string]string) error {
	for name := range md {
		if connectionHeaders[name] {
			return fmt.Errorf("header %q is connection-specific, which HTTP/2 forbids: the server would reset the call", name)
		}
		if !reservedHeaders[name] {
			continue
		}
		h := how[name]
		if h == "" && name == "host" {
			h = authorityHint
		}
		if h != "" {
			return fmt.Errorf("header %q would be dropped: gRPC sets it itself; %s", name, h)
		}
		return fmt.Errorf("header %q would be dropped: gRPC sets it itself", name)
	}
	return nil
}

// expandEnv replaces ${NAME} in s with the environment variable NAME. A $
// not followed by a brace is kept (os.Expand would take "$5" or "$x" in a
// token for a variable too).
func expandEnv(s string) (string, error) {
	var missing []string
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i+2:], '}')
		if j < 0 {
			break
		}
		name := s[i+2 : i+2+j]
		v, ok := os.LookupEnv(name)
		if !ok {
			missing = append(missing, name)
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+2+j+1:]
	}
	b.WriteString(s)
	out := b.String()
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable %s is not set", strings.Join(missing, ", "))
	}
	return out, nil
}

func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%q is not valid base64", s)
}

// IsSecret reports whether a header's value is a credential that verbose
// output hides: authorization, cookies, and any name ending in -token.
func IsSecret(name string) bool {
	switch name {
	case "authorization", "proxy-authorization", "cookie", "set-cookie":
		return true
	}
	return strings.HasSuffix(name, "-token") || strings.HasSuffix(name, "-token-bin")
}

// Mask hides a secret value, keeping an authorization scheme ("Bearer") so
// the reader can still tell what kind of credential was sent.
func Mask(value string) string {
	if scheme, _, ok := strings.Cut(value, " "); ok && scheme != "" && !strings.ContainsAny(scheme, "=;") {
		return scheme + " ***"
	}
	return "***"
}

// HeaderValue renders one metadata value for display. Binary values, which
// gRPC has already base64-decoded, are shown as text when they are
// printable and quoted with escapes otherwise.
func HeaderValue(name, value string, showSecrets bool) string {
	if !showSecrets && IsSecret(name) {
		return Mask(value)
	}
	if strings.HasSuffix(name, "-bin") && !isPrintable(value) {
		return strconv.Quote(value)
	}
	return value
}

func isPrintable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !strconv.IsPrint(r) {
			return false
		}
	}
	return true
}

// WriteMetadata writes md one "name: value" line each, sorted by name, each
// line prefixed with indent.
func WriteMetadata(w io.Writer, indent string, md metadata.MD, showSecrets bool) error {
	names := make([]string, 0, len(md))
	for k := range md {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		for _, v := range md[k] {
			fmt.Fprintf(&b, "%s%s: %s\n", indent, k, HeaderValue(k, v, showSecrets))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

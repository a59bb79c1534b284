package format

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
)

// WriteStatus prints a failed call's status: code, message and every detail
// decoded to JSON with res. A detail whose type res cannot resolve is printed
// with its type URL and raw bytes in base64, so nothing the server sent is
// lost.
func WriteStatus(w io.Writer, st *status.Status, res Resolver) error {
	var b strings.Builder
	b.WriteString("ERROR:\n")
	fmt.Fprintf(&b, "  Code: %s\n", st.Code())
	fmt.Fprintf(&b, "  Message: %s\n", st.Message())
	details := st.Proto().GetDetails()
	if len(details) > 0 {
		b.WriteString("  Details:\n")
	}
	for i, d := range details {
		text := indentLines(DetailJSON(d, res), "     ")
		fmt.Fprintf(&b, "  %d) %s\n", i+1, strings.TrimPrefix(text, "     "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// DetailJSON renders one status detail as indented JSON.
func DetailJSON(d *anypb.Any, res Resolver) string {
	out, err := protojson.MarshalOptions{Resolver: res}.Marshal(d)
	if err != nil {
		raw, _ := json.Marshal(map[string]string{
			"@type":  d.GetTypeUrl(),
			"@value": base64.StdEncoding.EncodeToString(d.GetValue()),
			"@error": "type not known to the descriptor source; pass its .proto with --proto",
		})
		out = raw
	}
	var buf bytes.Buffer
	if json.Indent(&buf, out, "", "  ") != nil {
		return string(out)
	}
	return buf.String()
}

func indentLines(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// StatusJSON renders a status as one JSON object: the numeric code, its
// name, the message and every detail decoded as [DetailJSON] does.
func StatusJSON(st *status.Status, res Resolver) []byte {
	var b bytes.Buffer
	name, _ := json.Marshal(st.Code().String())
	msg, _ := json.Marshal(st.Message())
	fmt.Fprintf(&b, `{"code":%d,"name":%s,"message":%s,"details":[`, st.Code(), name, msg)
	for i, d := range st.Proto().GetDetails() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(DetailJSON(d, res))
	}
	b.WriteString("]}")
	var out bytes.Buffer
	if json.Indent(&out, b.Bytes(), "", "  ") != nil {
		return b.Bytes()
	}
	return out.Bytes()
}

package load

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc/codes"
)

// Output is a report format.
type Output string

// The report formats.
const (
	Text Output = "text" // for people, with an ASCII histogram
	JSON Output = "json" // one JSON object
	CSV  Output = "csv"  // a header line and one line of figures
)

// ParseOutput checks a format name; "" means [Text].
func ParseOutput(name string) (Output, error) {
	switch o := Output(name); o {
	case "":
		return Text, nil
	case Text, JSON, CSV:
		return o, nil
	}
	return "", fmt.Errorf("unknown report format %q: the formats are text, json and csv", name)
}

// Report settings.
const (
	histogramBars = 10
	barWidth      = 40
	shownMessages = 5
)

// Write writes r to w in format out.
func Write(w io.Writer, r *Result, out Output) error {
	switch out {
	case JSON:
		return writeJSON(w, r)
	case CSV:
		return writeCSV(w, r)
	}
	return writeText(w, r)
}

// ms turns a duration into milliseconds, rounded to the microsecond.
func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// percentiles are the latency figures of every report, in order.
var percentiles = []struct {
	name, key string
	p         float64
}{{"p50", "p50", 50}, {"p90", "p90", 90}, {"p95", "p95", 95}, {"p99", "p99", 99}, {"p99.9", "p999", 99.9}}

// statusNames returns the status codes seen, OK first, then by code.
func statusNames(r *Result) []codes.Code {
	return slices.Sorted(maps.Keys(r.Status))
}

// servers returns the server names seen, most calls first.
func servers(r *Result) []string {
	names := slices.Collect(maps.Keys(r.Servers))
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(r.Servers[b], r.Servers[a]), cmp.Compare(a, b))
	})
	return names
}

func writeText(w io.Writer, r *Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if r.Interrupted {
		fmt.Fprintf(tw, "Interrupted: this report covers the %d requests that completed.\n\n", r.Count)
	}
	fmt.Fprintln(tw, "Summary:")
	fmt.Fprintf(tw, "  Count:\t%d\n", r.Count)
	fmt.Fprintf(tw, "  Errors:\t%d\n", r.Errors)
	fmt.Fprintf(tw, "  Duration:\t%.3fs\n", r.Duration.Seconds())
	fmt.Fprintf(tw, "  Requests/s:\t%.1f\n", r.RPS())
	if r.Responses != r.Count-r.Errors {
		fmt.Fprintf(tw, "  Responses:\t%d\n", r.Responses)
	}
	if len(r.Servers) > 0 {
		fmt.Fprintf(tw, "  Servers:\t%d (distinct %s)\n", len(r.Servers), r.ServerHeader)
	}
	fmt.Fprintln(tw, "\nLatency:")
	fmt.Fprintf(tw, "  min\t%.3f ms\n", ms(r.Min()))
	fmt.Fprintf(tw, "  mean\t%.3f ms\n", ms(r.Mean()))
	for _, p := range percentiles {
		fmt.Fprintf(tw, "  %s\t%.3f ms\n", p.name, ms(r.Percentile(p.p)))
	}
	fmt.Fprintf(tw, "  max\t%.3f ms\n", ms(r.Max()))
	if err := tw.Flush(); err != nil {
		return err
	}
	writeHistogram(w, r)
	writeBreakdowns(w, r)
	return nil
}

// writeHistogram draws the latency distribution with # bars.
func writeHistogram(w io.Writer, r *Result) {
	buckets := r.Histogram(histogramBars)
	if len(buckets) == 0 {
		return
	}
	fmt.Fprintln(w, "\nHistogram (upper bound in ms, calls):")
	var most int64
	for _, b := range buckets {
		most = max(most, b.Count)
	}
	width := len(strconv.FormatInt(most, 10))
	for _, b := range buckets {
		bar := strings.Repeat("#", int((b.Count*barWidth+most-1)/most))
		fmt.Fprintf(w, "  %10.3f [%*d] |%s\n", ms(b.Le), width, b.Count, bar)
	}
}

// writeBreakdowns lists the status codes, the servers and the first error
// messages.
func writeBreakdowns(w io.Writer, r *Result) {
	var status []count
	for _, c := range statusNames(r) {
		status = append(status, count{c.String(), r.Status[c]})
	}
	writeCounts(w, "Status codes:", status)
	if len(r.Servers) > 0 {
		var rows []count
		for _, s := range servers(r) {
			rows = append(rows, count{s, r.Servers[s]})
		}
		writeCounts(w, fmt.Sprintf("Servers (%s):", r.ServerHeader), rows)
	}
	if len(r.Messages) == 0 {
		return
	}
	shown := r.Messages[:min(shownMessages, len(r.Messages))]
	fmt.Fprintf(w, "\nErrors (first %d distinct):\n", len(shown))
	for _, m := range shown {
		fmt.Fprintf(w, "  [%d] %s\n", m.Count, m.Text)
	}
	if more := len(r.Messages) - len(shown); more > 0 {
		fmt.Fprintf(w, "  and %d more distinct messages (-o json lists them)\n", more)
	}
	if r.Unlisted > 0 {
		fmt.Fprintf(w, "  and %d failures with still other messages, not kept\n", r.Unlisted)
	}
}

// count is one line of a breakdown.
type count struct {
	name string
	n    int64
}

// writeCounts writes a titled list of names, left-aligned, and counts,
// right-aligned.
func writeCounts(w io.Writer, title string, rows []count) {
	nameWidth, countWidth := 0, 0
	for _, r := range rows {
		nameWidth = max(nameWidth, len(r.name))
		countWidth = max(countWidth, len(strconv.FormatInt(r.n, 10)))
	}
	fmt.Fprintf(w, "\n%s\n", title)
	for _, r := range rows {
		fmt.Fprintf(w, "  %-*s  %*d\n", nameWidth, r.name, countWidth, r.n)
	}
}

// jsonReport is the -o json document.
type jsonReport struct {
	Count          int64              `json:"count"`
	Errors         int64              `json:"errors"`
	Responses      int64              `json:"responses"`
	DurationMS     float64            `json:"duration_ms"`
	RPS            float64            `json:"rps"`
	Interrupted    bool               `json:"interrupted"`
	Latency        map[string]float64 `json:"latency_ms"`
	Histogram      []jsonBucket       `json:"histogram"`
	Status         map[string]int64   `json:"status"`
	ErrorMessages  []jsonMessage      `json:"error_messages"`
	UnlistedErrors int64              `json:"unlisted_errors"`
	ServerHeader   string             `json:"server_header,omitempty"`
	Servers        map[string]int64   `json:"servers"`
}

type jsonBucket struct {
	LeMS  float64 `json:"le_ms"`
	Count int64   `json:"count"`
}

type jsonMessage struct {
	Message string `json:"message"`
	Count   int64  `json:"count"`
}

func writeJSON(w io.Writer, r *Result) error {
	rep := jsonReport{
		Count: r.Count, Errors: r.Errors, Responses: r.Responses,
		DurationMS: ms(r.Duration), RPS: r.RPS(), Interrupted: r.Interrupted,
		Latency:   latencyFigures(r),
		Histogram: []jsonBucket{}, Status: map[string]int64{}, ErrorMessages: []jsonMessage{},
		UnlistedErrors: r.Unlisted, ServerHeader: r.ServerHeader, Servers: r.Servers,
	}
	for _, b := range r.Histogram(histogramBars) {
		rep.Histogram = append(rep.Histogram, jsonBucket{LeMS: ms(b.Le), Count: b.Count})
	}
	for c, n := range r.Status {
		rep.Status[c.String()] = n
	}
	for _, m := range r.Messages {
		rep.ErrorMessages = append(rep.ErrorMessages, jsonMessage{Message: m.Text, Count: m.Count})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// latencyFigures are the latency summary in milliseconds, by JSON key.
func latencyFigures(r *Result) map[string]float64 {
	f := map[string]float64{"min": ms(r.Min()), "mean": ms(r.Mean()), "max": ms(r.Max())}
	for _, p := range percentiles {
		f[p.key] = ms(r.Percentile(p.p))
	}
	return f
}

// csvColumns are the -o csv columns after count, errors, duration and rate.
var csvColumns = []string{"min", "mean", "p50", "p90", "p95", "p99", "p999", "max"}

func writeCSV(w io.Writer, r *Result) error {
	cw := csv.NewWriter(w)
	header := []string{"count", "errors", "duration_ms", "rps"}
	row := []string{strconv.FormatInt(r.Count, 10), strconv.FormatInt(r.Errors, 10), formatFloat(ms(r.Duration)), formatFloat(r.RPS())}
	lat := latencyFigures(r)
	for _, c := range csvColumns {
		header = append(header, c+"_ms")
		row = append(row, formatFloat(lat[c]))
	}
	var status []string
	for _, c := range statusNames(r) {
		status = append(status, fmt.Sprintf("%s=%d", c, r.Status[c]))
	}
	header = append(header, "servers", "status", "interrupted")
	row = append(row, strconv.Itoa(len(r.Servers)), strings.Join(status, ";"), strconv.FormatBool(r.Interrupted))
	cw.Write(header)
	cw.Write(row)
	cw.Flush()
	return cw.Error()
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', 3, 64) }

package proxy

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
)

// BadRequest builds the 400 (or 416, for an unknown Request-URI scheme) response for a request
// the parser rejected (§16.3 step 1, §8.2.2), from the raw bytes: the Via, From, To, Call-ID and CSeq lines are copied as they came
// so the response reaches the sender and matches its transaction. The reason phrase names the
// problem. It returns false when the bytes are not a request (a response, or garbage), when the
// request is an ACK (never answered), or when there is no Via to answer to.
func BadRequest(raw []byte, parseErr error) ([]byte, bool) {
	return answerRaw(raw, func(parts, headers []string) string {
		switch scheme, _, _ := strings.Cut(parts[1], ":"); {
		case len(parts) > 3:
			// Whitespace inside the Request-URI (RFC 4475 lwsruri): it still gets its answer.
			return "SIP/2.0 400 Bad Request (malformed Request-Line)"
		case !strings.EqualFold(scheme, "sip") && !strings.EqualFold(scheme, "sips"):
			// A Request-URI scheme we do not know (§16.3 step 2, RFC 4475 novelsc).
			return "SIP/2.0 416 Unsupported URI Scheme"
		default:
			return "SIP/2.0 400 " + reasonFor(parseErr, headers)
		}
	})
}

// TooLarge builds the 513 Message Too Large response (RFC 3261 §21.5.14) for a request over the
// size we read, from its raw bytes, as BadRequest does; false when it cannot be answered.
func TooLarge(raw []byte) ([]byte, bool) {
	return answerRaw(raw, func([]string, []string) string { return "SIP/2.0 513 Message Too Large" })
}

// answerRaw answers the request in raw with the status line statusLine makes from its
// Request-Line fields and header lines, copying the lines that route and match a response.
func answerRaw(raw []byte, statusLine func(parts, headers []string) string) ([]byte, bool) {
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	if len(lines) == 0 {
		return nil, false
	}
	parts := strings.Fields(lines[0])
	if len(parts) < 3 || !strings.HasPrefix(parts[len(parts)-1], "SIP/") || strings.HasPrefix(parts[0], "SIP/") {
		return nil, false
	}
	if parts[0] == "ACK" {
		return nil, false
	}
	var out strings.Builder
	out.WriteString(statusLine(parts, lines[1:]))
	out.WriteString("\r\n")
	vias := 0
	for _, line := range lines[1:] {
		name, _, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v":
			vias++
		case "from", "f", "to", "t", "call-id", "i", "cseq":
		default:
			continue
		}
		out.WriteString(line)
		out.WriteString("\r\n")
	}
	if vias == 0 {
		return nil, false
	}
	out.WriteString("Content-Length: 0\r\n\r\n")
	return []byte(out.String()), true
}

// reasonFor makes a short, printable reason phrase from a parse error: the parser's own words
// when they speak SIP ("Malformed protocol name in Via header"), else the header whose number
// does not parse ("Bad Request (malformed CSeq)"), else just "Bad Request". A Go error's text
// ("strconv.ParseUint: …") never reaches the wire; the log line keeps it.
func reasonFor(err error, headers []string) string {
	const prefix = "Bad Request"
	if err == nil {
		return prefix
	}
	msg := err.Error()
	if goInternal.MatchString(msg) {
		if name := badNumber(headers); name != "" {
			return prefix + " (malformed " + name + ")"
		}
		return prefix
	}
	var b strings.Builder
	for _, r := range msg {
		if r >= 0x20 && r < 0x7f {
			b.WriteRune(r)
		}
		if b.Len() >= 80 {
			break
		}
	}
	return prefix + " (" + b.String() + ")"
}

// goInternal matches an error that names a Go package function ("strconv.ParseUint: ...").
var goInternal = regexp.MustCompile(`^[a-z][a-z0-9]*\.[A-Z]\w*:`)

// numeric are the headers whose value starts with a number, by their names (long and compact).
var numeric = map[string]string{"cseq": "CSeq", "content-length": "Content-Length", "l": "Content-Length",
	"max-forwards": "Max-Forwards", "expires": "Expires"}

// badNumber names the first numeric header whose number does not parse, "" when none.
func badNumber(headers []string) string {
	for _, line := range headers {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		canonical, isNumeric := numeric[strings.ToLower(strings.TrimSpace(name))]
		if !isNumeric {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			return canonical
		}
		if _, err := strconv.ParseUint(fields[0], 10, 32); err != nil {
			return canonical
		}
	}
	return ""
}

package proxy

import (
	"bytes"
	"strings"
)

// BadRequest builds the 400 response for a request the parser rejected (§16.3 step 1,
// §8.2.2), from the raw bytes: the Via, From, To, Call-ID and CSeq lines are copied as they came
// so the response reaches the sender and matches its transaction. The reason phrase names the
// problem. It returns false when the bytes are not a request (a response, or garbage), when the
// request is an ACK (never answered), or when there is no Via to answer to.
func BadRequest(raw []byte, parseErr error) ([]byte, bool) {
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	if len(lines) == 0 {
		return nil, false
	}
	parts := strings.Fields(lines[0])
	if len(parts) != 3 || !strings.HasPrefix(parts[2], "SIP/") || strings.HasPrefix(parts[0], "SIP/") {
		return nil, false
	}
	if parts[0] == "ACK" {
		return nil, false
	}
	var out strings.Builder
	out.WriteString("SIP/2.0 400 ")
	out.WriteString(reasonFor(parseErr))
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

// reasonFor makes a short, printable reason phrase from a parse error.
func reasonFor(err error) string {
	const prefix = "Bad Request"
	if err == nil {
		return prefix
	}
	msg := err.Error()
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

package actors

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/proxy"
)

// RFC 4475's torture messages get the answer the RFC gives them, through the same steps as the
// inbound path: the parser, then §16.3's checks, or the 400/416 built from raw bytes when the
// parser refuses the message.
func TestTortureAnswers(t *testing.T) {
	local := &base.Local{Addrs: []base.HostPort{{Host: "127.0.0.1", Port: 5060}}}
	cases := map[string]int{
		"mcl01":   400, // two Content-Lengths
		"multi01": 400, // two To, From, Call-ID, CSeq, Max-Forwards
		"badvers": 505, // SIP/7.0
		"lwsruri": 400, // whitespace inside the Request-URI
		"novelsc": 416, // an unknown Request-URI scheme
		"intmeth": 0,   // an extension method with unusual characters: acceptable, forwarded
	}
	for name, want := range cases {
		raw, err := os.ReadFile("testdata/inbound/torture_" + name + ".sip")
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		if msg, err := sip.ParseMessage(raw); err != nil {
			out, ok := proxy.BadRequest(raw, err)
			if !ok {
				t.Errorf("%s: unparsable (%v) and not answered", name, err)
				continue
			}
			got, _ = strconv.Atoi(strings.Fields(string(out))[1])
		} else if rej := proxy.Sanity(msg.(*sip.Request), local, ""); rej != nil {
			got = rej.Code
		}
		if got != want {
			t.Errorf("%s: %d, want %d", name, got, want)
		}
	}
}

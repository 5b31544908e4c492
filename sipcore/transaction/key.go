package transaction

import (
	"errors"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// MagicCookie starts every RFC 3261 branch parameter (§8.1.1.7).
const MagicCookie = "z9hG4bK"

// Key identifies a transaction. It is comparable and used directly as a map key.
//
// With an RFC 3261 branch (magic cookie present) the key is the branch, the sent-by of the top
// Via and the method, with ACK mapped to INVITE (§17.2.3). For an RFC 2543 request without the
// cookie, Branch holds a digest of the fields §17.2.3 names instead.
type Key struct {
	Client bool
	Branch string
	Host   string
	Port   int
	Method sip.RequestMethod
}

// ErrNoVia is returned for a message without a Via header field.
var ErrNoVia = errors.New("transaction: missing Via")

// ErrNoCSeq is returned for a message without a CSeq header field.
var ErrNoCSeq = errors.New("transaction: missing CSeq")

// ServerKey returns the key of the server transaction a request belongs to (§17.2.3).
// ACK maps to the INVITE it acknowledges; CANCEL has a key of its own (use InviteKey to find the
// INVITE it cancels).
func ServerKey(req *sip.Request) (Key, error) {
	via := req.Via()
	if via == nil {
		return Key{}, ErrNoVia
	}
	method := req.Method
	if method == sip.ACK {
		method = sip.INVITE
	}
	branch, _ := via.Params.Get("branch")
	if strings.HasPrefix(branch, MagicCookie) {
		return Key{Branch: branch, Host: via.Host, Port: via.Port, Method: method}, nil
	}
	return rfc2543Key(req, via, method)
}

// rfc2543Key is the §17.2.3 fallback for requests from RFC 2543 clients: Request-URI, From tag,
// Call-ID, CSeq number and top Via. The To tag is left out so that the ACK for a non-2xx
// response (which carries the tag the response added) matches its INVITE.
func rfc2543Key(req *sip.Request, via *sip.ViaHeader, method sip.RequestMethod) (Key, error) {
	cseq := req.CSeq()
	if cseq == nil {
		return Key{}, ErrNoCSeq
	}
	var b strings.Builder
	b.WriteString("2543|")
	b.WriteString(req.Recipient.Addr())
	b.WriteByte('|')
	if from := req.From(); from != nil {
		tag, _ := from.Params.Get("tag")
		b.WriteString(tag)
	}
	b.WriteByte('|')
	if id := req.CallID(); id != nil {
		b.WriteString(id.Value())
	}
	b.WriteByte('|')
	b.WriteString(strconv.FormatUint(uint64(cseq.SeqNo), 10))
	b.WriteByte('|')
	branch, _ := via.Params.Get("branch")
	b.WriteString(branch)
	return Key{Branch: b.String(), Host: via.Host, Port: via.Port, Method: method}, nil
}

// InviteKey returns the key of the INVITE server transaction that a CANCEL cancels (§9.2:
// same branch and sent-by, method INVITE).
func InviteKey(cancel Key) Key {
	cancel.Method = sip.INVITE
	return cancel
}

// ClientKey returns the key of the client transaction a response belongs to (§17.1.3): the
// branch of the top Via and the CSeq method.
func ClientKey(res *sip.Response) (Key, error) {
	via := res.Via()
	if via == nil {
		return Key{}, ErrNoVia
	}
	cseq := res.CSeq()
	if cseq == nil {
		return Key{}, ErrNoCSeq
	}
	branch, _ := via.Params.Get("branch")
	method := cseq.MethodName
	if method == sip.ACK {
		method = sip.INVITE
	}
	return Key{Client: true, Branch: branch, Method: method}, nil
}

// ClientKeyFor returns the key of the client transaction sending a request with the given branch.
func ClientKeyFor(branch string, method sip.RequestMethod) Key {
	if method == sip.ACK {
		method = sip.INVITE
	}
	return Key{Client: true, Branch: branch, Method: method}
}

// Shard maps a key to one of n shards by its branch, so that an INVITE, its CANCEL, its ACK and
// the responses to our forwarded branch all land on the same shard (FNV-1a, no allocation).
func (k Key) Shard(n int) int {
	return ShardOf(k.Branch, n)
}

// ShardOf hashes a branch to one of n shards.
func ShardOf(branch string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(branch); i++ {
		h ^= uint32(branch[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

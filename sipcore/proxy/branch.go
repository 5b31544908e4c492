package proxy

import (
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/sipcore/transaction"
)

// Branches we create look like z9hG4bK-ps<loop>.<unique> for stateful forwarding and
// z9hG4bK-pl<loop>.<hash> for stateless forwarding (§16.11); both carry the loop hash, so a
// request that comes back is recognised either way (§16.3 step 4). The tenth character tells them apart
// ('s' or 'l'): a stateless prefix that extended the stateful one ("-pss") was also the prefix of
// every stateful branch whose loop hash began with 's', whose responses were then taken for
// stateless ones.
const (
	branchPrefix          = transaction.MagicCookie + "-ps"
	statelessBranchPrefix = transaction.MagicCookie + "-pl"
)

// LoopHash is the loop-detection part of our branch (§16.6 step 8): a hash over the fields that
// stay the same when a request comes back to us unchanged — Request-URI, From tag, To tag,
// Call-ID, CSeq number, Proxy-Require and Proxy-Authorization. The top Via is left out: on a
// loop it is the previous hop's, never the one we saw first (a known flaw, RFC 5393 §1).
func LoopHash(req *sip.Request) string { return loopHash(req, true) }

// loopHash is LoopHash, with the To tag left out (hashed as absent) unless withToTag: an ACK for
// a non-2xx carries the response's To tag, and must hash like its INVITE.
func loopHash(req *sip.Request, withToTag bool) string {
	h := newFNV()
	h.add(req.Recipient.Addr())
	if f := req.From(); f != nil {
		tag, _ := f.Params.Get("tag")
		h.add(tag)
	}
	if t := req.To(); t != nil {
		tag := ""
		if withToTag {
			tag, _ = t.Params.Get("tag")
		}
		h.add(tag)
	}
	if c := req.CallID(); c != nil {
		h.add(c.Value())
	}
	if c := req.CSeq(); c != nil {
		h.add(strconv.FormatUint(uint64(c.SeqNo), 10))
	}
	for _, name := range []string{"Proxy-Require", "Proxy-Authorization"} {
		for _, hdr := range req.GetHeaders(name) {
			h.add(hdr.Value())
		}
	}
	return strconv.FormatUint(h.sum, 36)
}

// NewBranch builds a stateful branch from a loop hash and a unique suffix supplied by the caller.
func NewBranch(loopHash, unique string) string {
	return branchPrefix + loopHash + "." + unique
}

// BranchLoopHash extracts the loop hash from a branch we built, stateful or stateless, or ""
// for any other branch.
func BranchLoopHash(branch string) string {
	var rest string
	switch {
	case strings.HasPrefix(branch, branchPrefix):
		rest = branch[len(branchPrefix):]
	case strings.HasPrefix(branch, statelessBranchPrefix):
		rest = branch[len(statelessBranchPrefix):]
	default:
		return ""
	}
	if i := strings.IndexByte(rest, '.'); i > 0 {
		return rest[:i]
	}
	return ""
}

// StatelessBranch computes the branch a stateless proxy puts on a forwarded request (§16.11):
// a function of the incoming top Via branch (or, for RFC 2543 peers, of the transaction's
// identifying fields), so that a retransmission is forwarded with the same branch. An ACK for a
// 2xx gets a branch of its own, derived from its own top Via.
func StatelessBranch(req *sip.Request) string {
	h := newFNV()
	if via := req.Via(); via != nil {
		b, _ := via.Params.Get("branch")
		h.add(b)
		h.add(via.Host)
		h.add(strconv.Itoa(via.Port))
		if !strings.HasPrefix(b, transaction.MagicCookie) {
			h.add(LoopHash(req))
		}
	}
	// An ACK for a non-2xx and a CANCEL share the INVITE's branch (§9.1, §17.1.1.3), so they
	// must hash alike; an ACK for a 2xx has a top Via branch of its own and differs anyway.
	method := req.Method
	if method == sip.ACK || method == sip.CANCEL {
		method = sip.INVITE
	}
	h.add(string(method))
	loop := loopHash(req, method == req.Method)
	return statelessBranchPrefix + loop + "." + strconv.FormatUint(h.sum, 36)
}

// fnv is a 64-bit FNV-1a accumulator with a separator between fields.
type fnv struct{ sum uint64 }

func newFNV() fnv { return fnv{sum: 14695981039346656037} }

func (f *fnv) add(s string) {
	for i := 0; i < len(s); i++ {
		f.sum ^= uint64(s[i])
		f.sum *= 1099511628211
	}
	f.sum ^= 0xff
	f.sum *= 1099511628211
}

// IsStatelessBranch reports whether branch is one a stateless forwarding of ours put on a
// request: its responses are routed by their Via alone (§16.11), with no transaction to find.
func IsStatelessBranch(branch string) bool {
	return strings.HasPrefix(branch, statelessBranchPrefix)
}

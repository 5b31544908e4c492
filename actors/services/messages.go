package services

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/partysip/partysip/sipcore/base"
	"github.com/partysip/partysip/sipcore/registrar"
)

// RegisterRequested asks the registrar to apply a REGISTER to its address-of-record. The answer
// (the 200 OK's header fields, or a rejection) is handed to Reply as a *RegisterAnswered, after
// the new bindings are stored. Reply must not block (it sends to the asker's mailbox).
type RegisterRequested struct {
	Reg   *registrar.Register
	Reply func(any)
}

// RegisterAnswered is the registrar's answer to a REGISTER: the response to send.
type RegisterAnswered struct {
	Answer *base.Answer
}

// LookupRequested asks the location service for the contacts of an address-of-record.
type LookupRequested struct {
	AOR     string
	ReplyTo *actor.PID
}

// LookupAnswered carries the live contacts of an address-of-record (aliases resolved), best q
// first. Known says whether the address-of-record exists at all (registered once, an alias, or
// a configured user), so that "no such user" (404) and "not reachable now" (480) differ.
type LookupAnswered struct {
	AOR      string
	Bindings []registrar.Binding
	Known    bool
}

// BindingsListRequested asks the location service (through a future: admin requests only) for
// the records of one address-of-record, or of every one when AOR is "": with Limit, the first
// Limit of those after After (a page; the next one starts after the last AOR of this one). The
// answer is a []registrar.Record, sorted by address-of-record.
type BindingsListRequested struct {
	AOR   string
	After string
	Limit int
}

// BindingRemoveRequested asks the registrar to remove one contact of an address-of-record
// (through a future: admin requests only). The answer is a *BindingRemoved.
type BindingRemoveRequested struct {
	AOR     string
	Contact string
}

// BindingRemoved answers BindingRemoveRequested.
type BindingRemoved struct {
	Found bool
	Err   error
}

// recordLoaded is the store's answer to an AOR actor's load.
type recordLoaded struct {
	Rec registrar.Record
	Err error
}

// recordsScanned is the store's answer to a scan (see Services.scanFor): every stored record.
type recordsScanned struct {
	Recs []registrar.Record
	Err  error
}

// recordSaved is the store's answer to an AOR actor's save number Seq.
type recordSaved struct {
	Seq uint64
	Err error
}

// expiryDue is the AOR actor's timer for its earliest binding expiry; Gen tells a re-armed
// timer's late delivery apart.
type expiryDue struct {
	Gen uint32
	At  time.Time
}

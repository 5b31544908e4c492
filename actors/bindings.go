package actors

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/actors/dialogs"
	"github.com/partysip/partysip/actors/services"
	"github.com/partysip/partysip/actors/txn"
	"github.com/partysip/partysip/sipcore/registrar"
)

// These are the operator's calls into the registrar (partysip ctl, the admin API): futures are
// fine here, off the request path.

// CanonicalAOR turns what an operator types ("alice@example.com", "sip:alice@example.com:5060")
// into the address-of-record the registrar keys bindings by.
func (e *Engine) CanonicalAOR(s string) (string, error) {
	if !strings.HasPrefix(strings.ToLower(s), "sip:") && !strings.HasPrefix(strings.ToLower(s), "sips:") {
		s = "sip:" + s
	}
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil || u.User == "" {
		return "", fmt.Errorf("%q is not an address-of-record (user@domain)", s)
	}
	return registrar.LocalAOR(&u, e.c.local), nil
}

// Bindings returns the live bindings of aor (canonical), or of every AOR when aor is "".
// With limit > 0 it is one page: the first limit AORs after after (see BindingsListRequested).
func (e *Engine) Bindings(ctx context.Context, aor, after string, limit int) ([]registrar.Record, error) {
	res, err := e.system.Root.RequestFuture(e.services.Location, &services.BindingsListRequested{AOR: aor, After: after, Limit: limit}, timeout(ctx)).Result()
	if err != nil {
		return nil, fmt.Errorf("location service: %w", err)
	}
	recs, _ := res.([]registrar.Record)
	return recs, nil
}

// RemoveBinding removes one contact of aor (canonical) and stores the change; it reports
// whether there was such a binding.
func (e *Engine) RemoveBinding(ctx context.Context, aor, contact string) (bool, error) {
	res, err := e.system.Root.RequestFuture(e.services.Registrar, &services.BindingRemoveRequested{AOR: aor, Contact: contact}, timeout(ctx)).Result()
	if err != nil {
		return false, fmt.Errorf("registrar: %w", err)
	}
	r, ok := res.(*services.BindingRemoved)
	if !ok {
		return false, errors.New("registrar: unexpected answer")
	}
	return r.Found, r.Err
}

func timeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 5 * time.Second
}

// Dialogs lists the dialogs in progress, oldest first.
func (e *Engine) Dialogs(ctx context.Context) ([]DialogInfo, error) {
	return e.c.dialogs.List(timeout(ctx))
}

// DialogInfo is one dialog as operators see it (the dialog room's).
type DialogInfo = dialogs.Info

// TransactionInfo is one live transaction as operators see it (the transaction room's).
type TransactionInfo = txn.Info

// TransactionTimer is a running timer of a listed transaction.
type TransactionTimer = txn.TimerInfo

// Transactions lists up to limit live transactions with their state: the shards give their
// tables, then each transaction is asked (futures from outside the actors: operators only).
func (e *Engine) Transactions(ctx context.Context, limit int) ([]TransactionInfo, error) {
	var out []TransactionInfo
	for _, s := range e.c.shards {
		res, err := e.system.Root.RequestFuture(s, &txn.ListRequested{}, timeout(ctx)).Result()
		if err != nil {
			return nil, fmt.Errorf("transactions: %w", err)
		}
		list, _ := res.(*txn.List)
		if list == nil {
			continue
		}
		for _, pid := range list.PIDs {
			if len(out) >= limit {
				return out, nil
			}
			info, err := e.system.Root.RequestFuture(pid, &txn.StateRequested{}, 200*time.Millisecond).Result()
			if ti, ok := info.(*txn.Info); ok && err == nil {
				out = append(out, *ti) // one that ended meanwhile is left out
			}
		}
		out = append(out, list.Parked[:min(len(list.Parked), limit-len(out))]...)
	}
	return out, nil
}

package actors

import (
	"fmt"
	"strings"

	"github.com/partysip/partysip/actors/services"
	"github.com/partysip/partysip/actors/transport"
)

// Supervised is one kind of actor in the supervision tree: who supervises it, how many live,
// and what its supervisor does when it fails.
type Supervised struct {
	Name     string
	Parent   string // "" for the actor system's root
	Count    string
	OnFail   string
	Counted  string // the failure counter (partysip_actor_failures_total{kind})
	Stateful string // what is lost, and how it is rebuilt
}

// rootDefault is what protoactor does when an actor the root spawned fails.
const rootDefault = "restart (protoactor's default for the root's children: 10 in 10s)"

// SupervisionTree describes the tree Start builds, from the same constants its strategies use;
// docs/supervision.md is generated from it (partysip supervision --markdown) and a test keeps
// the two equal.
func SupervisionTree() []Supervised {
	return []Supervised{
		{Name: "transports", Parent: "", Count: "1", OnFail: rootDefault, Stateful: "nothing (it spawns the transport actors)"},
		{Name: "transport", Parent: "transports", Count: "1 per listener",
			OnFail:   fmt.Sprintf("restart with exponential backoff (step %s, window %s)", transport.BackoffStep, transport.BackoffWindow),
			Counted:  "listener restarts (partysip_listener_restarts_total)",
			Stateful: "the socket: re-bound at the same address"},
		{Name: "shard", Parent: "", Count: "N (transactions.shards, 4 per CPU)", OnFail: rootDefault,
			Stateful: "its live transactions: protoactor stops a restarting actor's children, so each ends as on a fault (a caller still owed a final response gets 500); its parked waits stay (the shard is the same value)"},
		{Name: "server transaction (IST/NIST)", Parent: "shard", Count: "1 per request being served",
			OnFail: "stop (never restarted: its state is gone); a final response still owed is sent as 500", Counted: "transaction",
			Stateful: "lost with it: the caller gets 500"},
		{Name: "proxy context", Parent: "server transaction (IST/NIST)", Count: "1 per request",
			OnFail: "stop; its server transaction answers 500", Counted: "transaction", Stateful: "lost with it"},
		{Name: "client transaction (ICT/NICT)", Parent: "shard", Count: "1 per branch",
			OnFail: "stop; the proxy context takes the branch as failed (500)", Counted: "transaction", Stateful: "lost with it"},
		{Name: "dialog shard", Parent: "", Count: "N (as the transaction shards)", OnFail: rootDefault,
			Stateful: "its dialog table: calls in progress go on untracked"},
		{Name: "dialog", Parent: "dialog shard", Count: "1 per call in progress", OnFail: "stop; the call goes on untracked",
			Counted: "dialog", Stateful: "the call's bookkeeping (forwarding never depends on it)"},
		{Name: "registrar", Parent: "", Count: "1",
			OnFail:  fmt.Sprintf("restart, up to %d in %s", services.RestartLimit, services.RestartWindow),
			Counted: "service", Stateful: "its AOR table: scans the store again"},
		{Name: "AOR", Parent: "registrar", Count: "1 per address-of-record",
			OnFail:  fmt.Sprintf("restart, up to %d in %s, then stop (the next REGISTER starts a fresh one)", services.RestartLimit, services.RestartWindow),
			Counted: "registration", Stateful: "its bindings: read back from the store; the requests it held get 500"},
		{Name: "location", Parent: "", Count: "1",
			OnFail:  fmt.Sprintf("restart, up to %d in %s", services.RestartLimit, services.RestartWindow),
			Counted: "service", Stateful: "nothing: the location table it reads is the AOR actors' (Services.Lookup), not its own"},
		{Name: "nonces", Parent: "", Count: "1",
			OnFail:  fmt.Sprintf("restart, up to %d in %s", services.RestartLimit, services.RestartWindow),
			Counted: "service", Stateful: "nonce-counts: a client may need one more challenge"},
		{Name: "users", Parent: "", Count: "1",
			OnFail:  fmt.Sprintf("restart, up to %d in %s", services.RestartLimit, services.RestartWindow),
			Counted: "service", Stateful: "nothing: the user set is a published snapshot"},
	}
}

// SupervisionMarkdown renders the tree as a Mermaid diagram and a table.
func SupervisionMarkdown() string {
	var b strings.Builder
	b.WriteString("# Supervision tree\n\n")
	b.WriteString("Generated from `actors.SupervisionTree` by `partysip supervision`; a test keeps it\n")
	b.WriteString("equal to the code. A failure stays in the actor that failed; its supervisor decides what\n")
	b.WriteString("happens next, and counts it in `partysip_actor_failures_total{kind}`.\n\n")
	b.WriteString("```mermaid\ngraph TD\n  root((actor system))\n")
	ids := map[string]string{"": "root"}
	for i, s := range SupervisionTree() {
		ids[s.Name] = fmt.Sprintf("n%d", i)
	}
	for _, s := range SupervisionTree() {
		fmt.Fprintf(&b, "  %s --> %s[\"%s<br/>%s\"]\n", ids[s.Parent], ids[s.Name], s.Name, s.Count)
	}
	b.WriteString("```\n\n| actor | supervised by | how many | when it fails | counted as | what is lost, how it comes back |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- |\n")
	for _, s := range SupervisionTree() {
		parent := s.Parent
		if parent == "" {
			parent = "actor system"
		}
		counted := s.Counted
		if counted == "" {
			counted = "-"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", s.Name, parent, s.Count, s.OnFail, counted, s.Stateful)
	}
	return b.String()
}

// Package sipcore is the root of partysip's pure SIP logic: transaction state machines
// (sipcore/transaction) and proxy rules (sipcore/proxy). Code under it starts no goroutines,
// reads no clock, does no I/O and knows nothing of actors, so every rule is testable
// deterministically; the actors package wraps it. layering_test.go enforces this.
package sipcore

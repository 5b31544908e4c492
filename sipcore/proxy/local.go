// Package proxy holds the proxy rules of RFC 3261 §16 as pure functions over sipgo messages:
// request validation, Route pre-processing, routing, forwarding copies, response selection and
// CANCEL construction. It has no goroutines, no clock and no I/O.
package proxy

// Package registrar holds REGISTER processing (RFC 3261 §10.3) and the location lookup built on
// it as pure functions: a REGISTER is parsed into a Register, applied to the bindings of one
// address-of-record at a given instant, and the outcome says what to store and what to answer.
// It has no goroutines, no clock and no I/O; the registrar actors own time and storage.
package registrar

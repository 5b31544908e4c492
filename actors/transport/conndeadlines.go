package transport

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// A peer can hold a connection without ever finishing a message: it connects and sends nothing,
// or sends a header a byte every few seconds (slowloris), or declares a body that never comes.
// sipgo's read loop would wait for ever. timedConn sits between the listener (after TLS) and
// sipgo and sets a read deadline before every read, from where the connection is in its stream:
//
//	fresh   accepted, nothing read yet: the first message by opened + header_timeout
//	header  a message begun: its header by begun + header_timeout
//	body    a header read that declares a body: the body by header end + body_timeout
//	idle    between messages: a byte (a message, or a CRLF keep-alive) by last byte + connection_idle
//
// It follows the stream with a framing scanner (start of message, end of header, Content-Length)
// that only keeps time: sipgo's parser still reads the messages, and a scanner that lost the
// boundary costs at worst a deadline, never a message. Over WebSocket, where the bytes are
// frames, only the fresh and idle deadlines apply. A connection past a deadline is closed,
// counted in partysip_connections_timed_out_total and logged (sampled).

type streamPhase uint8

const (
	phaseFresh streamPhase = iota
	phaseHeader
	phaseBody
	phaseIdle
)

// timed wraps ln so that every connection it accepts is held to the deadlines; framed is false
// for WebSocket listeners.
func (l *ConnLimits) timed(ln net.Listener, framed bool) net.Listener {
	if l == nil {
		return ln
	}
	return &timedListener{Listener: ln, limits: l, framed: framed}
}

type timedListener struct {
	net.Listener
	limits *ConnLimits
	framed bool
}

func (tl *timedListener) Accept() (net.Conn, error) {
	c, err := tl.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &timedConn{Conn: c, limits: tl.limits, framed: tl.framed, since: time.Now()}, nil
}

// timedConn is read by one goroutine (sipgo's read loop); its state needs no lock.
type timedConn struct {
	net.Conn
	limits *ConnLimits
	framed bool

	phase     streamPhase
	since     time.Time // when the phase began (fresh: accepted; idle: the last byte)
	length    int       // the Content-Length of the header being read
	remaining int       // body bytes still to come
	line      []byte    // the start of the header line being read (enough for Content-Length)
	lineLen   int       // its full length
}

func (c *timedConn) Read(p []byte) (int, error) {
	deadline, why := c.deadline()
	_ = c.Conn.SetReadDeadline(deadline)
	n, err := c.Conn.Read(p)
	now := time.Now()
	if n > 0 {
		c.advance(p[:n], now)
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && !deadline.IsZero() && !now.Before(deadline) {
		c.limits.timedOut.Add(1)
		c.limits.bad.Info("connection closed: "+why, zap.Stringer("from", c.RemoteAddr()))
		// sipgo closes the connection on any read error; EOF keeps it from logging one of its own.
		return n, io.EOF
	}
	return n, err
}

// deadline is when the current phase must end (zero: no deadline) and what is late then.
func (c *timedConn) deadline() (time.Time, string) {
	idle, header, body := c.limits.deadlines()
	limit, why := time.Duration(0), ""
	switch c.phase {
	case phaseFresh:
		limit, why = header, "no message within limits.header_timeout of connecting"
	case phaseHeader:
		limit, why = header, "header not complete within limits.header_timeout"
	case phaseBody:
		limit, why = body, "body not complete within limits.body_timeout"
	case phaseIdle:
		limit, why = idle, "idle for limits.connection_idle"
	}
	if limit <= 0 {
		return time.Time{}, ""
	}
	return c.since.Add(limit), why
}

// advance moves the phase over the bytes just read.
func (c *timedConn) advance(b []byte, now time.Time) {
	if !c.framed {
		c.phase, c.since = phaseIdle, now
		return
	}
	for i := 0; i < len(b); {
		switch c.phase {
		case phaseFresh, phaseIdle:
			if b[i] == '\r' || b[i] == '\n' { // keep-alives between messages
				i++
				c.phase, c.since = phaseIdle, now
				continue
			}
			c.phase, c.since, c.length, c.line, c.lineLen = phaseHeader, now, 0, c.line[:0], 0
		case phaseHeader:
			ch := b[i]
			i++
			if ch != '\n' {
				c.lineLen++
				if len(c.line) < 64 {
					c.line = append(c.line, ch)
				}
				continue
			}
			if c.lineLen <= 1 && len(bytes.TrimRight(c.line, "\r")) == 0 { // the empty line: header done
				if c.length > 0 {
					c.phase, c.since, c.remaining = phaseBody, now, c.length
				} else {
					c.phase, c.since = phaseIdle, now
				}
				continue
			}
			if n, ok := contentLength(c.line); ok {
				c.length = n
			}
			c.line, c.lineLen = c.line[:0], 0
		case phaseBody:
			k := min(c.remaining, len(b)-i)
			i += k
			if c.remaining -= k; c.remaining == 0 {
				c.phase, c.since = phaseIdle, now
			}
		}
	}
}

// contentLength reads a Content-Length (or compact l) header line.
func contentLength(line []byte) (int, bool) {
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return 0, false
	}
	name = bytes.TrimSpace(name)
	if !bytes.EqualFold(name, []byte("Content-Length")) && !bytes.EqualFold(name, []byte("l")) {
		return 0, false
	}
	n, err := strconv.Atoi(string(bytes.TrimSpace(value)))
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

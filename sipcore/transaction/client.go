package transaction

// stepICT is the INVITE client transaction, RFC 3261 §17.1.1 (figure 5) with the Accepted
// state of RFC 6026 §8.4.
func (m *Machine) stepICT(ev Event) {
	switch m.state {
	case Idle:
		if ev.Kind != Start {
			return
		}
		// §17.1.1.2: send the INVITE, timer A (unreliable only) and timer B.
		m.state = Calling
		m.emit(SendRequest)
		m.armRetransmission(TimerA, TimerB)
	case Calling, Proceeding:
		switch {
		case m.state == Calling && m.timerFired(ev, TimerA):
			// §17.1.1.2: retransmit and double timer A.
			m.emit(SendRequest)
			m.interval *= 2
			m.arm(TimerA, m.interval)
		case m.state == Calling && m.timerFired(ev, TimerB):
			// §17.1.1.2: no response within 64*T1.
			m.timedOut()
		case ev.Kind == TransportFailed:
			// §17.1.4.
			m.transportFailed()
		case ev.Kind == ResponseReceived:
			m.lastCode = ev.Code
			switch {
			case ev.Code < 200:
				m.state = Proceeding
				m.emit(PassResponse)
			case ev.Code < 300:
				// RFC 6026 §8.4: Calling/Proceeding --2xx--> Accepted, timer M.
				m.state = Accepted
				m.emit(PassResponse)
				m.arm(TimerM, 64*m.timers.T1)
			default:
				// §17.1.1.2: ACK the final non-2xx, pass it up, timer D.
				m.state = Completed
				m.emit(PassResponse)
				m.emit(SendAck)
				m.arm(TimerD, m.wait(m.timers.D))
			}
		}
	case Completed:
		switch {
		case ev.Kind == ResponseReceived && ev.Code >= 300:
			// §17.1.1.2: a retransmitted final response is ACKed again, not passed up.
			m.emit(SendAck)
		case ev.Kind == TransportFailed:
			m.transportFailed()
		case m.timerFired(ev, TimerD):
			m.terminate()
		}
	case Accepted:
		switch {
		case ev.Kind == ResponseReceived && ev.Code >= 200 && ev.Code < 300:
			// RFC 6026 §8.4: every 2xx is passed up, so the proxy can forward it (RFC 3261 §16.7).
			m.lastCode = ev.Code
			m.emit(PassResponse)
		case m.timerFired(ev, TimerM):
			m.terminate()
		}
	}
}

// stepNICT is the non-INVITE client transaction, RFC 3261 §17.1.2 (figure 6).
func (m *Machine) stepNICT(ev Event) {
	switch m.state {
	case Idle:
		if ev.Kind != Start {
			return
		}
		// §17.1.2.2: send the request, timer E (unreliable only) and timer F.
		m.state = Trying
		m.emit(SendRequest)
		m.armRetransmission(TimerE, TimerF)
	case Trying, Proceeding:
		switch {
		case m.timerFired(ev, TimerE):
			// §17.1.2.2: retransmit; in Trying the interval doubles up to T2, in Proceeding it is T2.
			m.emit(SendRequest)
			if m.state == Trying {
				m.interval = min(2*m.interval, m.timers.T2)
			} else {
				m.interval = m.timers.T2
			}
			m.arm(TimerE, m.interval)
		case m.timerFired(ev, TimerF):
			m.timedOut()
		case ev.Kind == TransportFailed:
			m.transportFailed()
		case ev.Kind == ResponseReceived:
			m.lastCode = ev.Code
			if ev.Code < 200 {
				m.state = Proceeding
				m.emit(PassResponse)
				return
			}
			// §17.1.2.2: final response: Completed, timer K (T4, zero on reliable transports).
			m.state = Completed
			m.emit(PassResponse)
			m.arm(TimerK, m.wait(m.timers.T4))
		}
	case Completed:
		// §17.1.2.2: retransmitted responses are absorbed.
		if m.timerFired(ev, TimerK) {
			m.terminate()
		}
	}
}

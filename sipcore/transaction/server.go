package transaction

// stepIST is the INVITE server transaction, RFC 3261 §17.2.1 (figure 7) with the Accepted
// state of RFC 6026 §7.1.
func (m *Machine) stepIST(ev Event) {
	switch m.state {
	case Idle:
		if ev.Kind == Start {
			// §17.2.1: Proceeding; the request goes to the TU (a proxy sends 100 Trying, §16.2).
			m.state = Proceeding
			m.emit(PassRequest)
		}
	case Proceeding:
		switch ev.Kind {
		case RequestRetransmitted:
			// §17.2.1: retransmit the most recent provisional response, if any.
			if m.lastCode != 0 {
				m.emit(ResendResponse)
			}
		case ResponseSent:
			m.lastCode = ev.Code
			switch {
			case ev.Code < 200:
				m.emit(SendResponse)
			case ev.Code < 300:
				// RFC 6026 §7.1: Proceeding --2xx--> Accepted, timer L.
				m.state = Accepted
				m.emit(SendResponse)
				m.arm(TimerL, 64*m.timers.T1)
			default:
				// §17.2.1: Completed; timer G (unreliable only) and timer H.
				m.state = Completed
				m.emit(SendResponse)
				m.armRetransmission(TimerG, TimerH)
			}
		case TransportFailed:
			m.transportFailed()
		}
	case Completed:
		switch {
		case ev.Kind == RequestRetransmitted:
			m.emit(ResendResponse)
		case m.timerFired(ev, TimerG):
			m.emit(ResendResponse)
			m.interval = min(2*m.interval, m.timers.T2)
			m.arm(TimerG, m.interval)
		case m.timerFired(ev, TimerH):
			// §17.2.1: the ACK never came.
			m.timedOut()
		case ev.Kind == AckReceived:
			// §17.2.1: Confirmed; timer I absorbs further ACKs (zero on reliable transports).
			m.state = Confirmed
			m.arm(TimerI, m.wait(m.timers.T4))
		case ev.Kind == TransportFailed:
			m.transportFailed()
		}
	case Confirmed:
		if m.timerFired(ev, TimerI) {
			m.terminate()
		}
	case Accepted:
		switch {
		case ev.Kind == ResponseSent && ev.Code >= 200 && ev.Code < 300:
			// RFC 6026 §7.1: further 2xx from the TU are sent.
			m.lastCode = ev.Code
			m.emit(SendResponse)
		case ev.Kind == AckReceived:
			// RFC 6026 §7.1: an ACK matching the transaction goes to the TU.
			m.emit(PassAck)
		case m.timerFired(ev, TimerL):
			m.terminate()
		}
		// Retransmitted INVITEs are absorbed (RFC 6026 §7.1).
	}
}

// stepNIST is the non-INVITE server transaction, RFC 3261 §17.2.2 (figure 8).
func (m *Machine) stepNIST(ev Event) {
	switch m.state {
	case Idle:
		if ev.Kind == Start {
			m.state = Trying
			m.emit(PassRequest)
		}
	case Trying, Proceeding:
		switch ev.Kind {
		case RequestRetransmitted:
			// §17.2.2: absorbed in Trying, the last provisional resent in Proceeding.
			if m.state == Proceeding {
				m.emit(ResendResponse)
			}
		case ResponseSent:
			m.lastCode = ev.Code
			if ev.Code < 200 {
				m.state = Proceeding
				m.emit(SendResponse)
				return
			}
			// §17.2.2: Completed, timer J (64*T1, zero on reliable transports).
			m.state = Completed
			m.emit(SendResponse)
			m.arm(TimerJ, m.wait(64*m.timers.T1))
		case TransportFailed:
			m.transportFailed()
		}
	case Completed:
		switch {
		case ev.Kind == RequestRetransmitted:
			m.emit(ResendResponse)
		case m.timerFired(ev, TimerJ):
			m.terminate()
		case ev.Kind == TransportFailed:
			m.transportFailed()
		}
		// Further responses from the TU are discarded (§17.2.2).
	}
}

// Package phones drives real SIP phones on loopback: Debian's baresip (apt-get install -y
// baresip-core), headless, with a sine tone as its microphone and a null bridge as its speaker,
// commanded and watched over its ctrl_tcp socket (netstring-framed JSON). The end-to-end tests
// use it to show that partysip's defaults work with a common client, not only with SIPp.
package phones

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/partysip/partysip/bench/sipp"
)

// ErrNotInstalled means the baresip binary is not on PATH.
var ErrNotInstalled = errors.New("baresip not found on PATH (apt-get install -y baresip-core)")

// modules are baresip's module directory on Debian.
const modules = "/usr/lib/baresip/modules"

// Account is one phone's SIP account.
type Account struct {
	User, Password, Domain string
	Transport              string // udp, tcp or tls
	Proxy                  string // host:port of the outbound proxy every request goes to
	CAFile                 string // PEM authorities that sign the proxy's certificate (tls)
}

// Event is one event baresip reports (REGISTER_OK, CALL_INCOMING, CALL_ESTABLISHED,
// CALL_RTPESTAB, CALL_CLOSED, ...).
type Event struct {
	Type    string `json:"type"`
	Class   string `json:"class"`
	ID      string `json:"id"`
	PeerURI string `json:"peeruri"`
	Param   string `json:"param"`
}

type reply struct {
	OK   bool   `json:"ok"`
	Data string `json:"data"`
}

// Phone is a running baresip.
type Phone struct {
	Account Account
	cmd     *exec.Cmd
	conn    net.Conn
	done    chan struct{}
	replies chan reply
	evMu    sync.Mutex
	events  []Event       // reported and not yet awaited, in order
	notify  chan struct{} // a new event arrived
	out     *lockedBuffer
	mu      sync.Mutex // one command at a time
}

// Start writes a configuration for account into dir, starts baresip on it (bound to 127.0.0.1
// only, so no packet, SIP or RTP, leaves the machine; it quits by itself after lifetime) and
// connects to its control socket. The control port is picked free beforehand, so another
// process (or baresip's own SIP listener, on an ephemeral port) can take it first: then the
// control socket answers nothing, and baresip is started again on another port.
func Start(dir string, account Account, lifetime time.Duration) (*Phone, error) {
	var last error
	for range 5 {
		p, err := start(dir, account, lifetime)
		if err != nil {
			return nil, err
		}
		if _, err = p.Command("reginfo", ""); err == nil {
			return p, nil
		}
		last = fmt.Errorf("%w:\n%s", err, p.Output())
		p.Stop()
	}
	return nil, fmt.Errorf("baresip's control socket never answered: %w", last)
}

func start(dir string, account Account, lifetime time.Duration) (*Phone, error) {
	bin, err := exec.LookPath("baresip")
	if err != nil {
		return nil, ErrNotInstalled
	}
	ctrl, err := sipp.FreePort()
	if err != nil {
		return nil, err
	}
	config := strings.Join([]string{
		"poll_method epoll",
		"net_interface 127.0.0.1",
		"sip_listen 127.0.0.1:0",
		"sip_cafile " + account.CAFile,
		// ausine produces 48 kHz stereo only; baresip resamples it for the codec.
		"audio_source ausine,440",
		"ausrc_srate 48000",
		"ausrc_channels 2",
		"audio_player aubridge," + account.User,
		"audio_alert aubridge," + account.User,
		"auplay_srate 48000",
		"module_path " + modules,
		"module g711.so",
		"module ausine.so",
		"module aubridge.so",
		"module_app account.so",
		"module_app menu.so",
		"module_app ctrl_tcp.so",
		fmt.Sprintf("ctrl_tcp_listen 127.0.0.1:%d", ctrl),
		"",
	}, "\n")
	if account.CAFile == "" {
		config = strings.Replace(config, "sip_cafile \n", "", 1)
	}
	line := fmt.Sprintf("<sip:%s@%s;transport=%s>;auth_pass=%s;outbound=\"sip:%s;transport=%s\";regint=600;answermode=auto;audio_codecs=PCMU\n",
		account.User, account.Domain, account.Transport, account.Password, account.Proxy, account.Transport)
	for name, body := range map[string]string{"config": config, "accounts": line, "contacts": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			return nil, err
		}
	}

	p := &Phone{Account: account, done: make(chan struct{}), notify: make(chan struct{}, 1),
		replies: make(chan reply, 1), out: &lockedBuffer{}}
	p.cmd = exec.Command(bin, "-f", dir, "-t", strconv.Itoa(int(lifetime.Seconds())))
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.conn, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ctrl))
		if err == nil {
			break
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("baresip exited at start:\n%s", p.Output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("baresip's control socket did not open:\n%s", p.Output())
		}
	}
	go p.read()
	return p, nil
}

// read decodes the control socket's netstrings ("12:{...json...},") into events and replies.
func (p *Phone) read() {
	r := bufio.NewReader(p.conn)
	for {
		size, err := r.ReadString(':')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(size, ":")))
		if err != nil || n < 0 || n > 1<<20 {
			return
		}
		body := make([]byte, n+1) // the JSON and its trailing ','
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		var kind struct {
			Event    bool `json:"event"`
			Response bool `json:"response"`
		}
		_ = json.Unmarshal(body[:n], &kind)
		switch {
		case kind.Event:
			var e Event
			if json.Unmarshal(body[:n], &e) == nil {
				p.evMu.Lock()
				p.events = append(p.events, e)
				p.evMu.Unlock()
				select {
				case p.notify <- struct{}{}:
				default:
				}
			}
		case kind.Response:
			var rep reply
			if json.Unmarshal(body[:n], &rep) == nil {
				p.replies <- rep
			}
		}
	}
}

// Command runs one of baresip's commands ("dial", "hangup", "reginfo", ...) and returns what it
// printed.
func (p *Phone) Command(name, params string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg, _ := json.Marshal(map[string]string{"command": name, "params": params, "token": name})
	if _, err := fmt.Fprintf(p.conn, "%d:%s,", len(msg), msg); err != nil {
		return "", err
	}
	select {
	case rep := <-p.replies:
		if !rep.OK {
			return rep.Data, fmt.Errorf("%s %s: %s", name, params, strings.TrimSpace(rep.Data))
		}
		return rep.Data, nil
	case <-time.After(5 * time.Second):
		return "", fmt.Errorf("%s: no reply from baresip", name)
	}
}

// Registered waits until the phone's account is registered (its reginfo says OK).
func (p *Phone) Registered(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		info, err := p.Command("reginfo", "")
		if err == nil && strings.Contains(info, "OK") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not register (%q, %v):\n%s", p.Account.User, info, err, p.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Await waits for an event of the given type and consumes it. Events are kept in the order they
// came, so one reported before another (an RTP stream established before the call is, over TCP)
// is found whichever is awaited first.
func (p *Phone) Await(typ string, timeout time.Duration) (Event, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		p.evMu.Lock()
		for i, e := range p.events {
			if e.Type == typ {
				p.events = append(p.events[:i], p.events[i+1:]...)
				p.evMu.Unlock()
				return e, nil
			}
		}
		p.evMu.Unlock()
		select {
		case <-p.notify:
		case <-timer.C:
			return Event{}, fmt.Errorf("%s: no %s within %v:\n%s", p.Account.User, typ, timeout, p.Output())
		}
	}
}

// Output is what baresip printed (its log), for a failing test's message.
func (p *Phone) Output() string { return p.out.String() }

// Stop ends the phone (it unregisters if it gets the time) and waits for it.
func (p *Phone) Stop() {
	if p.conn != nil {
		_ = p.conn.Close()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 { // baresip prints its bit rates many times a second during a call
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

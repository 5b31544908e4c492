package harness

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proxy is a partysip daemon started for a run.
type Proxy struct {
	Cmd     *exec.Cmd
	done    chan error
	stopped sync.Once
}

// BuildPartysip builds the daemon from the module at root into dir and returns its path.
func BuildPartysip(root, dir string) (string, error) {
	bin := filepath.Join(dir, "partysip")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/partysip")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// StartPartysip runs bin with config and waits until it listens. Its log goes to logPath. The
// admin API is off unless args turn it on (e.g. "--admin", "127.0.0.1:port").
func StartPartysip(bin, config, logPath string, args ...string) (*Proxy, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"run", "-c", config, "--log-format", "json", "--admin", "off"}, args...)...)
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pw.Close()
	p := &Proxy{Cmd: cmd, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := false
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if !once && strings.Contains(sc.Text(), "partysip listening") {
				once = true
				close(ready)
			}
		}
		logf.Close()
	}()
	go func() { p.done <- cmd.Wait() }()
	select {
	case <-ready:
		return p, nil
	case err := <-p.done:
		return nil, fmt.Errorf("partysip exited at start: %v (log: %s)", err, logPath)
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("partysip did not start (log: %s)", logPath)
	}
}

// PID is the daemon's process id.
func (p *Proxy) PID() int { return p.Cmd.Process.Pid }

// Stop sends SIGTERM (to the process group of a forking server) and waits (SIGKILL after 30 s).
// Only the first call does anything.
func (p *Proxy) Stop() { p.stopped.Do(p.stop) }

func (p *Proxy) stop() {
	if p.Cmd.SysProcAttr != nil && p.Cmd.SysProcAttr.Setpgid {
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGTERM)
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
}

// StartCommand runs a proxy other than partysip (Kamailio) with its output in logPath, and
// gives it settle to bind its sockets.
func StartCommand(logPath string, settle time.Duration, name string, args ...string) (*Proxy, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &Proxy{Cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logf.Close() }()
	select {
	case err := <-p.done:
		return nil, fmt.Errorf("%s exited at start: %v (log: %s)", name, err, logPath)
	case <-time.After(settle):
		return p, nil
	}
}

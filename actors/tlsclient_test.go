package actors

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/partysip/partysip/bench/sipp"
	"github.com/partysip/partysip/config"
)

// A TLS next hop with a certificate of a private CA: reached when tls.ca_file names that CA,
// refused (its certificate cannot be verified) with the system's roots alone.
func TestTLSNextHopVerifiedAgainstCAFile(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		caFile  string
		reached bool
	}{{"with ca_file", certFile, true}, {"system roots only", "", false}} {
		t.Run(c.name, func(t *testing.T) {
			phone, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
			if err != nil {
				t.Fatal(err)
			}
			defer phone.Close()
			got := make(chan string, 1)
			go func() {
				conn, err := phone.Accept()
				if err != nil {
					return
				}
				defer conn.Close()
				_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
				line, err := bufio.NewReader(conn).ReadString('\n')
				if err == nil {
					got <- line
				}
			}()
			udpPort, _ := sipp.FreePort()
			tlsPort, _ := sipp.FreePort()
			cfg := config.Default()
			cfg.Listen = []string{"udp:127.0.0.1:" + strconv.Itoa(udpPort), "tls:127.0.0.1:" + strconv.Itoa(tlsPort)}
			cfg.Routes = []config.Route{{Match: ".*", To: fmt.Sprintf("sip:127.0.0.1:%d;transport=tls", phone.Addr().(*net.TCPAddr).Port)}}
			cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.CAFile = certFile, keyFile, c.caFile
			startConfigured(t, cfg)
			uac := newPeer(t, "127.0.0.1")
			uac.send(loopback(udpPort), invite("sip:bob@127.0.0.1:"+strconv.Itoa(udpPort), "127.0.0.1", uac.port(), "z9hG4bK-tlsca", "tls-ca-"+c.name))
			select {
			case line := <-got:
				if !c.reached {
					t.Fatalf("reached a peer whose certificate cannot be verified: %q", line)
				}
				if line != "INVITE sip:bob@127.0.0.1:"+strconv.Itoa(udpPort)+" SIP/2.0\r\n" {
					t.Fatalf("the TLS hop got %q", line)
				}
			case <-time.After(2 * time.Second):
				if c.reached {
					t.Fatal("the TLS hop got nothing")
				}
				res, _ := uac.recv(3 * time.Second)
				for r, ok := res.(*sip.Response); ok && r.StatusCode < 200; r, ok = res.(*sip.Response) {
					res, _ = uac.recv(3 * time.Second)
				}
				if r, ok := res.(*sip.Response); !ok || r.StatusCode < 500 {
					t.Fatalf("the caller got %v, want a 5xx for an unverifiable next hop", res)
				}
			}
		})
	}
}

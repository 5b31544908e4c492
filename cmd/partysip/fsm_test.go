package main

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/partysip/partysip/actors"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/state-machines.md")

// TestStateMachineDocUpToDate keeps docs/state-machines.md equal to what the code generates.
func TestStateMachineDocUpToDate(t *testing.T) {
	var b bytes.Buffer
	writeFSMDocument(&b)
	const path = "../../docs/state-machines.md"
	if *updateDocs {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatal("docs/state-machines.md is stale: run go test ./cmd/partysip -run StateMachineDoc -update")
	}
	// Spot checks that the generated diagrams show the RFC's transitions.
	for _, edge := range []string{
		"Idle --> Calling: Start / SendRequest, start A (500ms), start B (32s)",
		"Calling --> Accepted: 2xx received / PassResponse, start M (32s)",
		"Completed --> Confirmed: AckReceived / start I (5s)",
		"Trying --> Completed: 2xx from TU / SendResponse, start J (32s)",
		"Proceeding --> Terminated: TransportFailed / InformTransportError, Terminate",
	} {
		if !strings.Contains(b.String(), edge) {
			t.Errorf("diagram lacks %q", edge)
		}
	}
}

// TestSupervisionDocUpToDate keeps docs/supervision.md equal to what the code describes.
func TestSupervisionDocUpToDate(t *testing.T) {
	got := actors.SupervisionMarkdown()
	const path = "../../docs/supervision.md"
	if *updateDocs {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatal("docs/supervision.md is stale: run go test ./cmd/partysip -run SupervisionDoc -update")
	}
	for _, line := range []string{"restart, up to 10 in 10s", "step 100ms, window 1m0s", "n3[\"server transaction (IST/NIST)"} {
		if !strings.Contains(got, line) {
			t.Errorf("supervision doc lacks %q", line)
		}
	}
}

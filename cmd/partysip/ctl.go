package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/partysip/partysip/actors/admin"
)

const ctlUsage = `Usage:
  partysip ctl [--admin HOST:PORT] [--json] bindings list [AOR]
  partysip ctl [--admin HOST:PORT] bindings rm AOR CONTACT

AOR is user@domain (or a sip: URI); CONTACT is the contact URI as listed.
`

// cmdCtl talks to a running daemon's admin API.
func cmdCtl(args []string) int {
	fs := flag.NewFlagSet("ctl", flag.ContinueOnError)
	addr := fs.String("admin", "127.0.0.1:5064", "the daemon's admin API (admin.listen)")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	fs.Usage = func() { fmt.Fprint(os.Stderr, ctlUsage) }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rest := fs.Args()
	if len(rest) < 2 || rest[0] != "bindings" {
		fs.Usage()
		return 2
	}
	base := "http://" + *addr + "/v1/bindings"
	client := &http.Client{Timeout: 10 * time.Second}
	switch {
	case rest[1] == "list" && len(rest) <= 3:
		u := base
		if len(rest) == 3 {
			u += "?aor=" + url.QueryEscape(rest[2])
		}
		var recs []admin.Record
		body, code, err := call(client, http.MethodGet, u, &recs)
		if err != nil {
			fmt.Fprintln(os.Stderr, "partysip ctl:", err)
			return 1
		}
		if code != http.StatusOK {
			fmt.Fprintln(os.Stderr, "partysip ctl:", apiError(body))
			return 1
		}
		if *asJSON {
			os.Stdout.Write(body)
			return 0
		}
		printBindings(os.Stdout, recs)
		return 0
	case rest[1] == "rm" && len(rest) == 4:
		u := base + "?aor=" + url.QueryEscape(rest[2]) + "&contact=" + url.QueryEscape(rest[3])
		var res admin.Removed
		body, code, err := call(client, http.MethodDelete, u, &res)
		if err != nil {
			fmt.Fprintln(os.Stderr, "partysip ctl:", err)
			return 1
		}
		switch code {
		case http.StatusOK:
			fmt.Printf("removed %s from %s\n", res.Contact, res.AOR)
			return 0
		case http.StatusNotFound:
			fmt.Fprintf(os.Stderr, "partysip ctl: %s has no binding %s\n", res.AOR, res.Contact)
			return 1
		}
		fmt.Fprintln(os.Stderr, "partysip ctl:", apiError(body))
		return 1
	}
	fs.Usage()
	return 2
}

// call makes one API call and decodes a JSON body into v when the status is 2xx or 404.
func call(c *http.Client, method, u string, v any) ([]byte, int, error) {
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		return nil, 0, err
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot reach the daemon's admin API (is admin.listen set?): %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, res.StatusCode, err
	}
	if res.StatusCode < 300 || res.StatusCode == http.StatusNotFound {
		if err := json.Unmarshal(body, v); err != nil {
			return body, res.StatusCode, fmt.Errorf("unreadable answer: %w", err)
		}
	}
	return body, res.StatusCode, nil
}

func apiError(body []byte) string {
	var e admin.Error
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	return strings.TrimSpace(string(body))
}

func printBindings(w io.Writer, recs []admin.Record) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AOR\tCONTACT\tQ\tEXPIRES IN\tSOURCE\tPATH")
	n := 0
	for _, r := range recs {
		for _, b := range r.Bindings {
			n++
			fmt.Fprintf(tw, "%s\t%s\t%s\t%ds\t%s\t%s\n", r.AOR, b.Contact, b.Q, b.ExpiresIn, b.Source, strings.Join(b.Path, ","))
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "%d binding(s), %d address(es)-of-record\n", n, len(recs))
}

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/partysip/partysip/actors"
	"github.com/partysip/partysip/actors/admin"
	"github.com/partysip/partysip/actors/services"
	"github.com/partysip/partysip/config"
)

const ctlUsage = `Usage (every form takes -c FILE, --admin HOST:PORT, --token-file FILE):
  partysip ctl [--admin HOST:PORT] [--json] bindings list [AOR]
  partysip ctl [--admin HOST:PORT] bindings rm AOR CONTACT
  partysip ctl [--admin HOST:PORT] [--json] users list
  partysip ctl [--admin HOST:PORT] users add NAME [PASSWORD]
  partysip ctl [--admin HOST:PORT] users rm NAME
  partysip ctl [--admin HOST:PORT] [--json] dialogs list
  partysip ctl [--admin HOST:PORT] [--json] transactions list
  partysip ctl [--admin HOST:PORT] [--json] bans list
  partysip ctl [--admin HOST:PORT] bans rm ADDR

AOR is user@domain (or a sip: URI); CONTACT is the contact URI as listed. users add reads the
password from standard input when it is not given (keep it out of the process list); users added
here are stored with the bindings, users of the users file cannot be changed here.

-c FILE reads the daemon's configuration for its admin.listen and its token (admin.token_file,
by default admin.token beside store.path); without it, the embedded defaults say where they are.
--admin and --token-file override them.
`

// cmdCtl talks to a running daemon's admin API.
func cmdCtl(args []string) int {
	fs := flag.NewFlagSet("ctl", flag.ContinueOnError)
	cfgFile := fs.String("c", "", "the daemon's configuration file (for admin.listen and admin.token_file)")
	addr := fs.String("admin", "", "the daemon's admin API (default: admin.listen of the configuration)")
	tokenFile := fs.String("token-file", "", "the admin API's token (default: admin.token_file of the configuration)")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	fs.Usage = func() { fmt.Fprint(os.Stderr, ctlUsage) }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := config.Default()
	if *cfgFile != "" {
		var err error
		if cfg, err = config.Load(*cfgFile); err != nil {
			fmt.Fprintln(os.Stderr, "partysip ctl:", err)
			return 1
		}
	}
	if *addr == "" {
		*addr = cfg.Admin.Listen
	}
	if *tokenFile == "" {
		*tokenFile = cfg.AdminTokenFile()
	}
	token, err := os.ReadFile(*tokenFile)
	if err != nil {
		// Go on: the API says 401, and this says why.
		fmt.Fprintf(os.Stderr, "partysip ctl: no admin token (%v): give -c FILE or --token-file\n", err)
	}
	rest := fs.Args()
	client := &http.Client{Timeout: 10 * time.Second, Transport: bearer{token: strings.TrimSpace(string(token))}}
	if len(rest) == 2 && rest[0] == "transactions" && rest[1] == "list" {
		now := time.Now()
		return listTable(client, "http://"+*addr+"/v1/transactions?limit=1000", *asJSON, "KIND\tSTATE\tMETHOD\tCALL-ID\tBRANCH\tAGE\tIN STATE\tTIMERS",
			func(x actors.TransactionInfo) []any {
				return []any{x.Kind, x.State, x.Method, x.CallID, x.Branch, ago(now, x.Since), ago(now, x.StateSince), timersLeft(now, x.Timers)}
			}, "%d transaction(s)")
	}
	if len(rest) >= 2 && rest[0] == "bans" {
		return ctlBans(client, "http://"+*addr+"/v1/bans", rest[1:], *asJSON, fs.Usage)
	}
	if len(rest) == 2 && rest[0] == "dialogs" && rest[1] == "list" {
		return ctlDialogs(client, "http://"+*addr+"/v1/dialogs", *asJSON)
	}
	if len(rest) >= 2 && rest[0] == "users" {
		return ctlUsers(client, "http://"+*addr+"/v1/users", rest[1:], *asJSON, fs.Usage)
	}
	if len(rest) < 2 || rest[0] != "bindings" {
		fs.Usage()
		return 2
	}
	base := "http://" + *addr + "/v1/bindings"
	switch {
	case rest[1] == "list" && len(rest) <= 3:
		aor := ""
		if len(rest) == 3 {
			aor = rest[2]
		}
		recs, err := listBindings(client, base, aor)
		if err != nil {
			fmt.Fprintln(os.Stderr, "partysip ctl:", err)
			return 1
		}
		if *asJSON {
			out, _ := json.MarshalIndent(recs, "", "  ")
			fmt.Printf("%s\n", out)
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

// ctlUsers runs the users subcommands.
func ctlUsers(client *http.Client, base string, args []string, asJSON bool, usage func()) int {
	switch {
	case args[0] == "list" && len(args) == 1:
		return listTable(client, base, asJSON, "USER\tSOURCE", func(u services.UserInfo) []any { return []any{u.Name, u.Source} }, "")
	case args[0] == "add" && (len(args) == 2 || len(args) == 3):
		password := ""
		if len(args) == 3 {
			password = args[2]
		} else {
			line, err := bufio.NewReader(os.Stdin).ReadString('\n')
			if err != nil && line == "" {
				fmt.Fprintln(os.Stderr, "partysip ctl: no password on standard input")
				return 1
			}
			password = strings.TrimRight(line, "\r\n")
		}
		js, _ := json.Marshal(map[string]string{"password": password})
		return userChange(client, http.MethodPut, base+"/"+url.PathEscape(args[1]), js)
	case args[0] == "rm" && len(args) == 2:
		return userChange(client, http.MethodDelete, base+"/"+url.PathEscape(args[1]), nil)
	}
	usage()
	return 2
}

func ctlDialogs(client *http.Client, u string, asJSON bool) int {
	now := time.Now()
	return listTable(client, u, asJSON, "CALL-ID\tSTATE\tCALLER\tCALLEE\tAGE\tIDLE", func(d actors.DialogInfo) []any {
		return []any{d.CallID, d.State, d.Caller, d.Callee, now.Sub(d.Created).Round(time.Second), now.Sub(d.LastActivity).Round(time.Second)}
	}, "%d dialog(s)")
}

// listTable fetches a listing of T and prints it as a table: header, one row of cells per item,
// then footer with the count ("" for none). With asJSON it prints the API's JSON instead.
func listTable[T any](client *http.Client, u string, asJSON bool, header string, row func(T) []any, footer string) int {
	var items []T
	if done, code := list(client, u, &items, asJSON); done {
		return code
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, it := range items {
		cells := row(it)
		for i, c := range cells {
			sep := "\t"
			if i == len(cells)-1 {
				sep = "\n"
			}
			fmt.Fprint(tw, c, sep)
		}
	}
	tw.Flush()
	if footer != "" {
		fmt.Printf(footer+"\n", len(items))
	}
	return 0
}

// list fetches a listing into v. It reports done (with the exit code) when it failed or when
// the JSON was wanted and printed; otherwise the caller prints v.
func list(client *http.Client, u string, v any, asJSON bool) (done bool, code int) {
	body, status, err := call(client, http.MethodGet, u, v)
	if err != nil || status != http.StatusOK {
		fmt.Fprintln(os.Stderr, "partysip ctl:", errOr(err, body))
		return true, 1
	}
	if asJSON {
		os.Stdout.Write(body)
		return true, 0
	}
	return false, 0
}

func userChange(client *http.Client, method, u string, body []byte) int {
	var res admin.UserResult
	raw, code, err := callBody(client, method, u, body, &res)
	if err != nil || code != http.StatusOK {
		fmt.Fprintln(os.Stderr, "partysip ctl:", errOr(err, raw))
		return 1
	}
	fmt.Printf("user %s %s\n", res.Name, res.Action)
	return 0
}

func errOr(err error, body []byte) string {
	if err != nil {
		return err.Error()
	}
	return apiError(body)
}

// call makes one API call and decodes a JSON body into v when the status is 2xx or 404.
func call(c *http.Client, method, u string, v any) ([]byte, int, error) {
	return callBody(c, method, u, nil, v)
}

func callBody(c *http.Client, method, u string, body []byte, v any) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return nil, 0, err
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot reach the daemon's admin API (is admin.listen set?): %w", err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, res.StatusCode, err
	}
	if res.StatusCode < 300 || res.StatusCode == http.StatusNotFound {
		if err := json.Unmarshal(answer, v); err != nil {
			return answer, res.StatusCode, fmt.Errorf("unreadable answer: %w", err)
		}
	}
	return answer, res.StatusCode, nil
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

// bearer adds the admin API's token to every call.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// ctlBans lists the banned sources or lifts one ban.
func ctlBans(client *http.Client, base string, args []string, asJSON bool, usage func()) int {
	switch {
	case args[0] == "list" && len(args) == 1:
		return listTable(client, base, asJSON, "ADDRESS\tREASON\tUNTIL", func(b actors.Ban) []any {
			return []any{b.Addr, b.Reason, b.Until.Local().Format(time.DateTime)}
		}, "%d banned source(s)")
	case args[0] == "rm" && len(args) == 2:
		var res map[string]string
		body, code, err := call(client, http.MethodDelete, base+"/"+url.PathEscape(args[1]), &res)
		if err != nil || code != http.StatusOK {
			fmt.Fprintln(os.Stderr, "partysip ctl:", errOr(err, body))
			return 1
		}
		fmt.Printf("%s unbanned\n", args[1])
		return 0
	}
	usage()
	return 2
}

// bindingsPage is how many addresses-of-record one call of bindings list asks for: a daemon
// with a million of them answers 20 pages of about 2 s each (the API allows 5 s a call); the
// whole listing took 38 s on this 2-core box, against 138 s with pages of 5,000.
const bindingsPage = 50000

// listBindings fetches the bindings of aor, or of every AOR page by page.
func listBindings(client *http.Client, base, aor string) ([]admin.Record, error) {
	all := []admin.Record{}
	for after := ""; ; {
		u := base + "?limit=" + strconv.Itoa(bindingsPage) + "&after=" + url.QueryEscape(after)
		if aor != "" {
			u = base + "?aor=" + url.QueryEscape(aor)
		}
		var page []admin.Record
		body, code, err := call(client, http.MethodGet, u, &page)
		if err != nil {
			return nil, err
		}
		if code != http.StatusOK {
			return nil, errors.New(apiError(body))
		}
		all = append(all, page...)
		if aor != "" || len(page) < bindingsPage {
			return all, nil
		}
		after = page[len(page)-1].AOR
	}
}

// ago is how long before now t was, to the millisecond; "-" when unknown.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return now.Sub(t).Round(time.Millisecond).String()
}

// timersLeft lists running timers with the time left on each: "B 31.5s, M 32s".
func timersLeft(now time.Time, ts []actors.TransactionTimer) string {
	if len(ts) == 0 {
		return "-"
	}
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.Name + " " + t.Due.Sub(now).Round(time.Millisecond).String()
	}
	return strings.Join(parts, ", ")
}

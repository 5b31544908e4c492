package plugin

// Chain is the configured request route: handlers in order.
type Chain []Handler

// Run serves r from handler i on, until one answers, forwards or waits. It returns the result
// and the index of the handler that gave it (the one to resume after Wait). A chain that runs
// out of handlers answers 500: the configuration check makes "forward" the last one.
func (c Chain) Run(r *Request, from int) (Result, int) {
	for i := from; i < len(c); i++ {
		if res := c[i].Serve(r); res != Continue {
			return res, i
		}
	}
	return r.Reply(500, "No Route Configured"), len(c)
}

// Resume hands a service actor's answer to the waiting handler i and goes on from there.
func (c Chain) Resume(r *Request, i int, answer any) (Result, int) {
	w, ok := c[i].(Waiter)
	if !ok {
		return r.Reply(500, "Server Internal Error"), i
	}
	if res := w.Resume(r, answer); res != Continue {
		return res, i
	}
	return c.Run(r, i+1)
}

// Names lists the handlers' names, in order.
func (c Chain) Names() []string {
	out := make([]string, len(c))
	for i, h := range c {
		out[i] = h.Name()
	}
	return out
}

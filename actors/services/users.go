package services

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/partysip/partysip/sipcore/digest"
)

// Credentials is the current set of users as an immutable snapshot: the users actor owns the
// set and publishes a new snapshot on every change; readers (the auth plugin on every request,
// the location service) take the current one without a message hop or a lock.
type Credentials struct {
	p atomic.Pointer[CredentialSet]
}

// CredentialSet is one snapshot. Never modified once published.
type CredentialSet struct {
	// HA1 by user name, then by algorithm ("MD5", "SHA-256").
	HA1 map[string]map[string]string
	// FromFile names the users of the users file (read-only at run time).
	FromFile map[string]bool
}

// Get returns the current snapshot.
func (c *Credentials) Get() *CredentialSet { return c.p.Load() }

// Has reports whether name is a user.
func (s *CredentialSet) Has(name string) bool { _, ok := s.HA1[name]; return ok }

// UserSetRequested asks (through a future) to add a user or change their password; the answer
// is a *UserChanged. Users of the users file cannot be changed here.
type UserSetRequested struct {
	Name, Password string
}

// UserRemoveRequested asks (through a future) to remove a user added at run time.
type UserRemoveRequested struct {
	Name string
}

// UserChanged answers UserSetRequested and UserRemoveRequested.
type UserChanged struct {
	Err error
}

// UsersListRequested asks (through a future) for every user; the answer is a []UserInfo.
type UsersListRequested struct{}

// UserInfo is one user as operators see it (no secrets).
type UserInfo struct {
	Name   string `json:"name"`
	Source string `json:"source"` // "file" or "store"
}

// ErrFileUser refuses a run-time change to a user of the users file.
var ErrFileUser = errors.New("user is defined in the users file")

// ErrInvalidUser refuses a name or password that cannot be a user's.
var ErrInvalidUser = errors.New("invalid user")

// ErrNoUser is the answer to removing a user that does not exist.
var ErrNoUser = errors.New("no such user")

// usersActor owns the user set: the file's users and those stored by partysip ctl.
type usersActor struct {
	s       *Services
	pending map[string]bool // names with a write in flight
}

// fileUsersReplaced carries the users of a reloaded users file.
type fileUsersReplaced struct {
	Users map[string]map[string]string
}

// userStored is the store's answer to a user write.
type userStored struct {
	name    string
	ha1     map[string]string
	err     error
	replyTo *actor.PID
}

func (u *usersActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *UsersListRequested:
		cur := u.s.Credentials.Get()
		out := make([]UserInfo, 0, len(cur.HA1))
		for name := range cur.HA1 {
			src := "store"
			if cur.FromFile[name] {
				src = "file"
			}
			out = append(out, UserInfo{Name: name, Source: src})
		}
		slices.SortFunc(out, func(a, b UserInfo) int { return strings.Compare(a.Name, b.Name) })
		ctx.Respond(out)
	case *UserSetRequested:
		if err := validName(m.Name); err != nil {
			ctx.Respond(&UserChanged{Err: err})
			return
		}
		if m.Password == "" {
			ctx.Respond(&UserChanged{Err: fmt.Errorf("%w: empty password", ErrInvalidUser)})
			return
		}
		ha1 := map[string]string{}
		for _, alg := range []string{digest.MD5, digest.SHA256} {
			ha1[alg] = digest.HA1(alg, m.Name, u.s.opts.Realm, m.Password)
		}
		u.write(ctx, m.Name, ha1)
	case *UserRemoveRequested:
		if !u.s.Credentials.Get().Has(m.Name) {
			ctx.Respond(&UserChanged{Err: ErrNoUser})
			return
		}
		u.write(ctx, m.Name, nil)
	case *fileUsersReplaced:
		cur := u.s.Credentials.Get()
		next := &CredentialSet{HA1: map[string]map[string]string{}, FromFile: map[string]bool{}}
		for name, ha1 := range cur.HA1 {
			if !cur.FromFile[name] {
				next.HA1[name] = ha1 // added at run time: kept
			}
		}
		for name, ha1 := range m.Users {
			next.HA1[name], next.FromFile[name] = ha1, true
		}
		u.s.Credentials.p.Store(next)
	case *userStored:
		delete(u.pending, m.name)
		if m.err == nil {
			cur := u.s.Credentials.Get()
			next := &CredentialSet{HA1: maps.Clone(cur.HA1), FromFile: cur.FromFile}
			if m.ha1 == nil {
				delete(next.HA1, m.name)
			} else {
				next.HA1[m.name] = m.ha1
			}
			u.s.Credentials.p.Store(next)
		}
		ctx.Send(m.replyTo, &UserChanged{Err: m.err})
	}
}

// write stores a user change; the snapshot changes once the store confirms.
func (u *usersActor) write(ctx actor.Context, name string, ha1 map[string]string) {
	if u.s.Credentials.Get().FromFile[name] {
		ctx.Respond(&UserChanged{Err: ErrFileUser})
		return
	}
	if u.pending[name] {
		ctx.Respond(&UserChanged{Err: fmt.Errorf("user %s: a change is in progress", name)})
		return
	}
	u.pending[name] = true
	self, root, replyTo := ctx.Self(), ctx.ActorSystem().Root, ctx.Sender()
	u.s.opts.Store.SaveUser(name, ha1, func(err error) {
		root.Send(self, &userStored{name: name, ha1: ha1, err: err, replyTo: replyTo})
	})
}

func validName(n string) error {
	if n == "" || strings.ContainsAny(n, "@:;<> \t\r\n\"") {
		return fmt.Errorf("%w: %q is not a user name", ErrInvalidUser, n)
	}
	return nil
}

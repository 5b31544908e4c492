package actors

import (
	"context"
	"errors"
	"fmt"

	"github.com/partysip/partysip/actors/services"
)

// Users lists every user (users file and run-time), without secrets.
func (e *Engine) Users(ctx context.Context) ([]services.UserInfo, error) {
	res, err := e.system.Root.RequestFuture(e.services.Users, &services.UsersListRequested{}, timeout(ctx)).Result()
	if err != nil {
		return nil, fmt.Errorf("users service: %w", err)
	}
	out, _ := res.([]services.UserInfo)
	return out, nil
}

// SetUser adds a user, or changes their password, in the store (HA1 for the configured realm).
func (e *Engine) SetUser(ctx context.Context, name, password string) error {
	return e.userCall(ctx, &services.UserSetRequested{Name: name, Password: password})
}

// RemoveUser removes a user added at run time.
func (e *Engine) RemoveUser(ctx context.Context, name string) error {
	return e.userCall(ctx, &services.UserRemoveRequested{Name: name})
}

func (e *Engine) userCall(ctx context.Context, msg any) error {
	res, err := e.system.Root.RequestFuture(e.services.Users, msg, timeout(ctx)).Result()
	if err != nil {
		return fmt.Errorf("users service: %w", err)
	}
	c, ok := res.(*services.UserChanged)
	if !ok {
		return errors.New("users service: unexpected answer")
	}
	return c.Err
}

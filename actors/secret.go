package actors

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/partysip/partysip/config"
)

// secretFile is the node secret's file name, in the directory of the store.
const secretFile = "partysip.secret"

// nodeSecret returns the secret that signs our Record-Route entries, and where it is kept. It
// lives beside the bindings store (the daemon's state directory), created at first start with
// mode 0600, so that dialogs set up before a restart are still recognised after it. With the
// memory store there is no state directory: a new random secret per run.
func nodeSecret(cfg *config.Config) ([]byte, string, error) {
	if cfg.Store.Driver == "memory" {
		return randomSecret(), "", nil
	}
	path := filepath.Join(filepath.Dir(cfg.Store.Path), secretFile)
	if b, err := os.ReadFile(path); err == nil {
		secret, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(secret) < 16 {
			return nil, path, fmt.Errorf("node secret %s: not the hex secret partysip writes (remove it to have a new one made)", path)
		}
		return secret, path, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, path, fmt.Errorf("node secret: %w", err)
	}
	secret := randomSecret()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nodeSecret(cfg) // another process made it meanwhile: use theirs
	}
	if err != nil {
		return nil, path, fmt.Errorf("node secret: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(secret) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, path, fmt.Errorf("node secret: %w", err)
	}
	return secret, path, nil
}

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

// nodeSecret returns the secret that signs our Record-Route entries, and where it is kept. It
// lives beside the bindings store (the daemon's state directory), so that dialogs set up before a
// restart are still recognised after it. With the memory store there is no state directory: a
// new random secret per run.
func nodeSecret(cfg *config.Config) ([]byte, string, error) {
	if cfg.Store.Driver == "memory" {
		return randomSecret(), "", nil
	}
	path := filepath.Join(filepath.Dir(cfg.Store.Path), "partysip.secret")
	secret, err := LoadOrCreateSecret(path)
	return secret, path, err
}

// LoadOrCreateSecret reads the 256-bit secret kept (hex) in path, creating the file with a new
// random one, readable by its owner only (0600), when there is none. The node secret and the
// admin API's token are kept this way.
func LoadOrCreateSecret(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		secret, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(secret) < 16 {
			return nil, fmt.Errorf("secret %s: not the hex secret partysip writes (remove it to have a new one made)", path)
		}
		return secret, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("secret: %w", err)
	}
	secret := randomSecret()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadOrCreateSecret(path) // another process made it meanwhile: use theirs
	}
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	_, err = f.WriteString(hex.EncodeToString(secret) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("secret: %w", err)
	}
	return secret, nil
}

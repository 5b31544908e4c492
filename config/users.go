package config

import (
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// User is one entry of the auth plugin's users file: a password, or HA1 values per algorithm
// (H(name:realm:password), for the configured realm) so the file need not hold passwords.
type User struct {
	Name     string
	Password string
	HA1      map[string]string // by algorithm: "MD5", "SHA-256"
}

// LoadUsers reads a users file:
//
//	users:
//	  - name: alice
//	    password: secret
//	  - name: bob
//	    ha1: {MD5: 5f2b..., SHA-256: 9a1c...}
//
// Every problem is reported at once as FILE:LINE: KEY: what is wrong.
func LoadUsers(path string) ([]User, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Errors{List: []error{fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))}}
	}
	var errs Errors
	bad := func(n *yaml.Node, key, format string, args ...any) {
		errs.List = append(errs.List, fmt.Errorf("%s:%d: %s: %s", path, n.Line, key, fmt.Sprintf(format, args...)))
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, &Errors{List: []error{fmt.Errorf("%s: want a mapping with a users list", path)}}
	}
	var list *yaml.Node
	top := root.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if k := top.Content[i]; k.Value == "users" {
			list = top.Content[i+1]
		} else {
			bad(k, k.Value, "unknown key (known: users)")
		}
	}
	if list == nil || list.Kind != yaml.SequenceNode {
		bad(top, "users", "want a list of users")
		return nil, &errs
	}
	var users []User
	seen := map[string]int{}
	for i, item := range list.Content {
		key := fmt.Sprintf("users[%d]", i)
		if item.Kind != yaml.MappingNode {
			bad(item, key, "want a mapping with name and password or ha1")
			continue
		}
		var u User
		for j := 0; j+1 < len(item.Content); j += 2 {
			k, v := item.Content[j], item.Content[j+1]
			switch k.Value {
			case "name":
				u.Name = v.Value
			case "password":
				u.Password = v.Value
			case "ha1":
				if v.Kind != yaml.MappingNode {
					bad(v, key+".ha1", "want a mapping of algorithm to HA1")
					continue
				}
				u.HA1 = map[string]string{}
				for m := 0; m+1 < len(v.Content); m += 2 {
					alg, h := strings.ToUpper(v.Content[m].Value), strings.ToLower(v.Content[m+1].Value)
					want := map[string]int{"MD5": 32, "SHA-256": 64}[alg]
					switch {
					case want == 0:
						bad(v.Content[m], key+".ha1."+v.Content[m].Value, "algorithm must be MD5 or SHA-256")
					case len(h) != want || strings.Trim(h, "0123456789abcdef") != "":
						bad(v.Content[m+1], key+".ha1."+alg, "want %d hex digits", want)
					default:
						u.HA1[alg] = h
					}
				}
			default:
				bad(k, key+"."+k.Value, "unknown key (known: ha1, name, password)")
			}
		}
		switch {
		case u.Name == "" || strings.ContainsAny(u.Name, "@:;<> "):
			bad(item, key+".name", "missing or not a user name: %q", u.Name)
		case u.Password == "" && len(u.HA1) == 0:
			bad(item, key, "needs a password or ha1")
		case seen[u.Name] > 0:
			bad(item, key+".name", "%q already defined at line %d", u.Name, seen[u.Name])
		default:
			seen[u.Name] = item.Line
			users = append(users, u)
		}
	}
	if len(errs.List) > 0 {
		return nil, &errs
	}
	return users, nil
}

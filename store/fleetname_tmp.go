package store

import "fmt"

// checkFleetName: TEMPORARY until nodeid lands on main (then
// nodeid.Identity's rules are used).
func checkFleetName(f string) error {
	if len(f) < 1 || len(f) > 128 || f == "." || f == ".." {
		return fmt.Errorf("fleet %q: must be 1 to 128 characters, not . or ..", f)
	}
	for _, c := range []byte(f) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '~', c == '-':
		default:
			return fmt.Errorf("fleet %q: only A-Z a-z 0-9 . _ ~ - are allowed", f)
		}
	}
	return nil
}

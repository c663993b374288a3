package actors

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// IsControl reports whether r is a control character: C0 (U+0000..U+001F), DEL (U+007F) or C1
// (U+0080..U+009F). C1 is refused with C0: no written language uses it, and terminals that honour
// it read U+009B as CSI, the start of an escape sequence, as ESC [ is in C0.
func IsControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }

// CheckText refuses text people read (a name, a title, a message; shown on screens and terminals
// and written to logs) that is not UTF-8 or holds a control character other than those in keep.
// field names the text in the error.
func CheckText(field, s, keep string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not UTF-8", ErrInvalidArgument, field)
	}
	for i, r := range s {
		if IsControl(r) && !strings.ContainsRune(keep, r) {
			return fmt.Errorf("%w: %s holds control character %U at byte %d", ErrInvalidArgument, field, r, i)
		}
	}
	return nil
}

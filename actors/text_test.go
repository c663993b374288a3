package actors_test

import (
	"errors"
	"testing"

	"github.com/kaquan/kaquan/actors"
)

func TestCheckText(t *testing.T) {
	tests := []struct {
		name, s, keep string
		ok            bool
	}{
		{name: "Plain", s: "Tea House", ok: true},
		{name: "Empty", s: "", ok: true},
		{name: "Unicode", s: "茶馆 Café ☕", ok: true},
		{name: "NoBreakSpace", s: "a\u00a0b", ok: true}, // U+00A0, the first rune past C1
		{name: "NUL", s: "a\x00b"},
		{name: "ESC", s: "\x1b[2J"},
		{name: "Tab", s: "a\tb"},
		{name: "Newline", s: "a\nb"},
		{name: "NewlineKept", s: "a\nb", keep: "\n", ok: true},
		{name: "CarriageReturnNotKept", s: "a\r\nb", keep: "\n"},
		{name: "UnitSeparator", s: "a\x1fb"},
		{name: "Space", s: " ", ok: true},
		{name: "DEL", s: "a\x7fb"},
		{name: "C1First", s: "a\u0080b"},
		{name: "C1CSI", s: "\u009b2J"},
		{name: "C1Last", s: "a\u009fb"},
		{name: "NotUTF8", s: "a\xffb"},
		{name: "RawCSIByte", s: "\x9b2J"}, // not UTF-8: a Latin-1 terminal reads it as CSI
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := actors.CheckText("name", tt.s, tt.keep)
			if got := err == nil; got != tt.ok || (err != nil && !errors.Is(err, actors.ErrInvalidArgument)) {
				t.Errorf("CheckText(%q, keep %q) = %v, want ok %v", tt.s, tt.keep, err, tt.ok)
			}
		})
	}
}

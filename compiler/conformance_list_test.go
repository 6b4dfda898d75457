package compiler

import (
	"errors"
	"strings"
	"testing"
)

// Each kind of line holds its test to one outcome, and says which way a
// result disagrees.
func TestConformanceExpectation(t *testing.T) {
	refused := &conformanceCase{refused: errors.New(`cannot compile node "n" (Div, opset 13): integer division of an encrypted dividend`)}
	deviates := &conformanceCase{mismatch: errMismatch, dev: 0.5}
	exact := &conformanceCase{}
	approx := &conformanceCase{approx: true, dev: 1e-3}
	cases := []struct {
		line string
		c    *conformanceCase
		want string // a substring of the error, "" for agreement
	}{
		{"refuse t he-limit | integer division", refused, ""},
		{"refuse t he-limit | integer division | why", refused, ""},
		{"refuse t he-limit | max is not a polynomial", refused, `expected an error containing "max is not a polynomial"`},
		{"refuse t he-limit | integer division", exact, "listed as refuse (\"integer division\") but compiled and passes"},
		{"refuse t he-limit | integer division", deviates, "but compiled and deviates by 0.5"},
		{"deviates t not-implemented tol=0.6 | why", deviates, ""},
		{"deviates t not-implemented tol=0.4 | why", deviates, "more than the listed tol=0.4"},
		{"deviates t not-implemented tol=9 | why", deviates, "far below the listed tol=9"},
		{"deviates t not-implemented tol=0.6 | why", exact, "listed as deviates (tol=0.6) but compiled and passes"},
		{"deviates t not-implemented tol=0.6 | why", refused, "listed as deviates (tol=0.6) but refused"},
		{"pass t", exact, ""},
		{"pass t", refused, "listed as pass but refused"},
		{"pass t", deviates, "listed as pass but compiled and deviates"},
		{"pass t", approx, "needs tol="},
		{"pass t tol=0.004", approx, ""},
		{"pass t tol=0.0009", approx, "more than the listed tol"},
		{"pass t tol=0.02", approx, "far below the listed tol"},
		{"pass t tol=0.004", exact, "but the circuit is exact"},
		{"pass+encrypted t", &conformanceCase{encrypted: true, encErr: errors.New("rotation")}, "fails encrypted: rotation"},
	}
	for _, tc := range cases {
		_, exp, err := parseListLine(tc.line)
		if err != nil {
			t.Fatalf("%s: %v", tc.line, err)
		}
		err = checkExpectation(tc.c, exp)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.line, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one containing %q", tc.line, err, tc.want)
		}
	}
}

func TestConformanceListSyntax(t *testing.T) {
	for _, line := range []string{
		"skip t  reason",
		"pass t | reason",
		"refuse t | no tag",
		"refuse t maybe | error",
		"refuse t he-limit",
		"refuse t he-limit tol=1 | error",
		"deviates t he-limit | no tolerance",
		"deviates t he-limit tol=-1 | negative",
		"deviates t he-limit tol=0.1",
		"deviates t review tol=0.1 | written by -update-conformance",
		"pass t extra",
	} {
		if _, _, err := parseListLine(line); err == nil {
			t.Errorf("%q parses", line)
		}
	}
}

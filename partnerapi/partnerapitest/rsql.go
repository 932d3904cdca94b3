package partnerapitest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// node is a parsed RSQL expression.
type node interface {
	match(v any) bool
}

type andNode []node
type orNode []node

type cmpNode struct {
	path []string
	op   string
	args []string
}

func (n andNode) match(v any) bool {
	for _, c := range n {
		if !c.match(v) {
			return false
		}
	}
	return true
}

func (n orNode) match(v any) bool {
	for _, c := range n {
		if c.match(v) {
			return true
		}
	}
	return false
}

func (n cmpNode) match(v any) bool {
	leaves := lookup(v, n.path)
	hit := false
	for _, l := range leaves {
		if slices.Contains(n.args, l) {
			hit = true
			break
		}
	}
	switch n.op {
	case "==", "=in=":
		return hit
	default: // "!=", "=out="
		return !hit
	}
}

// lookup returns the leaf values at a dotted path as strings; lists on the
// way are flattened, so "repositories.tags.name" yields every tag name.
func lookup(v any, path []string) []string {
	if len(path) == 0 {
		switch v := v.(type) {
		case nil:
			return []string{"null"}
		case string:
			return []string{v}
		case bool:
			return []string{strconv.FormatBool(v)}
		case float64:
			return []string{strconv.FormatFloat(v, 'f', -1, 64)}
		case []any:
			var out []string
			for _, e := range v {
				out = append(out, lookup(e, nil)...)
			}
			return out
		default:
			return nil
		}
	}
	switch v := v.(type) {
	case map[string]any:
		child, ok := v[path[0]]
		if !ok {
			return nil
		}
		return lookup(child, path[1:])
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, lookup(e, path)...)
		}
		return out
	}
	return nil
}

// errSyntax is returned for filters the fake cannot parse.
var errSyntax = errors.New("invalid RSQL filter")

type parser struct {
	s   string
	pos int
}

// parseRSQL parses the subset of RSQL the fake understands: ==, !=, =in=,
// =out=, ';' (and), ',' (or), parentheses and single or double quoted
// values with backslash escapes.
func parseRSQL(s string) (node, error) {
	p := &parser{s: s}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.s) {
		return nil, fmt.Errorf("%w: unexpected %q at %d", errSyntax, p.s[p.pos:], p.pos)
	}
	return n, nil
}

func (p *parser) peek() byte {
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

func (p *parser) or() (node, error) {
	var parts orNode
	for {
		n, err := p.and()
		if err != nil {
			return nil, err
		}
		parts = append(parts, n)
		if p.peek() != ',' {
			break
		}
		p.pos++
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return parts, nil
}

func (p *parser) and() (node, error) {
	var parts andNode
	for {
		n, err := p.constraint()
		if err != nil {
			return nil, err
		}
		parts = append(parts, n)
		if p.peek() != ';' {
			break
		}
		p.pos++
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return parts, nil
}

func (p *parser) constraint() (node, error) {
	if p.peek() == '(' {
		p.pos++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ')' {
			return nil, fmt.Errorf("%w: missing ) at %d", errSyntax, p.pos)
		}
		p.pos++
		return n, nil
	}
	sel := p.unreserved()
	if sel == "" {
		return nil, fmt.Errorf("%w: expected a field name at %d", errSyntax, p.pos)
	}
	op, err := p.operator()
	if err != nil {
		return nil, err
	}
	var args []string
	if p.peek() == '(' {
		p.pos++
		for {
			a, err := p.value()
			if err != nil {
				return nil, err
			}
			args = append(args, a)
			if p.peek() == ',' {
				p.pos++
				continue
			}
			if p.peek() != ')' {
				return nil, fmt.Errorf("%w: missing ) at %d", errSyntax, p.pos)
			}
			p.pos++
			break
		}
	} else {
		a, err := p.value()
		if err != nil {
			return nil, err
		}
		args = []string{a}
	}
	if (op == "==" || op == "!=") && len(args) != 1 {
		return nil, fmt.Errorf("%w: %s takes one value", errSyntax, op)
	}
	return cmpNode{path: strings.Split(sel, "."), op: op, args: args}, nil
}

func (p *parser) operator() (string, error) {
	rest := p.s[p.pos:]
	for _, op := range []string{"==", "!=", "=in=", "=out="} {
		if strings.HasPrefix(rest, op) {
			p.pos += len(op)
			return op, nil
		}
	}
	return "", fmt.Errorf("%w: unsupported operator at %d", errSyntax, p.pos)
}

func isReserved(c byte) bool {
	return strings.IndexByte("\"'();,=!~<> \t\r\n\f\v\\", c) >= 0 || c < 0x20 || c == 0x7f
}

func (p *parser) unreserved() string {
	start := p.pos
	for p.pos < len(p.s) && !isReserved(p.s[p.pos]) {
		p.pos++
	}
	return p.s[start:p.pos]
}

func (p *parser) value() (string, error) {
	q := p.peek()
	if q != '"' && q != '\'' {
		v := p.unreserved()
		if v == "" {
			return "", fmt.Errorf("%w: expected a value at %d", errSyntax, p.pos)
		}
		return v, nil
	}
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '\\' && p.pos+1 < len(p.s):
			b.WriteByte(p.s[p.pos+1])
			p.pos += 2
		case c == q:
			p.pos++
			return b.String(), nil
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", fmt.Errorf("%w: unterminated quote", errSyntax)
}

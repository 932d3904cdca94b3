package rebuild

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Stage is one FROM instruction of a Containerfile.
type Stage struct {
	// Line is the 1-based line number of the FROM instruction.
	Line int
	// Raw is the image operand as written, e.g. "${BASE}" or "ubi9:latest".
	Raw string
	// Image is Raw with ARG values substituted.
	Image string
	// Name is the stage name given with AS, or "".
	Name string
	// Stage is true when Image names an earlier stage rather than an image.
	Stage bool
}

// Containerfile is the parsed FROM structure of a Containerfile or
// Dockerfile: only what planning and base pinning need.
type Containerfile struct {
	// Args holds the ARG defaults declared before the first FROM, after
	// overrides by the build arguments given to ParseContainerfile.
	Args map[string]string
	// Stages lists the FROM instructions in order.
	Stages []Stage
}

// SyntaxError reports a malformed FROM or ARG instruction.
type SyntaxError struct {
	Line int
	Msg  string
}

// Error returns the line and the problem.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("rebuild: containerfile line %d: %s", e.Line, e.Msg)
}

// ParseContainerfile reads the FROM and global ARG instructions of data.
// It understands comments, line continuations, parser directives,
// --platform flags, AS names, stage references and $VAR, ${VAR},
// ${VAR:-default} and ${VAR:+alt} substitution from ARG defaults
// overridden by buildArgs.
func ParseContainerfile(data []byte, buildArgs map[string]string) (*Containerfile, error) {
	cf := &Containerfile{Args: map[string]string{}}
	stages := map[string]bool{}
	for ins := range instructions(data) {
		fields := strings.Fields(ins.text)
		if len(fields) == 0 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "ARG":
			if len(cf.Stages) > 0 {
				continue // stage-local ARGs do not affect FROM lines
			}
			if len(fields) < 2 {
				return nil, &SyntaxError{Line: ins.line, Msg: "ARG without a name"}
			}
			for _, f := range fields[1:] {
				k, v, hasDefault := strings.Cut(f, "=")
				if k == "" {
					return nil, &SyntaxError{Line: ins.line, Msg: "ARG without a name"}
				}
				if ov, ok := buildArgs[k]; ok {
					cf.Args[k] = ov
				} else if hasDefault {
					cf.Args[k] = expand(strings.Trim(v, `"'`), cf.Args)
				} else if _, ok := cf.Args[k]; !ok {
					cf.Args[k] = ""
				}
			}
		case "FROM":
			args := fields[1:]
			for len(args) > 0 && strings.HasPrefix(args[0], "--") {
				args = args[1:]
			}
			if len(args) == 0 {
				return nil, &SyntaxError{Line: ins.line, Msg: "FROM without an image"}
			}
			st := Stage{Line: ins.line, Raw: args[0]}
			st.Image = expand(st.Raw, cf.Args)
			switch {
			case len(args) == 3 && strings.EqualFold(args[1], "AS"):
				st.Name = strings.ToLower(args[2])
			case len(args) != 1:
				return nil, &SyntaxError{Line: ins.line, Msg: "FROM takes an image and an optional AS name"}
			}
			if st.Image == "" {
				return nil, &SyntaxError{Line: ins.line, Msg: fmt.Sprintf("FROM %s expands to nothing", st.Raw)}
			}
			st.Stage = stages[strings.ToLower(st.Image)]
			if st.Name != "" {
				stages[st.Name] = true
			}
			cf.Stages = append(cf.Stages, st)
		}
	}
	if len(cf.Stages) == 0 {
		return nil, &SyntaxError{Line: 0, Msg: "no FROM instruction"}
	}
	return cf, nil
}

// Bases returns the distinct images the Containerfile builds on, in order
// of appearance, leaving out stage references and "scratch".
func (c *Containerfile) Bases() []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range c.Stages {
		if s.Stage || strings.EqualFold(s.Image, "scratch") || seen[s.Image] {
			continue
		}
		seen[s.Image] = true
		out = append(out, s.Image)
	}
	return out
}

// Final returns the image the last stage builds on: the base of the
// resulting image, or a stage name when it is a stage reference.
func (c *Containerfile) Final() Stage { return c.Stages[len(c.Stages)-1] }

// Pin rewrites data so that every FROM whose image lives in a repository
// of pins (repository -> pinned reference such as "reg/ns/base@sha256:…")
// uses the pinned reference instead. A FROM written as a lone $VAR or
// ${VAR} is left as is and VAR is returned in buildArgs instead, so the
// Containerfile's own ARG logic keeps working. Other lines are untouched.
func Pin(data []byte, args map[string]string, pins map[string]string) (out []byte, buildArgs map[string]string, err error) {
	cf, err := ParseContainerfile(data, args)
	if err != nil {
		return nil, nil, err
	}
	buildArgs = map[string]string{}
	rewrite := map[int][2]string{} // line -> old, new operand
	for _, st := range cf.Stages {
		if st.Stage {
			continue
		}
		pinned, ok := pins[Repository(st.Image)]
		if !ok {
			continue
		}
		if m := loneVar.FindStringSubmatch(st.Raw); m != nil {
			v := m[1]
			if v == "" {
				v = m[2]
			}
			buildArgs[v] = pinned
			continue
		}
		rewrite[st.Line] = [2]string{st.Raw, pinned}
	}
	if len(rewrite) == 0 {
		return data, buildArgs, nil
	}
	var buf bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	var pending [][2]string // operands still to replace (continuation lines)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if r, ok := rewrite[n]; ok {
			pending = append(pending, r)
		}
		if len(pending) > 0 && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			if l, ok := replaceOperand(line, pending[0][0], pending[0][1]); ok {
				line, pending = l, pending[1:]
			}
		}
		buf.WriteString(line)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), buildArgs, sc.Err()
}

// replaceOperand replaces the first whitespace-delimited field equal to old.
func replaceOperand(line, old, repl string) (string, bool) {
	idx := 0
	for {
		i := strings.Index(line[idx:], old)
		if i < 0 {
			return line, false
		}
		i += idx
		end := i + len(old)
		before := i == 0 || line[i-1] == ' ' || line[i-1] == '\t'
		after := end == len(line) || line[end] == ' ' || line[end] == '\t' || line[end] == '\\'
		if before && after {
			return line[:i] + repl + line[end:], true
		}
		idx = end
	}
}

// Repository returns the repository of an image reference, normalised the
// way registries see it ("ubi9" -> "index.docker.io/library/ubi9"), or ref
// itself when it does not parse.
func Repository(ref string) string {
	r, err := name.ParseReference(ref)
	if err != nil {
		return ref
	}
	return r.Context().Name()
}

var (
	loneVar = regexp.MustCompile(`^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$`)
)

// expand substitutes $VAR, ${VAR}, ${VAR:-word} and ${VAR:+word} (word
// may itself hold substitutions) from args. Unknown forms are kept.
func expand(s string, args map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		if s[i+1] != '{' {
			j := i + 1
			for j < len(s) && isNameByte(s[j], j == i+1) {
				j++
			}
			if j == i+1 {
				b.WriteByte(c)
				i++
				continue
			}
			b.WriteString(args[s[i+1:j]])
			i = j
			continue
		}
		// ${...}: find the matching brace.
		depth, end := 0, -1
		for j := i + 1; j < len(s); j++ {
			if s[j] == '{' {
				depth++
			} else if s[j] == '}' {
				if depth--; depth == 0 {
					end = j
					break
				}
			}
		}
		if end < 0 {
			b.WriteString(s[i:])
			break
		}
		b.WriteString(expandBraced(s[i+2:end], args))
		i = end + 1
	}
	return b.String()
}

func expandBraced(inner string, args map[string]string) string {
	n := 0
	for n < len(inner) && isNameByte(inner[n], n == 0) {
		n++
	}
	name, rest := inner[:n], inner[n:]
	v, set := args[name]
	switch {
	case rest == "":
		return v
	case strings.HasPrefix(rest, ":-"):
		if !set || v == "" {
			return expand(rest[2:], args)
		}
		return v
	case strings.HasPrefix(rest, ":+"):
		if set && v != "" {
			return expand(rest[2:], args)
		}
		return ""
	}
	return v
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9')
}

type instruction struct {
	line int
	text string
}

// instructions yields the logical instructions of a Containerfile, joining
// continuation lines and dropping comments and blank lines.
func instructions(data []byte) func(func(instruction) bool) {
	return func(yield func(instruction) bool) {
		var cur strings.Builder
		start := 0
		for i, raw := range strings.Split(string(data), "\n") {
			line := strings.TrimRight(raw, "\r")
			trimmed := strings.TrimSpace(line)
			if strings.HasPrefix(trimmed, "#") {
				continue
			}
			if cur.Len() == 0 {
				if trimmed == "" {
					continue
				}
				start = i + 1
			}
			if strings.HasSuffix(trimmed, "\\") {
				cur.WriteString(strings.TrimSuffix(trimmed, "\\"))
				cur.WriteByte(' ')
				continue
			}
			cur.WriteString(trimmed)
			if !yield(instruction{line: start, text: cur.String()}) {
				return
			}
			cur.Reset()
		}
		if cur.Len() > 0 {
			yield(instruction{line: start, text: cur.String()})
		}
	}
}

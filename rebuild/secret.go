package rebuild

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/openabs/abs/secret"
)

// redacted is what a Secret prints instead of its value.
const redacted = secret.Placeholder

// Secret holds a credential (an access token, an SSH private key, a key
// passphrase). It is secret.Value: printing it in any way (fmt verbs,
// String, slog, JSON) yields a placeholder; only Reveal returns the value.
// The zero Secret is empty.
type Secret = secret.Value

// scrub replaces every occurrence of the non-empty secrets (and of each of
// their lines longer than 8 bytes, so that a quoted fragment of a PEM key is
// caught too) in msg with the placeholder.
func scrub(msg string, secrets ...Secret) string {
	for _, s := range secrets {
		v := s.Reveal()
		if v == "" {
			continue
		}
		msg = strings.ReplaceAll(msg, v, redacted)
		for line := range strings.Lines(v) {
			line = strings.TrimSpace(line)
			if len(line) > 8 {
				msg = strings.ReplaceAll(msg, line, redacted)
			}
		}
	}
	return msg
}

// scrubError returns err unchanged when its message holds none of the
// secrets, and otherwise a new error with the secrets replaced by the
// placeholder. The replacement does not unwrap to err: the original chain
// would still print the secret. It still matches the package's sentinel
// errors that err matched.
func scrubError(err error, secrets ...Secret) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	return redactError(err, scrub(msg, secrets...))
}

// redactError returns err when clean is its message, and otherwise an
// error printing clean that matches the sentinels err matched but does not
// unwrap to err.
func redactError(err error, clean string) error {
	if clean == err.Error() {
		return err
	}
	r := &redactedError{msg: clean}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			r.is = append(r.is, s)
		}
	}
	return r
}

// sentinels are the errors a redacted error keeps matching.
var sentinels = []error{ErrHostKeyMismatch, ErrHostKeyUnknown, ErrAuth, ErrRevisionNotFound, ErrInvalidSource}

type redactedError struct {
	msg string
	is  []error
}

func (e *redactedError) Error() string { return e.msg }

func (e *redactedError) Is(target error) bool {
	for _, s := range e.is {
		if s == target {
			return true
		}
	}
	return false
}

// ErrSecretID is wrapped when a build secret's id cannot be passed to a
// build tool.
var ErrSecretID = errors.New("rebuild: invalid build secret id")

var secretIDRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// writeSecretFiles writes each build secret to its own file (mode 0600)
// in a private directory under work and returns buildah's --secret
// arguments (which name the files, never the values) and the function
// that removes the files.
func writeSecretFiles(work string, secrets map[string]Secret) ([]string, func(), error) {
	if len(secrets) == 0 {
		return nil, func() {}, nil
	}
	dir, err := os.MkdirTemp(work, "secrets-")
	if err != nil {
		return nil, nil, err
	}
	remove := func() { _ = os.RemoveAll(dir) }
	var args []string
	for i, id := range slices.Sorted(maps.Keys(secrets)) {
		if !secretIDRe.MatchString(id) {
			remove()
			return nil, nil, fmt.Errorf("%w: %q", ErrSecretID, id)
		}
		p := filepath.Join(dir, fmt.Sprintf("s%d", i))
		if err := os.WriteFile(p, []byte(secrets[id].Reveal()), 0o600); err != nil {
			remove()
			return nil, nil, err
		}
		args = append(args, "--secret", "id="+id+",src="+p)
	}
	return args, remove, nil
}

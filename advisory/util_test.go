package advisory

import (
	"strconv"
	"strings"
)

func cut(s, sep string) (string, string, bool) { return strings.Cut(s, sep) }

func cutLast(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

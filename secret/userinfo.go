package secret

import "regexp"

var userinfoRE = regexp.MustCompile(`://[^/?#@\s]*@`)

// HideUserinfo replaces the user information of every URL in s (a source
// name, an error message) with Placeholder, so that credentials written
// into a URL ("https://user:pass@host/…") reach neither logs, errors nor
// stored state.
func HideUserinfo(s string) string {
	return userinfoRE.ReplaceAllString(s, "://"+Placeholder+"@")
}

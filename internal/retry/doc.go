// Package retry is the one retry loop of openabs's HTTP clients
// (advisory, notify, partnerapi, publish): exponential backoff bounded by
// a longest wait, the server's Retry-After honoured (parsed here only),
// and every wait cut short by the context.
//
// A package keeps its own notion of what is worth retrying: its attempt
// function marks such an error with [Again], and [Policy.Do] tries again;
// any other error ends the loop at once.
package retry

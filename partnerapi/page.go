package partnerapi

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// DefaultPageSize is the page size the client asks for when ListOptions
// leaves it at zero.
const DefaultPageSize = 100

// Page is one page of a list answer.
type Page[T any] struct {
	Data     []T `json:"data"`
	Page     int `json:"page"`
	PageSize int `json:"page_size"`
	Total    int `json:"total"`
}

// Order is the direction of a sort field.
type Order string

// Sort orders.
const (
	Asc  Order = "asc"
	Desc Order = "desc"
)

// Sort orders a list by one field.
type Sort struct {
	Field string
	Order Order
}

// String renders s as the catalog expects it: field[asc] or field[desc].
func (s Sort) String() string {
	o := s.Order
	if o == "" {
		o = Asc
	}
	return s.Field + "[" + string(o) + "]"
}

// ListOptions narrows and shapes a list call. The zero value lists
// everything in pages of DefaultPageSize.
type ListOptions struct {
	// Filter selects objects; see Eq, In, And.
	Filter Filter
	// PageSize is the number of objects fetched per request.
	PageSize int
	// Include lists the only fields to return, as dotted paths from the
	// answer's root (for example "data._id", "data.freshness_grades").
	Include []string
	// Exclude lists fields to leave out of the answer, as dotted paths.
	Exclude []string
	// SortBy orders the objects.
	SortBy []Sort
}

func (o *ListOptions) query(page int) (url.Values, error) {
	q := url.Values{}
	size := DefaultPageSize
	if o != nil {
		if err := o.Filter.Err(); err != nil {
			return nil, err
		}
		if f := o.Filter.String(); f != "" {
			q.Set("filter", f)
		}
		if o.PageSize > 0 {
			size = o.PageSize
		}
		for _, f := range o.Include {
			q.Add("include", f)
		}
		for _, f := range o.Exclude {
			q.Add("exclude", f)
		}
		if len(o.SortBy) > 0 {
			parts := make([]string, len(o.SortBy))
			for i, s := range o.SortBy {
				if s.Order != "" && s.Order != Asc && s.Order != Desc {
					return nil, fmt.Errorf("partnerapi: sort order %q is neither asc nor desc", s.Order)
				}
				parts[i] = s.String()
			}
			q.Set("sort_by", strings.Join(parts, ","))
		}
	}
	q.Set("page_size", strconv.Itoa(size))
	q.Set("page", strconv.Itoa(page))
	return q, nil
}

// list returns an iterator over every object of a paginated endpoint. It
// fetches page 0 when iteration starts and each following page only when
// the previous one is used up. Iteration stops after the first error,
// which is yielded with the zero T; when ctx ends, that error wraps ctx's
// error, even in the middle of a page.
func list[T any](ctx context.Context, c *Client, u *url.URL, opts *ListOptions) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		seen := 0
		for page := 0; ; page++ {
			q, err := opts.query(page)
			if err != nil {
				yield(zero, err)
				return
			}
			pu := *u
			pu.RawQuery = q.Encode()
			var p Page[T]
			if err := c.do(ctx, http.MethodGet, &pu, nil, &p); err != nil {
				yield(zero, err)
				return
			}
			for _, item := range p.Data {
				if err := ctx.Err(); err != nil {
					// The caller gave up: do not hand out the rest of
					// a page fetched before.
					yield(zero, fmt.Errorf("partnerapi: list %s: %w", u.Path, err))
					return
				}
				if !yield(item, nil) {
					return
				}
			}
			seen += len(p.Data)
			if len(p.Data) == 0 || seen >= p.Total {
				return
			}
		}
	}
}

// Collect gathers every object of seq, stopping at the first error.
func Collect[T any](seq iter.Seq2[T, error]) ([]T, error) {
	var out []T
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

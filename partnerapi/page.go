package partnerapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
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
			var p Page[json.RawMessage]
			if err := c.do(ctx, http.MethodGet, &pu, nil, &p); err != nil {
				yield(zero, err)
				return
			}
			for i, raw := range p.Data {
				item, odd, err := decodeItem[T](raw)
				if err != nil {
					yield(zero, fmt.Errorf("partnerapi: list %s: page %d item %d: %w", u.Path, page, i, err))
					return
				}
				c.reportOdd(ctx, u.Path, page, i, item, odd)
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

// decodeItem decodes one object of a page. A field whose JSON type is not
// the one expected (a number where a string belongs, say) is left at its
// zero value rather than losing the object, as encoding/json does when it
// reports an *json.UnmarshalTypeError, which odd returns; dates never fail
// (see Time).
func decodeItem[T any](raw json.RawMessage) (item T, odd *json.UnmarshalTypeError, err error) {
	err = json.Unmarshal(raw, &item)
	if err != nil && !errors.As(err, &odd) {
		return item, nil, err
	}
	return item, odd, nil
}

// reportOdd logs, at warning level, the fields of an object that were kept
// as sent (dates no form reads) or left out (values of the wrong type).
func (c *Client) reportOdd(ctx context.Context, path string, page, i int, item any, odd *json.UnmarshalTypeError) {
	for _, f := range OddFields(item) {
		c.log.LogAttrs(ctx, slog.LevelWarn, "partnerapi: unreadable date kept as sent",
			slog.String("path", path), slog.Int("page", page), slog.Int("item", i),
			slog.String("field", f.Path), slog.String("value", f.Raw))
	}
	if odd != nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "partnerapi: field of unexpected type left out",
			slog.String("path", path), slog.Int("page", page), slog.Int("item", i),
			slog.String("field", odd.Field), slog.String("json_type", odd.Value))
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

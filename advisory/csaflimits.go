package advisory

import (
	"encoding/json"
	"errors"
	"fmt"
)

// DefaultMaxProducts is how many products one CSAF document may define by
// default ([WithMaxProducts]), 2^20. Red Hat's largest documents define
// some tens of thousands; a document of a million products parses and is
// indexed in under 2 GiB.
const DefaultMaxProducts = 1 << 20

// maxBranchDepth bounds the nesting of a CSAF product tree's branches. Red
// Hat's documents nest them four or five deep (vendor, product family,
// product or version, architecture); CSAF itself sets no bound.
const maxBranchDepth = 32

// ErrTooManyProducts is matched (errors.Is) by the error for a CSAF
// document that defines more products, or lists more product ids in its
// vulnerabilities, than WithMaxProducts allows, or whose branches nest
// deeper than 32 levels. It matches ErrTooLarge, and the error is a
// *ParseError.
var ErrTooManyProducts error = tooManyProducts{}

type tooManyProducts struct{}

func (tooManyProducts) Error() string { return "too many products" }
func (tooManyProducts) Unwrap() error { return ErrTooLarge }

// WithMaxProducts bounds the products one CSAF document may define
// (default [DefaultMaxProducts]): the nodes of its product tree, that is
// its branches, full_product_names and relationships together. The product ids
// its vulnerabilities list (product_status, remediations, threats) are
// bounded to four times as many. The nodes of each level are counted
// before they are decoded, so a document over the bound fails early, with
// an error matching [ErrTooManyProducts], in memory proportional to the
// bound.
// It applies to ParseCSAF, Parse and to every source reading CSAF
// documents (CSAF, Dir).
func WithMaxProducts(n int) Option {
	return func(cfg *config) { cfg.maxProducts = max(0, n) }
}

func (cfg *config) products() int {
	if cfg.maxProducts > 0 {
		return cfg.maxProducts
	}
	return DefaultMaxProducts
}

// counter counts the products and product ids of one document as it is
// decoded.
type counter struct {
	products, ids       int
	maxProducts, maxIDs int
}

func newCounter(maxProducts int) *counter {
	return &counter{maxProducts: maxProducts, maxIDs: 4 * maxProducts}
}

// add counts n product-tree nodes.
func (c *counter) add(n int) error {
	c.products += n
	if c.products > c.maxProducts {
		return fmt.Errorf("%w (more than %d defined)", ErrTooManyProducts, c.maxProducts)
	}
	return nil
}

func (c *counter) addIDs(n int) error {
	c.ids += n
	if c.ids > c.maxIDs {
		return fmt.Errorf("%w (more than %d product ids listed)", ErrTooManyProducts, c.maxIDs)
	}
	return nil
}

var errNotArray = errors.New("not an array")

// eachElement calls f with each element of the JSON array raw, in order,
// without copying them. raw has been validated by json.Unmarshal; "null"
// is an empty array.
func eachElement(raw []byte, f func(elem []byte) error) error {
	i := skipSpace(raw, 0)
	if i < len(raw) && raw[i] == 'n' {
		return nil // null
	}
	if i >= len(raw) || raw[i] != '[' {
		return errNotArray
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return nil
	}
	for i < len(raw) {
		end := skipValue(raw, i)
		if end <= i || end > len(raw) {
			return errNotArray
		}
		if err := f(raw[i:end]); err != nil {
			return err
		}
		i = skipSpace(raw, end)
		if i >= len(raw) {
			break
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case ']':
			return nil
		default:
			return errNotArray
		}
	}
	return errNotArray
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			i++
			for i < len(b) && b[i] != '"' {
				if b[i] == '\\' {
					i++
				}
				i++
			}
			i++
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // the end of a scalar
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\n', '\r', ':':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return i
}

// branchList is a product tree's branches, decoded one level at a time:
// the branches of a level are counted before they are decoded, and their
// nesting is bounded.
type branchList struct {
	items []csafBranch
	c     *counter
	depth int
	raw   []byte // a nested level, until its parent decodes it
}

// UnmarshalJSON decodes the branches, counting them. A nested level only
// keeps its bytes (a part of the document, not a copy) for its parent to
// decode once counted.
func (l *branchList) UnmarshalJSON(raw []byte) error {
	if l.c == nil {
		l.raw = raw
		return nil
	}
	return l.decode(raw)
}

func (l *branchList) decode(raw []byte) error {
	n, err := countElements(raw)
	if err != nil || n == 0 {
		return err
	}
	if l.depth >= maxBranchDepth {
		return fmt.Errorf("%w (branches nested deeper than %d)", ErrTooManyProducts, maxBranchDepth)
	}
	if err := l.c.add(n); err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &l.items); err != nil {
		return err
	}
	for i := range l.items {
		sub := &l.items[i].Branches
		nested := sub.raw
		sub.raw, sub.c, sub.depth = nil, l.c, l.depth+1
		if nested != nil {
			if err := sub.decode(nested); err != nil {
				return err
			}
		}
	}
	return nil
}

func countElements(raw []byte) (int, error) {
	n := 0
	err := eachElement(raw, func([]byte) error { n++; return nil })
	return n, err
}

// productList is a product tree's full_product_names.
type productList struct {
	items []csafProduct
	c     *counter
}

// UnmarshalJSON counts the products, then decodes them.
func (l *productList) UnmarshalJSON(raw []byte) error {
	n, err := countElements(raw)
	if err != nil || n == 0 {
		return err
	}
	if err := l.c.add(n); err != nil {
		return err
	}
	return json.Unmarshal(raw, &l.items)
}

// relationList is a product tree's relationships; each defines a product.
type relationList struct {
	items []csafRelationship
	c     *counter
}

// UnmarshalJSON counts the relationships, then decodes them.
func (l *relationList) UnmarshalJSON(raw []byte) error {
	n, err := countElements(raw)
	if err != nil || n == 0 {
		return err
	}
	if err := l.c.add(n); err != nil {
		return err
	}
	return json.Unmarshal(raw, &l.items)
}

// vulnList is a document's vulnerabilities; the product ids of each are
// counted once it is decoded.
type vulnList struct {
	items []csafVuln
	c     *counter
}

// UnmarshalJSON decodes the vulnerabilities, counting the ids they list.
func (l *vulnList) UnmarshalJSON(raw []byte) error {
	return eachElement(raw, func(elem []byte) error {
		var v csafVuln
		if err := json.Unmarshal(elem, &v); err != nil {
			return err
		}
		n := 0
		for _, ids := range v.ProductStatus {
			n += len(ids)
		}
		for _, r := range v.Remediations {
			n += len(r.ProductIDs)
		}
		for _, t := range v.Threats {
			n += len(t.ProductIDs)
		}
		if err := l.c.addIDs(n); err != nil {
			return err
		}
		l.items = append(l.items, v)
		return nil
	})
}

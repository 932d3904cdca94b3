package partnerapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Time is a catalog timestamp. The catalog writes several forms: RFC 3339
// with or without a fraction ("2025-01-02T03:04:05.123456+00:00",
// "2024-01-30T12:00:00Z"), the compact ISO 8601 form of older records
// ("20160927T11:50:00.000+0000"), times without an offset (read as UTC) and
// bare dates ("2016-09-27", "20160927"). Time reads them all. A value no form
// reads never fails the decoding of its object or page: Time stays zero and
// Raw keeps the text as sent, so that [OddFields] and the client's log can
// report it.
//
// Time embeds [time.Time], so t.Before, t.IsZero (see below) and t.Format
// work as usual; write Time{Time: t} to build one.
type Time struct {
	time.Time
	// Raw is the text the catalog sent when no known form reads it; empty
	// otherwise.
	Raw string
}

// timeLayouts are the forms the catalog uses, most common first.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700", // +0000 without colon
	"20060102T15:04:05.999999999Z0700",   // compact date, "20160927T11:50:00.000+0000"
	"20060102T15:04:05.999999999Z07:00",
	"20060102T150405.999999999Z0700", // fully compact ISO 8601
	"20060102T150405.999999999Z07:00",
	"2006-01-02T15:04:05.999999999", // no offset: UTC
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
	"20060102",
}

// ParseTime reads a catalog timestamp in any of the forms Time accepts.
func ParseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// IsZero reports whether t holds neither a time nor an unread text.
func (t Time) IsZero() bool { return t.Time.IsZero() && t.Raw == "" }

// String returns the time in RFC 3339, or the raw text when it was not
// read.
func (t Time) String() string {
	if t.Time.IsZero() && t.Raw != "" {
		return t.Raw
	}
	return t.Time.Format(time.RFC3339Nano)
}

// UnmarshalJSON reads a string in any form Time accepts, or null. It fails
// only on a JSON value that is not a string or null; an unreadable string
// is kept in Raw.
func (t *Time) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*t = Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		// A number or object where a date belongs: keep it as sent.
		*t = Time{Raw: string(b)}
		return nil
	}
	if v, ok := ParseTime(s); ok {
		*t = Time{Time: v}
		return nil
	}
	*t = Time{Raw: s}
	if s == "" {
		t.Raw = ""
	}
	return nil
}

// MarshalJSON writes RFC 3339 (with the fraction when there is one), the
// raw text when it was not read, or null for the zero Time.
func (t Time) MarshalJSON() ([]byte, error) {
	switch {
	case !t.Time.IsZero():
		return json.Marshal(t.Time.UTC().Format(time.RFC3339Nano))
	case t.Raw != "":
		return json.Marshal(t.Raw)
	}
	return []byte("null"), nil
}

// OddField is a value the catalog sent that the client kept as text because
// it could not read it.
type OddField struct {
	// Path names the field from the object's root, e.g.
	// "freshness_grades[1].start_date".
	Path string
	// Raw is the value as sent.
	Raw string
}

var timeType = reflect.TypeFor[Time]()

// OddFields lists the timestamps of v (an object of this package, a
// pointer to one, or a slice of them) that kept their raw text because no
// known form reads them.
func OddFields(v any) []OddField {
	var out []OddField
	oddWalk(reflect.ValueOf(v), "", &out, 0)
	return out
}

func oddWalk(v reflect.Value, path string, out *[]OddField, depth int) {
	if depth > 32 || !v.IsValid() {
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			oddWalk(v.Elem(), path, out, depth+1)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			oddWalk(v.Index(i), path+"["+strconv.Itoa(i)+"]", out, depth+1)
		}
	case reflect.Struct:
		if v.Type() == timeType {
			if t := v.Interface().(Time); t.Time.IsZero() && t.Raw != "" {
				*out = append(*out, OddField{Path: path, Raw: t.Raw})
			}
			return
		}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			oddWalk(v.Field(i), p, out, depth+1)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			oddWalk(iter.Value(), path+"."+iter.Key().String(), out, depth+1)
		}
	}
}
